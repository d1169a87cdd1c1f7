"""Work queues (SPEC §3): the open cases a user can act on now, most urgent first, and the due
dates that decide what is urgent.

Due dates (`deadlines`):
- a date the daily sweep set on the case (`due_on`, `is_overdue`: the absence ladder's rungs);
- a suspension that is `suspended`: its end date; past it the academic office must `resume`
  or `extend` (SPEC §3.2);
- a transfer out that is `transferred`: 30 days after the filing, for the proof of arrival
  (SPEC §3.3, 假转学真辍学);
- a transfer in that is `submitted`: the school day after it was opened (SPEC §3.5);
- a monthly report still in `draft`: the 5th school day of the next month (SPEC §3.9);
- a suspected-dropout check that is `open`: the 10th school day after it was opened (SPEC §3.10).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from models import Case, CaseHistory, School, SchoolClass, Student, User
from workflow import clock
from workflow.absence import ladder
from workflow.absence.attendance import missing_days
from workflow.access import permissions
from workflow.access.permissions import transfer_in_school_ids
from workflow.access.scope import Scope, case_filter
from workflow.cases import engine, nextstep, serialize
from workflow.cases.definitions import Process
from workflow.org.calendar import CalendarBook
from workflow.org.transfers import awaiting_transfer_in
from workflow.processes import REGISTRY, dropout_check
from workflow.processes.transfer_out import ARRIVAL_CONFIRM_DAYS
from workflow.reporting import monthly

# The (process, state) pairs whose due date `deadlines` computes when the sweep set none.
COMPUTED_DUE = (("suspension", "suspended"), ("transfer_out", "transferred"), ("transfer_in", "submitted"),
                ("monthly_report", "draft"), ("dropout_check", "open"))
# Transitions that are not the work a case waits for. They are listed among a queued case's
# actions, but a case whose only available actions are these is not in the queue: otherwise
# every submitted case would sit in its submitter's queue (withdraw), every excluded student in
# the principal's (revoke), every transfer-in in the academic office's (change_class).
SECONDARY = nextstep.SECONDARY


# --- due dates ---------------------------------------------------------------------------------


def _filed_on(session: Session, case_ids: list[int]) -> dict[int, dt.date]:
    if not case_ids:
        return {}
    rows = session.execute(
        select(CaseHistory.case_id, func.max(CaseHistory.effective_date))
        .where(CaseHistory.case_id.in_(case_ids), CaseHistory.transition == "center_file")
        .group_by(CaseHistory.case_id))
    return dict(rows.all())


def _end_date(case: Case) -> dt.date | None:
    value = (case.data or {}).get("end")
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def deadlines(session: Session, cases: list[Case], *, today: dt.date,
              calendars: CalendarBook | None = None) -> dict[int, tuple[dt.date | None, bool]]:
    """case id -> (due date or None, overdue) for each case, with at most one query for filing
    dates and one calendar load per school. Closed cases have no due date."""
    calendars = calendars or CalendarBook(session)
    transferred = [c.id for c in cases if c.is_open and c.process == "transfer_out" and c.state == "transferred"]
    filed = _filed_on(session, transferred)
    out: dict[int, tuple[dt.date | None, bool]] = {}
    for case in cases:
        due: dt.date | None = None
        overdue = False
        if not case.is_open:
            pass
        elif case.due_on is not None:
            due, overdue = case.due_on, bool(case.is_overdue)
        elif case.process == "suspension" and case.state == "suspended":
            due = _end_date(case)
            overdue = due is not None and today > due
        elif case.process == "transfer_out" and case.state == "transferred" and case.id in filed:
            due = filed[case.id] + dt.timedelta(days=ARRIVAL_CONFIRM_DAYS)
            overdue = today > due
        elif case.process == "transfer_in" and case.state == "submitted":
            due = (calendars.for_school(case.school_id).next_school_day(case.opened_on)
                   or case.opened_on + dt.timedelta(days=1))
            overdue = today > due
        elif case.process == "monthly_report" and case.state == "draft":
            # stored when the report was opened: the 5th school day of the next month (SPEC §3.9)
            due = monthly.report_due(case)
            overdue = monthly.is_overdue(case, today)
        elif case.process == "dropout_check" and case.state == "open":
            # SPEC §3.10: closed with its outcome within 10 school days (动态销号)
            due = dropout_check.due_day(calendars.for_school(case.school_id), case.opened_on)
            overdue = today > due
        out[case.id] = (due, overdue)
    return out


def urgency_key(item: dict):
    """Overdue first, then the earliest due date (none last), then the oldest case."""
    due = item.get("due")
    return (not item.get("overdue"), due is None, due or "", item.get("opened_on") or "", item["id"])


# --- the queue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidates:
    """Per process: the states in which a role the user holds may fire something."""

    states: dict[str, set[str]]
    # process -> the states in which a duty of the user's roles is possible (empty: any state)
    duty_processes: dict[str, tuple[str, ...]]


def _candidates(scope: Scope) -> _Candidates:
    held = set(scope.roles)
    states: dict[str, set[str]] = {}
    duty: dict[str, tuple[str, ...]] = {}
    for name, proc in REGISTRY.items():
        for t in proc.transitions:
            # a stand-in's role may fire a blocked approval too (permissions.STAND_IN_ROLES)
            if held & set(t.roles) or held & set(permissions.STAND_IN_ROLES.get(t.name, ())):
                states.setdefault(name, set()).update(t.sources)
        if proc.duties is not None and (not proc.duty_roles or held & set(proc.duty_roles)):
            duty[name] = tuple(sorted(proc.duty_states))
    return _Candidates(states, duty)


_CLAUSES: dict[tuple, object] = {}
# The own roles of the approval steps a stand-in may fire (academic office, principal).
_STAND_IN_STEP_ROLES = tuple(sorted({r for proc in REGISTRY.values() for t in proc.transitions
                                     if t.name in permissions.STAND_IN_ROLES for r in t.roles}))


def _candidate_clause(cand: _Candidates):
    """The candidates' (process, state) condition, or None when there is none. SQL expressions
    are immutable: built once per set of roles (a handful), not per request, where building
    them cost about a tenth of the queue."""
    key = (tuple((p, tuple(sorted(s))) for p, s in sorted(cand.states.items())),
           tuple(sorted(cand.duty_processes.items())))
    if key not in _CLAUSES:
        clauses = [and_(Case.process == p, Case.state.in_(s)) for p, s in key[0]]
        clauses += [and_(Case.process == p, Case.state.in_(s)) if s else Case.process == p for p, s in key[1]]
        _CLAUSES[key] = or_(*clauses) if clauses else None
    return _CLAUSES[key]


def _duties(session: Session, proc: Process, case: Case, inputs: ladder.DutyInputs, today: dt.date) -> set[str]:
    duties = proc.duties
    if duties is None:
        return set()
    if duties is ladder.duties:
        # the absence ladder's inputs were read for all the queue's cases at once (those left
        # out can name none of the user's roles: `ladder.possible_duties`)
        return ladder.duties_from(session, case, inputs) if case.id in inputs.read else set()
    # the queue's day, not the clock's: a duty that starts at a deadline (the monthly report's)
    return nextstep.dated_duties(proc, case, today)


def build_queue(session: Session, scope: Scope, user: User, *, today: dt.date) -> list[dict]:
    """The open cases in `scope` on which `user` can act now, most urgent first.

    A case is in the queue when a transition other than the SECONDARY ones is available to the
    user by role, scope, separation of duties and state (`engine.permitted_transitions`, whether
    or not its guards are met yet), or when the process declares a duty (`Process.duties(case)`
    -> role codes, e.g. who must visit on this rung of the absence ladder) that the user holds
    for the case (the absence ladder's visits; the center school's duty on a branch school's
    overdue monthly report). Each item is the case summary plus `due`, `overdue`, `actions`
    (transition names), `period` (a monthly report's month, else None) and `reason` (a Chinese
    line saying what to do; never the due date, which the page shows once beside it).
    A county supervisor's queue holds the reports waiting for the county's review steps.

    One query loads the candidates (open cases in scope, in a state where one of the user's
    roles may act), with student and class, then their schools by id; the separation-of-duties
    history and the absence duties' inputs are then read for all candidates at once (a fixed
    number of queries, whatever the queue's length).
    """
    if user is None or not scope.roles:
        return []
    cand = _candidates(scope)
    where = _candidate_clause(cand)
    if where is None:
        return []
    cases = list(session.scalars(
        select(Case)
        .where(case_filter(scope), Case.is_open.is_(True), where)
        .options(selectinload(Case.student).joinedload(Student.klass), selectinload(Case.klass))
        .order_by(Case.id)))
    # the schools by id in one query, into the identity map (`case.school` then needs no SQL): a
    # joinedload here cost more in SQLAlchemy's load-path bookkeeping than the query itself
    school_ids = sorted({c.school_id for c in cases})
    if school_ids:
        session.scalars(select(School).where(School.id.in_(school_ids))).all()
    due_by_case = deadlines(session, cases, today=today)
    held_by_case = {}
    for case in cases:
        proc = REGISTRY.get(case.process)
        if proc is not None:
            held_by_case[case.id] = engine.case_roles(scope, case, proc)
    history = engine.separation_history(session, [c.id for c in cases if c.process in cand.states])
    # who holds the approvers' roles at each school: whether a stand-in may act (one query)
    holders = (permissions.school_role_holders(session, school_ids, _STAND_IN_STEP_ROLES)
               if scope.has_role(*{r for rs in permissions.STAND_IN_ROLES.values() for r in rs}) else {})
    # the ladder's inputs only for the cases where a role the user holds could have a duty
    inputs = ladder.duty_inputs(session, [
        c for c in cases if held_by_case.get(c.id) and REGISTRY[c.process].duties is ladder.duties
        and ladder.possible_duties(session, c) & held_by_case[c.id]])
    facts = nextstep.step_facts(session, [c for c in cases if c.id in inputs.read], inputs)
    now = clock.now()
    items = []
    for case in cases:
        proc = REGISTRY.get(case.process)
        if proc is None:
            continue
        held = held_by_case[case.id]
        if not held:
            continue
        # what the case page offers, without evaluating guards (the queue says there is work;
        # the case page says what is still missing)
        permitted = ([(t.name, role) for t, role in engine.permitted_transitions(
                         session, case, proc, held, user.id, history.get(case.id, []), holders)]
                     if case.process in cand.states else [])
        actions = [name for name, _role in permitted]
        duty = bool(_duties(session, proc, case, inputs, today) & held)
        if not duty and all(a in SECONDARY for a in actions):
            continue
        due, overdue = due_by_case[case.id]
        item = serialize.case_summary(case, due=due, overdue=overdue)
        item["actions"] = actions
        # a school-and-month case (the monthly report) says which month
        item["period"] = case.period
        # what to do (the case page's line too, workflow.cases.nextstep); the page shows `due` beside it
        item["reason"] = nextstep.next_step(proc, case, actions=permitted, held=held,
                                            facts=facts.get(case.id) if duty else None,
                                            now=now, duty=duty)
        items.append(item)
    items.sort(key=urgency_key)
    return items


# --- work that is not a case: missing attendance, incoming transfers (issue 12) ------------------


def missing_attendance_items(session: Session, scope: Scope, *, today: dt.date,
                             calendars: CalendarBook | None = None) -> list[dict]:
    """The homeroom teacher's school days of the current term, before today, on which a class
    of theirs had no attendance taken (the rule oversight counts:
    `workflow.absence.attendance.missing_days`): one item per class and day, newest first, each
    {"class_id", "class_name", "school_name", "date"}. Such a day pauses the absence ladder
    (SPEC §3.1) until someone takes the roll for it. Today is not missing yet (the queue page
    reminds of it separately)."""
    class_ids = sorted(scope.roles.get("homeroom_teacher", frozenset()))
    if not class_ids:
        return []
    classes = list(session.scalars(select(SchoolClass).where(SchoolClass.id.in_(class_ids))
                                   .options(selectinload(SchoolClass.school))))
    book = calendars or CalendarBook(session)
    items = []
    for klass in classes:
        term = book.for_school(klass.school_id).term_for(today)
        if term is None:
            continue
        found = missing_days(session, [(klass.id, klass.school_id, klass.school_year)], term.start,
                             today - dt.timedelta(days=1), calendars=book)
        items += [{"class_id": klass.id, "class_name": klass.name,
                   "school_name": klass.school.name if klass.school else "", "date": day}
                  for day in found.get(klass.id, [])]
    items.sort(key=lambda i: (i["date"], -i["class_id"]), reverse=True)
    return items


def incoming_transfer_items(session: Session, scope: Scope) -> list[dict]:
    """The children a sister school transferred to a school whose academic office the user is,
    with no transfer-in opened yet (`workflow.org.transfers.awaiting_transfer_in`): each
    {"student_id", "name", "origin_school"}. The office opens the transfer-in from the item."""
    school_ids = transfer_in_school_ids(scope)
    if not school_ids:
        return []
    return [{"student_id": st.id, "name": st.name, "origin_school": st.school.name if st.school else ""}
            for st in awaiting_transfer_in(session, school_ids)]
