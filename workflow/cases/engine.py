"""The workflow engine: the one way a case is created or changes state (SPEC §3).

`fire` checks, in SPEC order, each with its answer:

1. case not found or out of scope → NotFound (404)
2. transition name unknown to the process → NotFound, code `unknown_transition`
3. malformed body (data not an object, unknown keys, wrong types, ids naming nothing usable,
   `data.date` in the future, a required comment missing) → Invalid (422)
4. the user holds none of the transition's roles for this case → Forbidden `role_forbidden`
5. separation of duties → Forbidden `separation_of_duties`
6. `version` is not the case's → Conflict `stale_version`
7. not allowed from the current state → Conflict `invalid_state`
8. guards unmet → Conflict `guard_failed` (all messages joined; details.unmet lists them)

then moves the state with the process's shared `transitions.Machine`, flushes at once (the
UPDATE ... WHERE version = v is what catches a concurrent writer), runs the effects, appends the
history row and flushes again. It never commits: the caller commits once, or rolls back, which
undoes the state, the effects and the history together.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from models import Case, CaseHistory, School, Student, User
from workflow import clock
from workflow.access.scope import Scope, acting_roles, get_in_scope
from workflow.cases.definitions import APPROVAL_STEPS, ROLE_NAMES, SUBMIT_STEPS, Ctx, Process, T
from workflow.errors import Conflict, Forbidden, Invalid, NotFound
from workflow.processes import REGISTRY, get_process
from workflow.validation import check_data, jsonable

SYSTEM_ROLE = "system"
# Every transition may carry its effective date (SPEC §3 "Effective date").
DATE_KEY = "date"


# --- helpers -----------------------------------------------------------------------------------


def process_of(case: Case) -> Process:
    proc = get_process(case.process)
    if proc is None:
        raise NotFound(f"流程 {case.process} 未定义", code="unknown_process")
    return proc


def case_roles(scope: Scope, case, proc: Process | None = None) -> set[str]:
    """The roles the user holds for this case (SPEC §3 "who acts for whose student")."""
    proc = proc or process_of(case)
    school = case.school
    center_id = school.center_id if school is not None else None
    class_id = proc.class_for_roles(case) if proc.class_for_roles else None
    return acting_roles(scope, case, center_id=center_id, class_id=class_id)


def acting_role(scope: Scope, case: Case, transition: str) -> str | None:
    """The role in which the user would fire `transition` on the case now (the first of the
    transition's roles the user holds for the case), or None."""
    proc = process_of(case)
    candidates = proc.named(transition)
    if not candidates:
        return None
    t = proc.applicable(transition, case)
    roles = t.roles if t is not None else tuple(dict.fromkeys(r for c in candidates for r in c.roles))
    held = case_roles(scope, case, proc)
    return next((r for r in roles if r in held), None)


def _history(session: Session, case: Case) -> list:
    if case.id is None:
        return []
    return list(session.execute(
        select(CaseHistory.transition, CaseHistory.user_id).where(CaseHistory.case_id == case.id)
        .order_by(CaseHistory.id)))


def separation_history(session: Session, case_ids) -> dict[int, list]:
    """case id -> its submit/extend and approval history rows (transition, user_id), in order:
    what `separation_blocks` needs, for many cases in one query (the queue). Cases without such
    rows are absent from the mapping (pass `.get(id, [])`)."""
    ids = sorted({i for i in case_ids if i is not None})
    out: dict[int, list] = {}
    if not ids:
        return out
    for row in session.execute(
            select(CaseHistory.case_id, CaseHistory.transition, CaseHistory.user_id)
            .where(CaseHistory.case_id.in_(ids), CaseHistory.transition.in_(SUBMIT_STEPS + APPROVAL_STEPS))
            .order_by(CaseHistory.id)):
        out.setdefault(row.case_id, []).append(row)
    return out


def separation_blocks(session: Session, case: Case, t: T, user_id: int | None,
                      history: list | None = None) -> bool:
    """True when `user_id` fired the latest `submit`/`extend` and `t` is the first approval step
    after it (SPEC §2, §3: the submitter may not approve at the next step).

    `history`: the case's rows from `separation_history` (or all its rows), when the caller has
    read them already; only submit/extend and approval rows matter, so either gives the same
    answer. None = read them here."""
    if not t.approval or user_id is None:
        return False
    rows = _history(session, case) if history is None else history
    last = None
    for i, row in enumerate(rows):
        if row.transition in SUBMIT_STEPS:
            last = i
    if last is None:
        return False
    if any(row.transition in APPROVAL_STEPS for row in rows[last + 1:]):
        return False
    return rows[last].user_id == user_id


def _effective_date(parsed: dict, today: dt.date) -> dt.date:
    day = parsed.get(DATE_KEY) or today
    if day > today:
        raise Invalid("生效日期（data.date）不能晚于今天", details={"field": "data.date"})
    return day


def _parse_comment(comment, needs: bool) -> str | None:
    if comment is not None and not isinstance(comment, str):
        raise Invalid("字段 comment 必须是字符串", details={"field": "comment"})
    comment = (comment or "").strip() or None
    if needs and comment is None:
        raise Invalid("此操作需要填写意见（comment）", details={"field": "comment"})
    return comment


def _spec(t: T) -> dict:
    return {**t.data_spec, DATE_KEY: dt.date}


def _unmet(ctx: Ctx, t: T) -> list[str]:
    return [m for g in t.guards if (m := g(ctx))]


def _role_names(roles) -> str:
    return "、".join(ROLE_NAMES.get(r, r) for r in roles)


def _apply(session: Session, proc: Process, case: Case, t: T, ctx: Ctx) -> Case:
    """Move the state, flush, run the effects, append history. Checks are done by the caller."""
    from_state = case.state
    if t.merge_keys:
        merged = dict(case.data or {})
        merged.update({k: jsonable(ctx.data[k]) for k in t.merge_keys if k in ctx.data})
        case.data = merged
    if not proc.machine.events[t.name].trigger(case):
        raise Conflict(f"当前状态（{case.state}）不能执行 {t.name}", code="invalid_state")
    case.is_open = not proc.is_final(case.state)
    # Self-loops change no column by themselves; touching updated_at still bumps the version.
    case.updated_at = clock.now()

    def history() -> CaseHistory:
        return CaseHistory(
            case_id=case.id, transition=t.name, from_state=from_state, to_state=case.state,
            user_id=ctx.user.id if ctx.user is not None else None, role=ctx.role, at=clock.now(),
            effective_date=ctx.effective_date, comment=ctx.comment, data=jsonable(ctx.data))

    if not t.effects:
        # nothing runs between the version-checked UPDATE and the history row: one flush
        # writes both (a stale version still fails it before anything is kept)
        session.add(history())
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("案件已被他人修改，请刷新后重试", code="stale_version") from None
    if not t.effects:
        return case
    for effect in t.effects:
        effect(ctx)
    session.add(history())
    try:
        session.flush()
    except StaleDataError:
        raise Conflict("案件已被他人修改，请刷新后重试", code="stale_version") from None
    return case


# --- public API --------------------------------------------------------------------------------


def fire(session: Session, scope: Scope, user: User, case_id: int, transition: str, *, version: int,
         data: dict | None = None, comment: str | None = None, today: dt.date | None = None) -> Case:
    """Fire `transition` on case `case_id` as `user` (scope = `scope_for(session, user)`).

    Raises, in this order: NotFound (case out of scope; code `unknown_transition`), Invalid
    (malformed data/comment, future `data.date`), Forbidden (`role_forbidden`,
    `separation_of_duties`), Conflict (`stale_version`, `invalid_state`, `guard_failed`).
    Returns the case, flushed (its `version` is the one to send next). Never commits.
    """
    # school and student are read by every role check: load them with the case
    case = get_in_scope(session, scope, Case, case_id,
                        options=(joinedload(Case.school), joinedload(Case.student)))
    proc = process_of(case)
    candidates = proc.named(transition) if isinstance(transition, str) else []
    if not candidates:
        raise NotFound(f"流程 {proc.name} 没有名为 {transition} 的操作", code="unknown_transition",
                       details={"transition": transition})
    today = today or clock.today()
    first = candidates[0]
    parsed = check_data(data, _spec(first))
    comment = _parse_comment(comment, first.needs_comment)
    effective = _effective_date(parsed, today)
    t = proc.applicable(transition, case)
    ctx = Ctx(session=session, case=case, process=proc, user=user, scope=scope, data=parsed,
              comment=comment, effective_date=effective, today=today, transition=t or first)
    for check in first.checks:
        check(ctx)

    roles = t.roles if t is not None else tuple(dict.fromkeys(r for c in candidates for r in c.roles))
    held = case_roles(scope, case, proc)
    role = next((r for r in roles if r in held), None)
    if role is None:
        raise Forbidden(f"您无权对此案件执行 {transition}（需要：{_role_names(roles) or '系统'}）",
                        code="role_forbidden", details={"roles": list(roles)})
    ctx.role = role
    if separation_blocks(session, case, t or first, user.id):
        raise Forbidden("提交人不能审批自己提交的申请（需由另一人审批）", code="separation_of_duties")
    if version != case.version:
        raise Conflict("案件已被他人修改，请刷新后重试", code="stale_version",
                       details={"version": case.version})
    if t is None:
        raise Conflict(f"案件当前状态（{case.state}）不能执行 {transition}", code="invalid_state",
                       details={"state": case.state})
    unmet = _unmet(ctx, t)
    if unmet:
        raise Conflict("；".join(unmet), code="guard_failed", details={"unmet": unmet})
    return _apply(session, proc, case, t, ctx)


def fire_system(session: Session, case: Case, transition: str, *, data: dict | None = None,
                comment: str | None = None, effective_date: dt.date, version: int | None = None) -> Case:
    """Fire `transition` as the system (role `system`, no user): the daily sweep, and effects of
    one case on another (re_enroll closes a recovery, transfer_in's accept confirms the arrival).

    The system acts on facts established elsewhere (the sweep's day count, another case's
    completed step), so role, separation-of-duties and guard checks are skipped; the name, the
    data, the version (when given) and the state are checked as in `fire`. Never commits.
    """
    proc = process_of(case)
    candidates = proc.named(transition)
    if not candidates:
        raise NotFound(f"流程 {proc.name} 没有名为 {transition} 的操作", code="unknown_transition")
    parsed = check_data(data, _spec(candidates[0]))
    t = proc.applicable(transition, case)
    ctx = Ctx(session=session, case=case, process=proc, user=None, scope=None, role=SYSTEM_ROLE,
              data=parsed, comment=_parse_comment(comment, False), effective_date=effective_date,
              today=effective_date, transition=t or candidates[0])
    for check in candidates[0].checks:
        check(ctx)
    if version is not None and version != case.version:
        raise Conflict("案件已被他人修改，请刷新后重试", code="stale_version")
    if t is None:
        raise Conflict(f"案件当前状态（{case.state}）不能执行 {transition}", code="invalid_state")
    return _apply(session, proc, case, t, ctx)


def available_transitions(session: Session, scope: Scope, user: User,
                          case: Case) -> tuple[list[str], dict[str, list[str]]]:
    """What the user may fire on the case now: names allowed by role, scope, separation of
    duties and state (guards aside), and {name: [unmet guard messages]} for those among them
    whose guards are unmet. The caller has loaded `case` in scope."""
    proc = process_of(case)
    held = case_roles(scope, case, proc)
    names: list[str] = []
    blocked: dict[str, list[str]] = {}
    history = None  # read once, at the first approval step that needs it
    for name in proc.transition_names:
        t = proc.applicable(name, case)
        if t is None:
            continue
        role = next((r for r in t.roles if r in held), None)
        if role is None:
            continue
        if t.approval and user.id is not None and history is None:
            history = _history(session, case)
        if separation_blocks(session, case, t, user.id, history):
            continue
        names.append(name)
        ctx = Ctx(session=session, case=case, process=proc, user=user, scope=scope, role=role,
                  effective_date=clock.today(), today=clock.today(), transition=t)
        unmet = _unmet(ctx, t)
        if unmet:
            blocked[name] = unmet
    return names, blocked


def _default_locate(session: Session, scope: Scope, user, student_id, data: dict):
    if student_id is None:
        raise Invalid("缺少必填字段：student_id", details={"field": "student_id"})
    student = get_in_scope(session, scope, Student, student_id)
    if student.school_id is None:
        raise Invalid("该学生没有所属学校", details={"field": "student_id"})
    return student, student.school_id, None


def _new_case(session: Session, proc: Process, student, school_id: int, data: dict, today: dt.date,
              user_id: int | None, parent_case_id: int | None = None) -> Case:
    return Case(process=proc.name, state=proc.initial, student=student,
                school=session.get(School, school_id), data=jsonable(data), opened_on=today,
                created_by_id=user_id, parent_case_id=parent_case_id)


def _open_case_of(session: Session, student_id: int, process: str) -> Case | None:
    return session.scalars(select(Case).where(
        Case.student_id == student_id, Case.process == process, Case.is_open.is_(True))).first()


def _insert(session: Session, case: Case, proc: Process, ctx: Ctx, user_id: int | None) -> Case:
    for effect in proc.create_effects:
        effect(ctx)
    session.add(case)
    session.flush()
    session.add(CaseHistory(
        case_id=case.id, transition="create", from_state=None, to_state=case.state, user_id=user_id,
        role=ctx.role, at=clock.now(), effective_date=ctx.effective_date, comment=None,
        data=jsonable(ctx.data)))
    session.flush()
    return case


def create_case(session: Session, scope: Scope, user: User, process: str, student_id: int | None,
                data: dict, *, today: dt.date | None = None) -> Case:
    """Open a case of `process` for a student, as `user`, in the process's initial state, with a
    `create` history row.

    Raises Invalid (unknown process, malformed data), NotFound (student out of scope), Forbidden
    `role_forbidden` (the user may not open this process for this student), Conflict
    `invalid_state` (the student's status does not allow it) or `duplicate` (the student already
    has an open case of this process: one child, one case). Never commits.
    """
    proc = get_process(process) if isinstance(process, str) else None
    if proc is None:
        raise Invalid(f"字段 process 必须是以下之一：{', '.join(REGISTRY)}", code="unknown_process",
                      details={"field": "process"})
    if student_id is not None and (isinstance(student_id, bool) or not isinstance(student_id, int)):
        raise Invalid("字段 student_id 必须是整数", details={"field": "student_id"})
    parsed = check_data(data, proc.create_data_spec)
    today = today or clock.today()
    locate = proc.locate or _default_locate
    student, school_id, class_id = locate(session, scope, user, student_id, parsed)
    case = _new_case(session, proc, student, school_id, parsed, today, user.id)
    ctx = Ctx(session=session, case=case, process=proc, user=user, scope=scope, data=parsed,
              effective_date=today, today=today)
    for check in proc.create_checks:
        check(ctx)
    probe = SimpleNamespace(student=student, school_id=school_id, school=case.school,
                            data=case.data, state=case.state)
    if class_id is None and proc.class_for_roles:
        class_id = proc.class_for_roles(probe)
    held = acting_roles(scope, probe, center_id=case.school.center_id if case.school else None,
                        class_id=class_id)
    role = next((r for r in proc.create_roles if r in held), None)
    if role is None:
        raise Forbidden(f"您无权为该学生开启此流程（需要：{_role_names(proc.create_roles)}）",
                        code="role_forbidden", details={"roles": list(proc.create_roles)})
    ctx.role = role
    if student is not None:
        if proc.create_check is not None:
            message = proc.create_check(ctx)
            if message:
                raise Conflict(message, code="invalid_state")
        existing = _open_case_of(session, student.id, proc.name)
        if existing is not None:
            raise Conflict(f"该学生已有未结的同类案件（#{existing.id}）", code="duplicate",
                           details={"case_id": existing.id})
    return _insert(session, case, proc, ctx, user.id)


def create_case_system(session: Session, process: str, student_id: int, data: dict, *,
                       effective_date: dt.date, parent_case_id: int | None = None,
                       existing_ok: bool = False) -> Case:
    """Open a case as the system (role `system`), e.g. the recovery opened by a confirmed
    dropout or an absence opened by attendance. With `existing_ok` the student's open case of
    that process is returned instead of raising Conflict `duplicate` (one child, one case)."""
    proc = get_process(process)
    if proc is None:
        raise Invalid(f"流程 {process} 未定义", code="unknown_process")
    parsed = check_data(data, proc.create_data_spec)
    student = session.get(Student, student_id)
    if student is None or student.school_id is None:
        raise NotFound("学生不存在或没有所属学校")
    existing = _open_case_of(session, student.id, proc.name)
    if existing is not None:
        if existing_ok:
            return existing
        raise Conflict(f"该学生已有未结的同类案件（#{existing.id}）", code="duplicate",
                       details={"case_id": existing.id})
    case = _new_case(session, proc, student, student.school_id, parsed, effective_date, None,
                     parent_case_id)
    ctx = Ctx(session=session, case=case, process=proc, data=parsed, effective_date=effective_date,
              today=effective_date)
    return _insert(session, case, proc, ctx, None)


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
        raise NotFound(f"流程 {fire.process} 未定义", code="unknown_process")
    state, out = fire.state, []
    for name, _day, _comment in fire.steps:
        candidates = proc.named(name)
        if not candidates:
            raise NotFound(f"流程 {proc.name} 没有名为 {name} 的操作", code="unknown_transition")
        t = proc.applicable(name, SimpleNamespace(state=state))
        if t is None:
            raise Conflict(f"案件当前状态（{state}）不能执行 {name}", code="invalid_state")
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
                "user_id": None, "role": SYSTEM_ROLE, "at": now, "effective_date": day, "comment": comment,
                "data": {}}
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


