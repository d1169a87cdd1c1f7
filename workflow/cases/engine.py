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
history row and flushes again (a transition without effects writes its UPDATE and history row as
two direct statements, `_write_directly`). It never commits: the caller commits once, or rolls
back, which undoes the state, the effects and the history together.

The case is read once (`read_case`: scope, school, student and the separation-of-duties row in
one statement); an API handler that read it to answer 404 first passes that read to `fire`.

Effects that act on other cases reach `fire_system` and `create_case_system` through the context
(`Ctx`) the engine builds, never by importing this module. The set-based half (many cases at once,
for the daily sweep) is `workflow.cases.bulk`.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import bindparam, exists, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, joinedload
from sqlalchemy.orm.attributes import NO_VALUE, set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from models import Case, CaseHistory, School, Student, User
from workflow import clock
from workflow.access import permissions
from workflow.access.scope import ROLE_NAMES, Scope, acting_roles, case_filter, get_in_scope
from workflow.cases.definitions import (
    APPROVAL_STEPS,
    COMMENT_MSG_KEY,
    SUBMIT_STEPS,
    SYSTEM_ROLE,
    Ctx,
    Process,
    T,
)
from workflow.errors import LIST_SEP, N_, Conflict, Forbidden, Invalid, Msg, NotFound, msg_to_data
from workflow.processes import REGISTRY, get_process
from workflow.validation import check_data, jsonable, parse_int_text

# Every transition may carry its effective date (SPEC §3 "Effective date").
DATE_KEY = "date"
# The history data key naming the role a stand-in fired a blocked approval for (SPEC §3).
STAND_IN_KEY = "stand_in_for"


# --- helpers -----------------------------------------------------------------------------------


def process_of(case: Case) -> Process:
    proc = get_process(case.process)
    if proc is None:
        raise NotFound(N_("流程 %(process)s 未定义"), code="unknown_process", process=case.process)
    return proc


def case_roles(scope: Scope, case, proc: Process | None = None, class_id: int | None = None) -> set[str]:
    """The roles the user holds for this case (SPEC §3 "who acts for whose student"): for the
    class `class_id`, else the process's `class_for_roles`, else the student's class."""
    proc = proc or process_of(case)
    school = case.school
    center_id = school.center_id if school is not None else None
    if class_id is None and proc.class_for_roles:
        class_id = proc.class_for_roles(case)
    return acting_roles(scope, case, center_id=center_id, class_id=class_id)


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
        raise Invalid(N_("生效日期不能晚于今天"), details={"field": "data.date"})
    return day


def _parse_comment(comment, needs: bool) -> str | None:
    if comment is not None and not isinstance(comment, str):
        raise Invalid(N_("意见必须是文字"), details={"field": "comment"})
    comment = (comment or "").strip() or None
    if needs and comment is None:
        raise Invalid(N_("此操作需要填写意见"), details={"field": "comment"})
    return comment


def _spec(t: T) -> dict:
    return {**t.data_spec, DATE_KEY: dt.date}


def _unmet(ctx: Ctx, t: T) -> list[str]:
    return [m for g in t.guards if (m := g(ctx))]


def _state_name(proc, state: str) -> str:
    """A state's label for a message (its code when it has none)."""
    return proc.state_labels.get(state) or state


def _role_names(roles) -> str:
    return Msg.join(N_("、"), [ROLE_NAMES.get(r, r) for r in roles])


def _ctx(**values) -> Ctx:
    """The context guards, checks and effects see, with the engine's system operations that
    effects on other cases use."""
    return Ctx(fire_system=fire_system, create_case_system=create_case_system, **values)


def _history_data(ctx: Ctx) -> dict:
    """The request data kept on the history row, plus the role a stand-in fired the step for
    (`STAND_IN_KEY`), so the record says the step was fired in place of the blocked one."""
    data = jsonable(ctx.data)
    if ctx.stand_in_for:
        data = {**data, STAND_IN_KEY: ctx.stand_in_for}
    return {**data, **comment_data(ctx.comment)}


def comment_data(comment) -> dict:
    """What a history row's data keeps of a system comment given as a `Msg` (`COMMENT_MSG_KEY`),
    else nothing: a person's comment is their own words, shown as typed."""
    return {COMMENT_MSG_KEY: msg_to_data(comment)} if isinstance(comment, Msg) else {}


