"""The school calendar: weekends, holidays, make-up days, inheritance from the center school."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from models import CalendarDay
from workflow.org import calendar

D = dt.date


def add_days(session, term, holidays=(), workdays=()):
    for d in holidays:
        session.add(CalendarDay(term_id=term.id, date=d, kind="holiday"))
    for d in workdays:
        session.add(CalendarDay(term_id=term.id, date=d, kind="workday"))
    session.flush()


@pytest.fixture
def center_term(world, factory, session):
    """Term 1 of the center school: National Day week off, two Saturdays made up (调休)."""
    term = factory.term(world.center, start=D(2026, 9, 1), end=D(2027, 1, 22))
    add_days(session, term, holidays=[D(2026, 10, d) for d in range(1, 8)],
             workdays=[D(2026, 9, 26), D(2026, 10, 10)])
    return term


def test_weekday_inside_term_is_a_school_day(session, world, center_term):
    assert calendar.is_school_day(session, world.center.id, D(2026, 9, 1))  # Tuesday


def test_weekend_is_not_a_school_day(session, world, center_term):
    assert not calendar.is_school_day(session, world.center.id, D(2026, 9, 5))  # Saturday
    assert not calendar.is_school_day(session, world.center.id, D(2026, 9, 6))  # Sunday


def test_weekday_holiday_is_not_a_school_day(session, world, center_term):
    assert not calendar.is_school_day(session, world.center.id, D(2026, 10, 1))  # Thursday, 国庆


def test_weekend_make_up_day_is_a_school_day(session, world, center_term):
    assert calendar.is_school_day(session, world.center.id, D(2026, 9, 26))  # Saturday, 调休


def test_days_outside_every_term_are_not_school_days(session, world, center_term):
    assert not calendar.is_school_day(session, world.center.id, D(2026, 8, 31))  # Monday before
    assert not calendar.is_school_day(session, world.center.id, D(2027, 1, 25))  # Monday after
    assert calendar.effective_term(session, world.center.id, D(2026, 8, 31)) is None


def test_school_without_any_calendar_has_no_school_days(session, world):
    assert not calendar.is_school_day(session, world.other_branch.id, D(2026, 9, 1))
    assert calendar.next_school_day(session, world.other_branch.id, D(2026, 9, 1)) is None


def test_branch_without_own_calendar_follows_its_center(session, world, center_term):
    assert calendar.effective_term(session, world.branch.id, D(2026, 9, 1)).id == center_term.id
    assert calendar.is_school_day(session, world.branch.id, D(2026, 9, 26))
    assert not calendar.is_school_day(session, world.branch.id, D(2026, 10, 2))
    # A branch of another center does not inherit this center's calendar.
    assert not calendar.is_school_day(session, world.other_branch.id, D(2026, 9, 1))


def test_branch_own_term_replaces_the_center_term(session, world, factory, center_term):
    own = factory.term(world.branch, start=D(2026, 9, 7), end=D(2027, 1, 15))
    add_days(session, own, holidays=[D(2026, 10, 1), D(2026, 10, 2)])
    assert calendar.effective_term(session, world.branch.id, D(2026, 10, 1)).id == own.id
    assert not calendar.is_school_day(session, world.branch.id, D(2026, 9, 1))  # before its own start
    assert calendar.is_school_day(session, world.branch.id, D(2026, 10, 5))  # center's holiday only
    assert not calendar.is_school_day(session, world.branch.id, D(2026, 9, 26))  # center's make-up day
    assert calendar.is_school_day(session, world.center.id, D(2026, 9, 1))  # the center is unchanged


def test_branch_with_only_first_term_follows_center_in_second(session, world, factory, center_term):
    factory.term(world.branch, start=D(2026, 9, 1), end=D(2027, 1, 22))
    center_t2 = factory.term(world.center, start=D(2027, 2, 22), end=D(2027, 7, 2), term=2)
    assert calendar.effective_term(session, world.branch.id, D(2027, 3, 1)).id == center_t2.id
    assert calendar.is_school_day(session, world.branch.id, D(2027, 3, 1))


def test_school_days_between_skips_weekends_and_holidays_and_keeps_make_up_days(session, world, center_term):
    days = calendar.school_days_between(session, world.branch.id, D(2026, 9, 28), D(2026, 10, 11))
    assert days == [D(2026, 9, 28), D(2026, 9, 29), D(2026, 9, 30), D(2026, 10, 8), D(2026, 10, 9),
                    D(2026, 10, 10)]


def test_next_school_day_jumps_over_the_holiday_week(session, world, center_term):
    assert calendar.next_school_day(session, world.branch.id, D(2026, 9, 30)) == D(2026, 10, 8)
    assert calendar.next_school_day(session, world.branch.id, D(2026, 10, 9)) == D(2026, 10, 10)


def test_next_school_day_crosses_into_the_next_term_or_ends(session, world, factory, center_term):
    assert calendar.next_school_day(session, world.branch.id, D(2027, 1, 22)) is None
    factory.term(world.center, start=D(2027, 2, 22), end=D(2027, 7, 2), term=2)
    assert calendar.next_school_day(session, world.branch.id, D(2027, 1, 22)) == D(2027, 2, 22)


def test_loaded_calendar_answers_many_questions_without_querying_again(db, session, world, center_term):
    cal = calendar.SchoolCalendar.load(session, world.branch.id)
    statements = []

    def count(*_args):
        statements.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        school_days = [d for d in (D(2026, 9, 1) + dt.timedelta(n) for n in range(150)) if cal.is_school_day(d)]
        cal.next_school_day(D(2026, 9, 30))
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert statements == []
    assert D(2026, 10, 10) in school_days and D(2026, 10, 1) not in school_days


def test_calendar_book_loads_each_school_once(session, world, center_term):
    book = calendar.CalendarBook(session)
    assert book.for_school(world.branch.id) is book.for_school(world.branch.id)
    assert book.for_school(world.branch.id).is_school_day(D(2026, 9, 26))
