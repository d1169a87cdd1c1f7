"""A sweep for a date earlier than a school's latest sweep (a catch-up of a missed day) does not
turn the due dates and overdue flags back to that older day (issue 11, item 7)."""
from __future__ import annotations

from sqlalchemy import select

from models.sweeps import SchoolSweep

from .ladder_helpers import (  # noqa: F401  (fixtures)
    absence_cases,
    day,
    fixed_clock_fixture,
    marks_fixture,
    snapshot,
    sweep,
    term_fixture,
)

U = "unexcused"


def latest(session, school_id):
    session.expire_all()
    return session.scalar(select(SchoolSweep.last_date).where(SchoolSweep.school_id == school_id))


def test_an_earlier_sweep_leaves_the_latest_overdue_flags(session, factory, world, marks):
    pupil = factory.student(world.klass, world.village)
    session.commit()
    marks.mark(pupil, day(0), U)
    marks.mark(pupil, day(1), "sick_leave")
    sweep(session, day(1))  # the day-1 visit was due on day 1 and not logged: overdue
    case = absence_cases(session, pupil)[0]
    flags = (case.state, case.due_on, case.is_overdue)
    assert flags[2] is True
    assert latest(session, world.branch.id) == day(1)
    before = snapshot(session)
    summary = sweep(session, day(0))  # as of day 0 the visit was not due yet
    case = absence_cases(session, pupil)[0]
    assert (case.state, case.due_on, case.is_overdue) == flags
    assert summary.as_dict() == {"opened": 0, "escalated": 0, "closed": 0, "overdue": 0}
    assert snapshot(session) == before  # nothing written at all
    assert latest(session, world.branch.id) == day(1)  # the latest stays the latest


def test_a_catch_up_sweep_still_escalates_and_the_next_sweep_writes_the_flags(session, factory, world, marks):
    """Marks entered late for a day before the latest sweep still move the case (effective that
    day); the flags follow at the next sweep of the latest date."""
    pupil = factory.student(world.klass, world.village)
    session.commit()
    sweep(session, day(2))  # nothing to do yet: the day-0..2 marks are not entered
    marks.mark(pupil, day(0), U)
    marks.mark(pupil, day(1), "sick_leave")
    marks.mark(pupil, day(2), "sick_leave")
    summary = sweep(session, day(0))  # the attendance hook opened the case; the sweep climbs it
    assert (summary.escalated, summary.overdue) == (1, 0)
    case = absence_cases(session, pupil)[0]
    assert (case.state, case.opened_on, case.is_overdue) == ("visit_1", day(0), False)
    sweep(session, day(2))
    case = absence_cases(session, pupil)[0]
    assert (case.state, case.is_overdue) == ("visit_1", True)


def test_a_first_sweep_for_a_past_day_writes_flags_and_records_the_day(session, factory, world, marks):
    pupil = factory.student(world.klass, world.village)
    session.commit()
    marks.mark(pupil, day(0), U)
    marks.mark(pupil, day(1), "sick_leave")
    assert latest(session, world.branch.id) is None
    sweep(session, day(1))
    assert absence_cases(session, pupil)[0].is_overdue
    sweep(session, day(3))
    assert latest(session, world.branch.id) == day(3)