def _submitter(rows: list) -> int | None:
    """The user who fired the latest submit/extend among the history rows, or None."""
    last = None
    for row in rows:
        if row.transition in SUBMIT_STEPS:
            last = row.user_id
    return last


def stand_in(session: Session, case: Case, t: T, held: set[str], user_id: int | None,
             history: list | None = None, holders: dict | None = None) -> str | None:
    """The role in which the user may fire the approval `t` in place of its own role, or None
    (SPEC §3 "Separation of duties": the principal fires `office_approve`, the center office
    `principal_approve`, when the submitter is the only holder of the step's role at the
    school: `workflow/access/permissions.py:stand_in_role`).

    Only for a step separation of duties bars its submitter from, and never for the submitter
    themselves. `history`: the case's rows from `separation_history` (None: read here);
    `holders`: `permissions.school_role_holders` for the case's school (None: read here)."""
    if not t.approval or t.name not in permissions.STAND_IN_ROLES or user_id is None:
        return None
    if not held & set(permissions.STAND_IN_ROLES[t.name]):
        return None
    rows = _history(session, case) if history is None else history
    submitter = _submitter(rows)
    if submitter is None or submitter == user_id or not separation_blocks(session, case, t, submitter, rows):
        return None
    if holders is None:
        holders = permissions.school_role_holders(session, [case.school_id], t.roles)
    return permissions.stand_in_role(t.name, t.roles, held, case.school_id, submitter, holders)


def _pending_submission_columns():
    """Two correlated columns for a `select(Case, ...)`: the transition and user of the case's
    latest submit/extend row when no approval row follows it (else NULL, NULL). That one row is
    all `separation_blocks` and `stand_in` need of the history (both look for the latest
    submission and whether an approval came after it), so the case's one read carries it."""
    h, later = aliased(CaseHistory, name="sod_h"), aliased(CaseHistory, name="sod_later")
    latest = (select(h.id).where(
        h.case_id == Case.id, h.transition.in_(SUBMIT_STEPS),
        ~exists().where(later.case_id == h.case_id, later.id > h.id, later.transition.in_(APPROVAL_STEPS)))
        .order_by(h.id.desc()).limit(1))
    return (latest.with_only_columns(h.transition).scalar_subquery().label("sod_transition"),
            latest.with_only_columns(h.user_id).scalar_subquery().label("sod_user_id"))


# built once: SQLAlchemy's compiled cache then finds the statement without rebuilding its parts
_SOD_TRANSITION, _SOD_USER = _pending_submission_columns()
_CASE_FOR_FIRE = (joinedload(Case.school), joinedload(Case.student))


@dataclass
class CaseRead:
    """A case read for a transition in one statement (`read_case`): the case in scope with its
    school and student, and `separation`, its history as far as separation of duties needs it
    (the pending submission row, or none) in the shape `separation_blocks(history=...)` takes."""

    case: Case
    separation: list


def read_case(session: Session, scope: Scope, case_id) -> CaseRead:
    """Load a case for `fire` in ONE statement: the case if the scope may see it (NotFound, 404,
    otherwise, as `get_in_scope`), its school and student joined (every role check reads them),
    and the pending submission for separation of duties. A handler that reads the case first
    (to answer 404 before validating the body) passes this to `fire(read=...)`, so the case,
    its student and the version compared all come from one consistent read: a request that
    lost a race to a concurrent writer answers `stale_version` from the version-checked UPDATE,
    never a guard's verdict on the winner's newer student."""
    case_id = parse_int_text(case_id.strip() if isinstance(case_id, str) else case_id)
    if case_id is None:
        raise NotFound(N_("对象不存在"))
    row = session.execute(
        select(Case, _SOD_TRANSITION, _SOD_USER).where(Case.id == case_id, case_filter(scope))
        .options(*_CASE_FOR_FIRE)).first()
    if row is None:
        raise NotFound(N_("对象不存在或不在您的管辖范围内"))
    case, transition, user_id = row
    pending = [SimpleNamespace(transition=transition, user_id=user_id)] if transition is not None else []
    return CaseRead(case, pending)


_CASE_TABLE, _HISTORY_TABLE = Case.__table__, CaseHistory.__table__
_CASE_COLUMNS = frozenset(c.key for c in _CASE_TABLE.columns)
_HISTORY_INSERT = insert(_HISTORY_TABLE)


