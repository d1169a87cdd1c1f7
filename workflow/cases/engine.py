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

Effects that act on other cases reach `fire_system` and `create_case_system` through the context
(`Ctx`) the engine builds, never by importing this module. The set-based half (many cases at once,
for the daily sweep) is `workflow.cases.bulk`.
"""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from models import Case, CaseHistory, School, Student, User
from workflow import clock
from workflow.access.scope import ROLE_NAMES, Scope, acting_roles, get_in_scope
from workflow.cases.definitions import APPROVAL_STEPS, SUBMIT_STEPS, SYSTEM_ROLE, Ctx, Process, T
from workflow.errors import Conflict, Forbidden, Invalid, NotFound
from workflow.processes import REGISTRY, get_process
from workflow.validation import check_data, jsonable

# Every transition may carry its effective date (SPEC §3 "Effective date").
DATE_KEY = "date"


# --- helpers -----------------------------------------------------------------------------------


def process_of(case: Case) -> Process:
    proc = get_process(case.process)
    if proc is None:
        raise NotFound(f"流程 {case.process} 未定义", code="unknown_process")
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


def _ctx(**values) -> Ctx:
    """The context guards, checks and effects see, with the engine's system operations that
    effects on other cases use."""
    return Ctx(fire_system=fire_system, create_case_system=create_case_system, **values)


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
    ctx = _ctx(session=session, case=case, process=proc, user=user, scope=scope, data=parsed,
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
    ctx = _ctx(session=session, case=case, process=proc, user=None, scope=None, role=SYSTEM_ROLE,
               data=parsed, comment=_parse_comment(comment, False), effective_date=effective_date,
               today=effective_date, transition=t or candidates[0])
    for check in candidates[0].checks:
        check(ctx)
    if version is not None and version != case.version:
        raise Conflict("案件已被他人修改，请刷新后重试", code="stale_version")
    if t is None:
        raise Conflict(f"案件当前状态（{case.state}）不能执行 {transition}", code="invalid_state")
    return _apply(session, proc, case, t, ctx)


def permitted_transitions(session: Session, case: Case, proc: Process, held: set[str],
                          user_id: int | None, history: list | None = None) -> list[tuple[T, str]]:
    """The transitions the user may fire on the case now, guards aside: applicable from its
    state, held by role (`held`: `case_roles`), not barred by separation of duties; each with the
    role it would be fired in, in `Process.transition_names` order. `history`: the case's rows
    from `separation_history`, when the caller has read them (None: read here, once, at the first
    approval step that needs them)."""
    out: list[tuple[T, str]] = []
    for name in proc.transition_names:
        t = proc.applicable(name, case)
        if t is None:
            continue
        role = next((r for r in t.roles if r in held), None)
        if role is None:
            continue
        if t.approval and user_id is not None and history is None:
            history = _history(session, case)
        if separation_blocks(session, case, t, user_id, history):
            continue
        out.append((t, role))
    return out


def available_transitions(session: Session, scope: Scope, user: User,
                          case: Case) -> tuple[list[str], dict[str, list[str]]]:
    """What the user may fire on the case now: names allowed by role, scope, separation of
    duties and state (guards aside, `permitted_transitions`), and {name: [unmet guard messages]}
    for those among them whose guards are unmet. The caller has loaded `case` in scope."""
    proc = process_of(case)
    names: list[str] = []
    blocked: dict[str, list[str]] = {}
    for t, role in permitted_transitions(session, case, proc, case_roles(scope, case, proc), user.id):
        names.append(t.name)
        ctx = _ctx(session=session, case=case, process=proc, user=user, scope=scope, role=role,
                   effective_date=clock.today(), today=clock.today(), transition=t)
        unmet = _unmet(ctx, t)
        if unmet:
            blocked[t.name] = unmet
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


def _creating_role(scope: Scope, proc: Process, probe, class_id: int | None = None) -> str | None:
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
        if _creating_role(scope, proc, probe) is None:
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
        raise Invalid(f"字段 process 必须是以下之一：{', '.join(REGISTRY)}", code="unknown_process",
                      details={"field": "process"})
    if student_id is not None and (isinstance(student_id, bool) or not isinstance(student_id, int)):
        raise Invalid("字段 student_id 必须是整数", details={"field": "student_id"})
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
    role = _creating_role(scope, proc, probe, class_id)
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
    ctx = _ctx(session=session, case=case, process=proc, data=parsed, effective_date=effective_date,
               today=effective_date)
    return _insert(session, case, proc, ctx, None)