def _current_policy_ids(session: Session, center_ids) -> dict[int, int | None]:
    """center id -> id of its latest saved ladder (what `ladder.current_policy` picks), None
    when it has none (the built-in default), for many centers in one query."""
    from models import LadderPolicy

    ids = sorted({c for c in center_ids if c is not None})
    out: dict[int, int | None] = dict.fromkeys(ids)
    if not ids:
        return out
    seen: set[int] = set()
    for center_id, policy_id in session.execute(
            select(LadderPolicy.center_school_id, LadderPolicy.id).where(LadderPolicy.center_school_id.in_(ids))
            .order_by(LadderPolicy.center_school_id, LadderPolicy.version.desc(), LadderPolicy.id.desc())):
        if center_id not in seen:
            seen.add(center_id)
            out[center_id] = policy_id
    return out


def _bulk_pin_ladder_policy(session: Session, rows: list[dict], center_of: dict[int, int | None]) -> None:
    policies = _current_policy_ids(session, center_of.values())
    for row in rows:
        row["ladder_policy_id"] = policies.get(center_of.get(row["school_id"]))


def _bulk_create_effects():
    from workflow.cases import effects

    return {effects.pin_ladder_policy: _bulk_pin_ladder_policy}


def create_cases_system(session: Session, process: str, opens: list[SystemOpen], *,
                        existing_ok: bool = False) -> list[SystemOpened | None]:
    """Open many cases of `process` as the system at once: per case the same checks (process
    known, data, student with a school, no open case of the process — one child, one case) and
    the same rows (the case in the initial state, version 1, its create effects' columns, the
    `create` history row with role `system`) as `create_case_system` called for each in turn.

    Raises Invalid (unknown process, malformed data), NotFound (a student missing or without a
    school), Conflict `duplicate` (an open case exists, or two openings name the same student;
    with `existing_ok` those entries are None instead), ValueError (a create effect the set-based
    path cannot apply: use `create_case_system`) — all before writing anything. Returns one entry
    per `opens`, in order. Flushes the session first; never commits."""
    proc = get_process(process)
    if proc is None:
        raise Invalid(f"流程 {process} 未定义", code="unknown_process")
    bulk_effects = _bulk_create_effects()
    unknown = [e for e in proc.create_effects if e not in bulk_effects]
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
            raise NotFound("学生不存在或没有所属学校")
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
            raise Conflict(f"该学生已有未结的同类案件（#{other}）" if other else "该学生已有未结的同类案件",
                           code="duplicate", details={"case_id": other})
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
            bulk_effects[effect](session, rows, center_of)
    table = Case.__table__
    ids = list(session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars())
    session.execute(insert(CaseHistory), [
        {"case_id": case_id, "transition": "create", "from_state": None, "to_state": row["state"],
         "user_id": None, "role": SYSTEM_ROLE, "at": now, "effective_date": row["opened_on"], "comment": None,
         "data": jsonable(parsed[i])}
        for case_id, row, i in zip(ids, rows, keep, strict=True)])
    for case_id, row, i in zip(ids, rows, keep, strict=True):
        out[i] = SystemOpened(id=case_id, student_id=row["student_id"], school_id=row["school_id"],
                              state=row["state"], version=1, opened_on=row["opened_on"],
                              ladder_policy_id=row["ladder_policy_id"], data=dict(row["data"]))
    return out