@functools.lru_cache(maxsize=64)
def _case_update(keys: frozenset[str]):
    """`UPDATE cases SET <keys> WHERE id = :case_id AND version = :old_version`, built once per
    set of changed columns (transitions change the same few: state, is_open, updated_at,
    version, sometimes data), so no request rebuilds it."""
    t = _CASE_TABLE
    return (update(t).where(t.c.id == bindparam("case_id"), t.c.version == bindparam("old_version"))
            .values({key: bindparam(f"new_{key}") for key in sorted(keys)}))


def _write_directly(session: Session, case: Case, row: CaseHistory) -> bool:
    """Write a transition without effects as two statements, skipping the unit of work's
    planning (a third of the request's flush for two rows, issue 16): the version-checked
    `UPDATE cases … WHERE id AND version` of the columns the transition changed, then the
    history `INSERT`. 0 rows updated = a concurrent writer won: Conflict `stale_version`, and
    nothing was written. The case object is then marked as written (its new version is the
    one to send next), so the commit has nothing left to flush.

    Only when the case is the session's one pending change and only its columns changed;
    otherwise returns False and writes nothing (the caller flushes through the ORM, which
    orders the other pending rows)."""
    if session.new or session.deleted or any(obj is not case for obj in session.dirty):
        return False
    state = inspect(case)
    if not state.committed_state.keys() <= _CASE_COLUMNS or "version" in state.committed_state:
        return False
    # the columns whose value changed (is_open is assigned on every transition, mostly the same)
    changed = {key: getattr(case, key) for key, before in state.committed_state.items()
               if before is NO_VALUE or getattr(case, key) != before}
    old = case.version
    changed["version"] = old + 1
    params = {f"new_{key}": value for key, value in changed.items()}
    with session.no_autoflush:
        done = session.execute(_case_update(frozenset(changed)), {"case_id": case.id, "old_version": old, **params})
        if done.rowcount != 1:
            raise Conflict(N_("案件已被他人修改，请刷新后重试"), code="stale_version")
        session.execute(_HISTORY_INSERT, {key: value for key, value in vars(row).items() if key in _HISTORY_TABLE.c})
    for key, value in changed.items():
        set_committed_value(case, key, value)
    # Nothing of the case is pending now: what a flush does after writing a row (private API),
    # so the commit's flush finds the session clean instead of planning an empty unit of work.
    state._commit_all(state.dict, session.identity_map)
    return True


def _apply(session: Session, proc: Process, case: Case, t: T, ctx: Ctx) -> Case:
    """Move the state, flush, run the effects, append history. Checks are done by the caller."""
    from_state = case.state
    if t.merge_keys:
        merged = dict(case.data or {})
        merged.update({k: jsonable(ctx.data[k]) for k in t.merge_keys if k in ctx.data})
        case.data = merged
    if not proc.machine.events[t.name].trigger(case):
        raise Conflict(N_("案件当前状态（%(state)s）不能执行 %(action)s"), code="invalid_state",
                       state=_state_name(proc, case.state), action=proc.label_of(t.name))
    case.is_open = not proc.is_final(case.state)
    # Self-loops change no column by themselves; touching updated_at still bumps the version.
    case.updated_at = clock.now()

    def history() -> CaseHistory:
        return CaseHistory(
            case_id=case.id, transition=t.name, from_state=from_state, to_state=case.state,
            user_id=ctx.user.id if ctx.user is not None else None, role=ctx.role, at=clock.now(),
            effective_date=ctx.effective_date, comment=None if ctx.comment is None else str(ctx.comment),
            data=_history_data(ctx))

    if not t.effects and _write_directly(session, case, history()):
        return case
    if not t.effects:
        # nothing runs between the version-checked UPDATE and the history row: one flush
        # writes both (a stale version still fails it before anything is kept)
        session.add(history())
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(N_("案件已被他人修改，请刷新后重试"), code="stale_version") from None
    if not t.effects:
        return case
    for effect in t.effects:
        effect(ctx)
    session.add(history())
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(N_("案件已被他人修改，请刷新后重试"), code="stale_version") from None
    return case


# --- public API --------------------------------------------------------------------------------


