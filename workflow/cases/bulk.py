"""The engine's set-based half (the daily sweep): system transitions and openings of many cases
at once, each writing exactly the rows its one-case counterpart in `workflow.cases.engine`
(`fire_system`, `create_case_system`) writes. Nothing here commits.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from models import Case, CaseHistory, LadderPolicy, School, Student
from models.cases import OPEN_STUDENT_CASE
from workflow import clock
from workflow.access.scope import is_current_ladder_policy
from workflow.cases import effects
from workflow.cases.definitions import SYSTEM_ROLE, T
from workflow.cases.engine import comment_data
from workflow.errors import N_, Conflict, Invalid, Msg, NotFound
from workflow.processes import get_process
from workflow.validation import check_data, jsonable

# --- set-based system transitions (the daily sweep) ----------------------------------------------
# One statement pair for many cases instead of two flushes per case. It writes exactly what
# `fire_system` would have written, firing after firing, so the engine stays the one place that
# defines a transition's rows; transitions that need more than a state move (checks, effects,
# merged data, a `when` condition) are refused here and go through `fire_system`.


@dataclass
class SystemFire:
    """System transitions of one case, in order, as read by the caller (`state`, `version`).

    `steps`: (transition, effective_date, comment). `columns`: plain columns (e.g. `due_on`,
    `is_overdue`, `data`) written in the same statement; they count as the separate write the
    caller would otherwise make after the transitions (one more version)."""

    case_id: int
    process: str
    state: str
    version: int
    steps: list[tuple[str, dt.date, str | None]] = field(default_factory=list)
    columns: dict = field(default_factory=dict)


def plan_system_fire(fire: SystemFire) -> tuple[str, list[tuple[T, str, str]]]:
    """The state `fire.steps` lead to and each step's (transition, from, to), checked as
    `fire_system` checks them. Raises NotFound (unknown transition), Conflict `invalid_state`,
    ValueError (a transition the set-based path cannot write: use `fire_system`)."""
    proc = get_process(fire.process)
    if proc is None:
        raise NotFound(N_("流程 %(process)s 未定义"), code="unknown_process", process=fire.process)
    state, out = fire.state, []
    for name, _day, _comment in fire.steps:
        candidates = proc.named(name)
        if not candidates:
            raise NotFound(N_("流程 %(process)s 没有名为 %(action)s 的操作"), code="unknown_transition",
                           process=proc.name, action=name)
        t = proc.applicable(name, SimpleNamespace(state=state))
        if t is None:
            raise Conflict(N_("案件当前状态（%(state)s）不能执行 %(action)s"), code="invalid_state",
                           state=state, action=name)
        if candidates[0].checks or t.effects or t.merge_keys or t.when is not None:
            raise ValueError(f"{proc.name}.{name} 须逐件执行（fire_system）")
        out.append((t, state, t.dest))
        state = t.dest
    return state, out


def fire_system_many(session: Session, fires: list[SystemFire]) -> set[int]:
    """Fire system transitions (and the plain column writes that follow them) on many cases at
    once: per case the same end state, `is_open`, version (one per firing, one for `columns`),
    `updated_at` and history rows (role `system`, no user, empty data) as `fire_system` one step
    at a time followed by an ORM write of `columns`.

    Version-checked: a case whose version is no longer `fire.version` is left alone (no history
    row) — another writer got there first. Returns the ids written. Raises as
    `plan_system_fire` before writing anything. Flushes the session first; never commits. Case
    objects of the session whose rows were written are expired (re-read on next access)."""
    if not fires:
        return set()
    session.flush()
    planned = [(f, *plan_system_fire(f)) for f in fires]
    now = clock.now()
    table = Case.__table__
    groups: dict[tuple, list[dict]] = {}
    for f, state, steps in planned:
        values = dict(f.columns)
        if steps:
            values.update(state=state, is_open=not get_process(f.process).is_final(state))
        values["updated_at"] = now
        bump = len(steps) + (1 if f.columns else 0)
        row = {"b_id": f.case_id, "b_version": f.version, "b_new_version": f.version + bump,
               **{f"v_{k}": v for k, v in values.items()}}
        groups.setdefault(tuple(sorted(values)), []).append(row)
    written = _write_versioned(session, table, groups, now)
    history = [{"case_id": f.case_id, "transition": t.name, "from_state": src, "to_state": dst,
                "user_id": None, "role": SYSTEM_ROLE, "at": now, "effective_date": day,
                "comment": None if comment is None else str(comment), "data": comment_data(comment)}
               for f, _state, steps in planned if f.case_id in written
               for (t, src, dst), (_name, day, comment) in zip(steps, f.steps, strict=True)]
    if history:
        session.execute(insert(CaseHistory), history)
    for key in list(session.identity_map.keys()):
        if key[0] is Case and key[1][0] in written:
            obj = session.identity_map.get(key)
            if obj is not None:
                session.expire(obj)
    return written


def _write_versioned(session: Session, table, groups: dict[tuple, list[dict]], now: dt.datetime) -> set[int]:
    """UPDATE ... WHERE id AND version, one executemany per column set. When fewer rows match
    than were sent (a concurrent writer got to some first), the rows this call wrote are the ones
    now carrying its new version and its `updated_at` (our write holds their row locks until the
    transaction ends, so nobody can have moved them since; the timestamp tells our write from
    another one that happened to reach the same version number)."""
    written: set[int] = set()
    conn = session.connection()
    for keys, rows in groups.items():
        stmt = (update(table).where(table.c.id == bindparam("b_id"), table.c.version == bindparam("b_version"))
                .values(version=bindparam("b_new_version"), **{k: bindparam(f"v_{k}") for k in keys}))
        if conn.execute(stmt, rows if len(rows) > 1 else rows[0]).rowcount == len(rows):
            written.update(r["b_id"] for r in rows)
            continue
        expected = {r["b_id"]: r["b_new_version"] for r in rows}
        for ids in (sorted(expected)[i:i + 5000] for i in range(0, len(expected), 5000)):
            for case_id, version, at in conn.execute(select(table.c.id, table.c.version, table.c.updated_at)
                                                     .where(table.c.id.in_(ids))):
                if version == expected[case_id] and at == now:
                    written.add(case_id)
    return written


# --- set-based system openings (the daily sweep) -------------------------------------------------
# The cases `create_case_system` would open one by one (a student read, an open-case check, the
# create effects, the case and its history row in two flushes each), opened with a fixed number
# of statements: the students, their open cases, the centers' current ladders, one INSERT of cases
# and one of history rows. Only create effects listed in `_BULK_CREATE_EFFECTS` can be applied
# this way; a process with any other create effect is refused (use `create_case_system`).


@dataclass
class SystemOpen:
    """One case to open as the system: the student, the create data, the opening day."""

    student_id: int
    data: dict
    effective_date: dt.date
    parent_case_id: int | None = None


@dataclass
class SystemOpened:
    """A case `create_cases_system` opened, as written (the columns the sweep goes on with)."""

    id: int
    student_id: int
    school_id: int
    state: str
    version: int
    opened_on: dt.date
    ladder_policy_id: int | None
    data: dict


def _bulk_pin_ladder_policy(session: Session, rows: list[dict], center_of: dict[int, int | None]) -> None:
    """`effects.pin_ladder_policy` for many new case rows: each school's center's current ladder
    (None when the center has none saved: the built-in default)."""
    centers = sorted({c for c in center_of.values() if c is not None})
    current = dict(session.execute(select(LadderPolicy.center_school_id, LadderPolicy.id).where(
        LadderPolicy.center_school_id.in_(centers), is_current_ladder_policy())).all()) if centers else {}
    for row in rows:
        row["ladder_policy_id"] = current.get(center_of.get(row["school_id"]))


# the create effects the set-based openings can apply, each with its set-based form
_BULK_CREATE_EFFECTS = {effects.pin_ladder_policy: _bulk_pin_ladder_policy}


def create_cases_system(session: Session, process: str, opens: list[SystemOpen], *,
                        existing_ok: bool = False) -> list[SystemOpened | None]:
    """Open many cases of `process` as the system at once: per case the same checks (process
    known, data, student with a school, no open case of the process — one child, one case) and
    the same rows (the case in the initial state, version 1, its create effects' columns, the
    `create` history row with role `system`) as `create_case_system` called for each in turn.

    Raises Invalid (unknown process, malformed data), NotFound (a student missing or without a
    school), Conflict `duplicate` (an open case exists, or two openings name the same student;
    with `existing_ok` those entries are None instead), ValueError (a create effect the set-based
    path cannot apply: use `create_case_system`) — all before writing anything. A case another
    transaction opened after the check is caught by the open-case index: skipped with
    `existing_ok`, else Conflict `duplicate` with nothing written (a savepoint). Returns one entry
    per `opens`, in order. Flushes the session first; never commits."""
    proc = get_process(process)
    if proc is None:
        raise Invalid(N_("流程 %(process)s 未定义"), code="unknown_process", process=process)
    unknown = [e for e in proc.create_effects if e not in _BULK_CREATE_EFFECTS]
    if unknown:
        raise ValueError(f"{proc.name} 的开启效果须逐件执行（create_case_system）")
    if not opens:
        return []
    session.flush()
    parsed = [check_data(o.data, proc.create_data_spec) for o in opens]
    student_ids = sorted({o.student_id for o in opens})
    school_of = dict(session.execute(select(Student.id, Student.school_id).where(
        Student.id.in_(student_ids))).all())
    for o in opens:
        if school_of.get(o.student_id) is None:
            raise NotFound(N_("学生不存在或没有所属学校"))
    existing = dict(session.execute(select(Case.student_id, func.min(Case.id)).where(
        Case.student_id.in_(student_ids), Case.process == proc.name, Case.is_open.is_(True))
        .group_by(Case.student_id)).all())
    keep: list[int] = []
    taken: set[int] = set()
    for i, o in enumerate(opens):
        other = existing.get(o.student_id)
        if other is not None or o.student_id in taken:
            if existing_ok:
                continue
            raise Conflict(Msg(N_("该学生已有未结的同类案件（#%(id)s）"), id=other) if other
                           else N_("该学生已有未结的同类案件"), code="duplicate", details={"case_id": other})
        taken.add(o.student_id)
        keep.append(i)
    out: list[SystemOpened | None] = [None] * len(opens)
    if not keep:
        return out
    now = clock.now()
    rows = [{"process": proc.name, "state": proc.initial, "version": 1, "student_id": opens[i].student_id,
             "school_id": school_of[opens[i].student_id], "is_open": not proc.is_final(proc.initial),
             "data": jsonable(parsed[i]), "opened_on": opens[i].effective_date, "due_on": None,
             "is_overdue": False, "ladder_policy_id": None, "parent_case_id": opens[i].parent_case_id,
             "created_by_id": None, "created_at": now, "updated_at": now} for i in keep]
    if proc.create_effects:
        schools = sorted({r["school_id"] for r in rows})
        center_of = dict(session.execute(select(School.id, School.center_id).where(School.id.in_(schools))).all())
        for effect in proc.create_effects:
            _BULK_CREATE_EFFECTS[effect](session, rows, center_of)
    # A concurrent request (a teacher's POST /cases, which takes no school lock) may have opened
    # one of these since the read above: those rows are skipped, not a failed statement.
    with session.begin_nested():  # without existing_ok a skipped row undoes the whole insert
        inserted = _insert_open_cases(session, rows)
        if not existing_ok and len(inserted) < len(rows):
            lost = next(r["student_id"] for r in rows if r["student_id"] not in inserted)
            raise Conflict(N_("该学生已有未结的同类案件"), code="duplicate", details={"student_id": lost})
        session.execute(insert(CaseHistory), [
            {"case_id": inserted[row["student_id"]], "transition": "create", "from_state": None,
             "to_state": row["state"], "user_id": None, "role": SYSTEM_ROLE, "at": now,
             "effective_date": row["opened_on"], "comment": None, "data": jsonable(parsed[i])}
            for row, i in zip(rows, keep, strict=True) if row["student_id"] in inserted])
    for row, i in zip(rows, keep, strict=True):
        if row["student_id"] in inserted:
            out[i] = SystemOpened(id=inserted[row["student_id"]], student_id=row["student_id"],
                                  school_id=row["school_id"], state=row["state"], version=1,
                                  opened_on=row["opened_on"], ladder_policy_id=row["ladder_policy_id"],
                                  data=dict(row["data"]))
    return out


def _insert_open_cases(session: Session, rows: list[dict]) -> dict[int, int]:
    """INSERT new open case rows (at most one per student), skipping any the open-case index
    `uq_cases_open_student_process` refuses (the student has an open case of the process by now).
    Returns {student id: new case id} for the rows inserted."""
    if not rows:
        return {}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - the two databases the app supports
        raise ValueError(f"不支持的数据库：{dialect}")
    table = Case.__table__
    stmt = (dialect_insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.student_id, table.c.process],
                                    index_where=text(OPEN_STUDENT_CASE))
            .returning(table.c.student_id, table.c.id))
    return dict(session.execute(stmt, rows).all())
