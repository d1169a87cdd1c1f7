"""When an unexcused mark opens an absence case (SPEC §3.1), as the system.

A day is *covered* when an absence case of the student already answers for it: an open one; a
closed one opened on or before the day and closed on or after it; or one converted into a
suspension/transfer_out that is still open (the child's absence is that case's business now). An
unexcused day that is not covered opens a case from that day.

Two openers, one rule. Attendance: `record_attendance` calls `unexcused_hook` (its default entry
of `workflow.absence.attendance.on_unexcused`) for each student marked unexcused. The daily sweep
(`workflow.absence.sweep`): `open_uncovered` opens at once the cases for the runs of absence it
finds without one. Both open under the school's lock (`workflow.absence.locks`), so one school's
openings happen one at a time. Nothing here commits.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Case, CaseHistory, Student
from workflow.absence.locks import lock_school
from workflow.cases.bulk import SystemOpen, SystemOpened, create_cases_system
from workflow.cases.engine import create_case_system
from workflow.errors import Conflict
from workflow.processes.absence import FINAL

ATTENDANCE_REASON = "考勤登记旷课"
SWEEP_REASON = "考勤登记旷课（每日清扫补建）"


def covered(session: Session, student_id: int, day: dt.date) -> bool:
    """Whether an absence case of the student already answers for an unexcused mark on `day`
    (see the module docstring)."""
    return (student_id, day) in covered_many(session, [(student_id, day)])


def covered_many(session: Session, pairs) -> set[tuple[int, dt.date]]:
    """The (student id, day) pairs of `pairs` an absence case already answers for (see the module
    docstring), in at most three statements whatever their number (the daily sweep asks for many
    at once, `covered` for one)."""
    pairs = list(pairs)
    students = sorted({sid for sid, _day in pairs})
    if not students:
        return set()
    rows = session.execute(select(Case.id, Case.student_id, Case.state, Case.is_open, Case.opened_on, Case.data)
                           .where(Case.student_id.in_(students), Case.process == "absence")).all()
    open_for = {r.student_id for r in rows if r.is_open}
    closed = {r.id: r for r in rows if not r.is_open}
    closed_on: dict[int, list[tuple[dt.date, dt.date]]] = {}
    if closed:
        for case_id, day in session.execute(select(CaseHistory.case_id, CaseHistory.effective_date).where(
                CaseHistory.case_id.in_(sorted(closed)), CaseHistory.to_state.in_(FINAL))):
            r = closed[case_id]
            closed_on.setdefault(r.student_id, []).append((r.opened_on, day))
    converted = [(r.student_id, i) for r in rows if r.state == "converted"
                 and isinstance(i := (r.data or {}).get("converted_case_id"), int)]
    if converted:
        still_open = set(session.scalars(select(Case.id).where(
            Case.id.in_(sorted({i for _sid, i in converted})), Case.is_open.is_(True))))
        # the child's absence is the open suspension/transfer_out's business now
        open_for |= {sid for sid, i in converted if i in still_open}
    return {(sid, day) for sid, day in pairs
            if sid in open_for or any(opened <= day <= until for opened, until in closed_on.get(sid, ()))}


def open_for_unexcused(session: Session, student_id: int, day: dt.date) -> Case | None:
    """Open an absence case (as the system, through the engine) for an unexcused mark on `day`
    unless one covers it; None when covered. Takes the school's lock first. Raises as
    `create_case_system`. Never commits."""
    school_id = session.scalar(select(Student.school_id).where(Student.id == student_id))
    if school_id is not None:
        # the sweep opens cases too: one school's openings happen one at a time
        lock_school(session, school_id)
    if covered(session, student_id, day):
        return None
    try:
        return create_case_system(session, "absence", student_id, {"reason": ATTENDANCE_REASON},
                                  effective_date=day)
    except Conflict as exc:
        # a teacher's POST /cases (which takes no school lock) opened one since `covered`: that
        # open case answers for the day
        if exc.code != "duplicate":
            raise
        return None


def unexcused_hook(session: Session, scope, user, student_id: int, day: dt.date, reported_at) -> int | None:
    """The attendance hook (`workflow.absence.attendance.UnexcusedHook`): `open_for_unexcused`,
    answering the id of the case it opened, or None."""
    case = open_for_unexcused(session, student_id, day)
    return case.id if case is not None else None


def open_uncovered(session: Session, opens: list[tuple[int, dt.date]]) -> list[SystemOpened | None]:
    """Open, all at once through the engine (`create_cases_system`), an absence case for each
    (student id, first day) of `opens` whose day is not covered, in order; an entry for a student
    opened by an earlier entry is covered by that case. Returns one entry per `opens`: the case
    opened, or None. The caller (the sweep) holds the schools' locks. Raises as
    `create_cases_system`. Never commits."""
    already = covered_many(session, opens)
    picked: list[int] = []
    opened: set[int] = set()
    for i, (sid, day) in enumerate(opens):
        # a case opened just now for the same child covers the day too
        if (sid, day) not in already and sid not in opened:
            picked.append(i)
            opened.add(sid)
    # The schools' advisory locks (which the attendance hook takes too) keep the system's
    # openings apart, but a teacher's POST /cases takes no lock: a child it opened a case for
    # since `covered_many` is skipped (existing_ok), never a duplicate nor a failed sweep.
    made = create_cases_system(session, "absence", [
        SystemOpen(student_id=opens[i][0], data={"reason": SWEEP_REASON}, effective_date=opens[i][1])
        for i in picked], existing_ok=True)
    out: list[SystemOpened | None] = [None] * len(opens)
    for i, case in zip(picked, made, strict=True):
        out[i] = case
    return out