def fire(session: Session, scope: Scope, user: User, case_id: int, transition: str, *, version: int,
         data: dict | None = None, comment: str | None = None, today: dt.date | None = None,
         read: CaseRead | None = None) -> Case:
    """Fire `transition` on case `case_id` as `user` (scope = `scope_for(session, user)`).

    `read`: the case as the caller loaded it with `read_case` (same scope); the engine then
    reads it no more, and `case_id` is not used. Without it the engine reads it once itself.

    Raises, in this order: NotFound (case out of scope; code `unknown_transition`), Invalid
    (malformed data/comment, future `data.date`), Forbidden (`role_forbidden`,
    `separation_of_duties`), Conflict (`stale_version`, `invalid_state`, `guard_failed`).
    Returns the case, flushed (its `version` is the one to send next). Never commits.
    """
    # one statement: the case in scope, its school and student, the separation-of-duties row
    read = read if read is not None else read_case(session, scope, case_id)
    case = read.case
    proc = process_of(case)
    candidates = proc.named(transition) if isinstance(transition, str) else []
    if not candidates:
        raise NotFound(N_("流程 %(process)s 没有名为 %(action)s 的操作"), code="unknown_transition",
                       process=proc.name, action=str(transition),
                       details={"transition": transition})
    today = today or clock.today()
    first = candidates[0]
    parsed = check_data(data, _spec(first))
    comment = _parse_comment(comment, first.needs_comment)
    effective = _effective_date(parsed, today)
    t = proc.applicable(transition, case)
    ctx = _ctx(session=session, case=case, process=proc, user=user, scope=scope, data=parsed,
               comment=comment, effective_date=effective, today=today, transition=t or first)
    for check in first.checks:
        check(ctx)

    roles = t.roles if t is not None else tuple(dict.fromkeys(r for c in candidates for r in c.roles))
    held = case_roles(scope, case, proc)
    role = next((r for r in roles if r in held), None)
    if role is None and t is not None:
        role = stand_in(session, case, t, held, user.id, history=read.separation)
        ctx.stand_in_for = t.roles[0] if role is not None else None
    if role is None:
        raise Forbidden(N_("您无权对此案件执行 %(action)s（需要：%(roles)s）"), action=proc.label_of(transition),
                        roles=_role_names(roles) or N_("系统"),
                        code="role_forbidden", details={"roles": list(roles)})
    ctx.role = role
    if separation_blocks(session, case, t or first, user.id, history=read.separation):
        raise Forbidden(N_("提交人不能审批自己提交的申请（需由另一人审批）"), code="separation_of_duties")
    if version != case.version:
        raise Conflict(N_("案件已被他人修改，请刷新后重试"), code="stale_version",
                       details={"version": case.version})
    if t is None:
        raise Conflict(N_("案件当前状态（%(state)s）不能执行 %(action)s"), code="invalid_state",
                       state=_state_name(proc, case.state), action=proc.label_of(transition),
                       details={"state": case.state})
    unmet = _unmet(ctx, t)
    if unmet:
        raise Conflict(Msg.join(LIST_SEP, unmet), code="guard_failed", details={"unmet": unmet})
    return _apply(session, proc, case, t, ctx)


def fire_system(session: Session, case: Case, transition: str, *, data: dict | None = None,
                comment: str | Msg | None = None, effective_date: dt.date, version: int | None = None) -> Case:
    """Fire `transition` as the system (role `system`, no user): the daily sweep, and effects of
    one case on another (re_enroll closes a recovery, transfer_in's accept confirms the arrival).

    The system acts on facts established elsewhere (the sweep's day count, another case's
    completed step), so role, separation-of-duties and guard checks are skipped; the name, the
    data, the version (when given) and the state are checked as in `fire`. A `comment` given as
    a `Msg` is also kept as a message (`comment_data`), for the pages to translate. Never commits.
    """
    proc = process_of(case)
    candidates = proc.named(transition)
    if not candidates:
        raise NotFound(N_("流程 %(process)s 没有名为 %(action)s 的操作"), code="unknown_transition",
                       process=proc.name, action=str(transition))
    parsed = check_data(data, _spec(candidates[0]))
    t = proc.applicable(transition, case)
    ctx = _ctx(session=session, case=case, process=proc, user=None, scope=None, role=SYSTEM_ROLE,
               data=parsed, comment=comment if isinstance(comment, Msg) else _parse_comment(comment, False),
               effective_date=effective_date,
               today=effective_date, transition=t or candidates[0])
    for check in candidates[0].checks:
        check(ctx)
    if version is not None and version != case.version:
        raise Conflict(N_("案件已被他人修改，请刷新后重试"), code="stale_version")
    if t is None:
        raise Conflict(N_("案件当前状态（%(state)s）不能执行 %(action)s"), code="invalid_state",
                       state=_state_name(proc, case.state), action=proc.label_of(transition))
    return _apply(session, proc, case, t, ctx)


def permitted_transitions(session: Session, case: Case, proc: Process, held: set[str],
                          user_id: int | None, history: list | None = None,
                          holders: dict | None = None) -> list[tuple[T, str]]:
    """The transitions the user may fire on the case now, guards aside: applicable from its
    state, held by role (`held`: `case_roles`) or as the stand-in for a blocked approval
    (`stand_in`: then the role is not among `t.roles`), not barred by separation of duties; each
    with the role it would be fired in, in `Process.transition_names` order. `history`: the
    case's rows from `separation_history`, when the caller has read them (None: read here, once,
    at the first approval step that needs them); `holders`: `permissions.school_role_holders`
    for the case's school, when the caller has read them for many cases (the queue)."""
    out: list[tuple[T, str]] = []
    for name in proc.transition_names:
        t = proc.applicable(name, case)
        if t is None:
            continue
        role = next((r for r in t.roles if r in held), None)
        if t.approval and user_id is not None and history is None and (
                role is not None or held & set(permissions.STAND_IN_ROLES.get(t.name, ()))):
            history = _history(session, case)
        if role is None:
            role = stand_in(session, case, t, held, user_id, history, holders)
            if role is not None:
                out.append((t, role))
            continue
        if separation_blocks(session, case, t, user_id, history):
            continue
        out.append((t, role))
    return out


def available_transitions(session: Session, scope: Scope, user: User, case: Case,
                          permitted: list[tuple[T, str]] | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """What the user may fire on the case now: names allowed by role, scope, separation of
    duties and state (guards aside, `permitted_transitions`), and {name: [unmet guard messages]}
    for those among them whose guards are unmet. The caller has loaded `case` in scope; a caller
    that read `permitted_transitions` already (for the next-step line too) passes them."""
    proc = process_of(case)
    names: list[str] = []
    blocked: dict[str, list[str]] = {}
    if permitted is None:
        permitted = permitted_transitions(session, case, proc, case_roles(scope, case, proc), user.id)
    for t, role in permitted:
        names.append(t.name)
        ctx = _ctx(session=session, case=case, process=proc, user=user, scope=scope, role=role,
                   effective_date=clock.today(), today=clock.today(), transition=t)
        unmet = _unmet(ctx, t)
        if unmet:
            blocked[t.name] = unmet
    return names, blocked


def _default_locate(session: Session, scope: Scope, user, student_id, data: dict):
    if student_id is None:
        raise Invalid(N_("请选择学生"), details={"field": "student_id"})
    student = get_in_scope(session, scope, Student, student_id)
    if student.school_id is None:
        raise Invalid(N_("该学生没有所属学校"), details={"field": "student_id"})
    return student, student.school_id, None


def _new_case(session: Session, proc: Process, student, school_id: int, data: dict, today: dt.date,
              user_id: int | None, parent_case_id: int | None = None) -> Case:
    return Case(process=proc.name, state=proc.initial, student=student,
                school=session.get(School, school_id), data=jsonable(data), opened_on=today,
                created_by_id=user_id, parent_case_id=parent_case_id)


def _open_case_of(session: Session, student_id: int, process: str) -> Case | None:
    return session.scalars(select(Case).where(
        Case.student_id == student_id, Case.process == process, Case.is_open.is_(True))).first()


def _insert_case_row(session: Session, case: Case) -> None:
    """INSERT the new case row on its own SAVEPOINT. When the database refuses it because the
    student already has an open case of the process (`uq_cases_open_student_process`: another
    request inserted one after our `_open_case_of` check and committed first), only the
    savepoint is rolled back — the caller's earlier writes stay — and Conflict `duplicate` names
    the winner's case. Any other integrity error is raised as is."""
    session.flush()  # the request's earlier writes are not part of the savepoint
    student_id = case.student.id if case.student is not None else case.student_id
    try:
        with session.begin_nested():
            session.add(case)
    except IntegrityError:
        winner = _open_case_of(session, student_id, case.process) if student_id is not None else None
        if winner is None:
            raise
        raise Conflict(N_("该学生已有未结的同类案件（#%(id)s）"), code="duplicate", id=winner.id,
                       details={"case_id": winner.id}) from None


def _insert(session: Session, case: Case, proc: Process, ctx: Ctx, user_id: int | None) -> Case:
    for effect in proc.create_effects:
        effect(ctx)
    _insert_case_row(session, case)
    session.add(CaseHistory(
        case_id=case.id, transition="create", from_state=None, to_state=case.state, user_id=user_id,
        role=ctx.role, at=clock.now(), effective_date=ctx.effective_date, comment=None,
        data=jsonable(ctx.data)))
    session.flush()
    return case


def creating_role(scope: Scope, proc: Process, probe, class_id: int | None = None) -> str | None:
    """The first of the process's `create_roles` the user holds for the case about to be opened
    (`probe`: its student, school and data; `class_id` the class located with the student, else
    the process's `class_for_roles`, else the student's class: `case_roles`), or None."""
    held = case_roles(scope, probe, proc, class_id)
    return next((r for r in proc.create_roles if r in held), None)


def creatable_processes(session: Session, scope: Scope, student: Student) -> list[tuple[Process, str | None]]:
    """The processes the user may open for this (visible) student, as create_case decides it
    before any data is given: those whose `create_roles` they hold for the student, each with the
    reason the student's status rules it out now (create_case's Conflict `invalid_state`), or
    None. Processes that locate their own student from the data (`locate`: a transfer-in is
    opened from the receiving class with the new student's details) are left out. Raises
    nothing; the caller has loaded the student in scope."""
    probe = SimpleNamespace(id=None, student=student, school_id=student.school_id, school=student.school,
                            data={}, state=None)
    out = []
    for proc in REGISTRY.values():
        if proc.locate is not None:
            continue
        if creating_role(scope, proc, probe) is None:
            continue
        blocked = None
        if proc.create_check is not None:
            blocked = proc.create_check(_ctx(session=session, case=probe, process=proc, scope=scope))
        out.append((proc, blocked))
    return out


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
        raise Invalid(N_("流程必须是以下之一：%(choices)s"), code="unknown_process",
                      choices=", ".join(REGISTRY),
                      details={"field": "process"})
    if student_id is not None and (isinstance(student_id, bool) or not isinstance(student_id, int)):
        raise Invalid(N_("学生编号必须是整数"), details={"field": "student_id"})
    parsed = check_data(data, proc.create_data_spec)
    today = today or clock.today()
    locate = proc.locate or _default_locate
    student, school_id, class_id = locate(session, scope, user, student_id, parsed)
    case = _new_case(session, proc, student, school_id, parsed, today, user.id)
    ctx = _ctx(session=session, case=case, process=proc, user=user, scope=scope, data=parsed,
               effective_date=today, today=today)
    for check in proc.create_checks:
        check(ctx)
    probe = SimpleNamespace(student=student, school_id=school_id, school=case.school,
                            data=case.data, state=case.state)
    role = creating_role(scope, proc, probe, class_id)
    if role is None:
        raise Forbidden(N_("您无权为该学生开启此流程（需要：%(roles)s）"), roles=_role_names(proc.create_roles),
                        code="role_forbidden", details={"roles": list(proc.create_roles)})
    ctx.role = role
    if student is not None:
        if proc.create_check is not None:
            message = proc.create_check(ctx)
            if message:
                raise Conflict(message, code="invalid_state")
        existing = _open_case_of(session, student.id, proc.name)
        if existing is not None:
            raise Conflict(N_("该学生已有未结的同类案件（#%(id)s）"), code="duplicate", id=existing.id,
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
        raise Invalid(N_("流程 %(process)s 未定义"), code="unknown_process", process=str(process))
    parsed = check_data(data, proc.create_data_spec)
    student = session.get(Student, student_id)
    if student is None or student.school_id is None:
        raise NotFound(N_("学生不存在或没有所属学校"))
    existing = _open_case_of(session, student.id, proc.name)
    if existing is not None:
        if existing_ok:
            return existing
        raise Conflict(N_("该学生已有未结的同类案件（#%(id)s）"), code="duplicate", id=existing.id,
                       details={"case_id": existing.id})
    case = _new_case(session, proc, student, student.school_id, parsed, effective_date, None,
                     parent_case_id)
    ctx = _ctx(session=session, case=case, process=proc, data=parsed, effective_date=effective_date,
               today=effective_date)
    try:
        return _insert(session, case, proc, ctx, None)
    except Conflict as exc:
        # a concurrent request opened it after our check: with existing_ok that case will do
        if not (existing_ok and exc.code == "duplicate"):
            raise
        return session.get(Case, exc.details["case_id"])
