"""The absence ladder as a table (SPEC §3.1): absence patterns → the case's rung and overdue flag
after each daily sweep; every sweep run twice (the second changes nothing); a sweep killed between
schools and run again; two sweeps of the same date at once (PostgreSQL)."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import CaseHistory
from workflow.absence.ladder import duties
from workflow.absence.sweep import run_sweep, sweep_school

from .ladder_helpers import (  # noqa: F401  (fixtures)
    absence_cases,
    add_holiday,
    day,
    fixed_clock_fixture,
    history_count,
    log_visit,
    marks_fixture,
    snapshot,
    sweep,
    term_fixture,
)

U, P, S, L, NOT_TAKEN, NO_SCHOOL = "unexcused", "present", "sick_leave", "personal_leave", "-", None
VISITS = {  # who logs the visit of a step: (kind, recorder, participants)
    "team": ("home_visit", "teacher", ("team",)),
    "principal": ("home_visit", "teacher", ("principal",)),
    "joint": ("village_joint", "liaison", ("liaison",)),  # a visit names at least one participant
}

# (day offset from Monday 2026-11-02, mark, visit logged that day, state after the sweep, overdue)
PATTERNS = {
    "consecutive_days": [
        (0, U, None, "visit_1", False),
        (1, U, None, "visit_2", True),   # the day-1 visit was due on day 2 and never logged
        (2, U, None, "visit_3", True),
        (3, U, None, "village_joint", True),
        (4, U, None, "village_joint", True),
    ],
    "weekend_in_between": [
        (3, U, None, "visit_1", False),  # Thursday
        (4, U, None, "visit_2", True),   # Friday
        (5, NO_SCHOOL, None, "visit_2", True),
        (6, NO_SCHOOL, None, "visit_2", True),
        (7, U, None, "visit_3", True),   # Monday: the third school day
        (8, P, None, "returned", False),
    ],
    "holiday_in_between": [            # Wednesday 2026-11-11 is a holiday
        (8, U, None, "visit_1", False),
        (9, NO_SCHOOL, None, "visit_1", False),  # the visit is due on the next *school* day, Thursday
        (10, U, None, "visit_2", True),
        (11, U, None, "visit_3", True),
    ],
    "sick_leave_pauses": [
        (0, U, None, "visit_1", False),
        (1, S, None, "visit_1", True),   # paused: neither ended nor extended; the visit is late
        (2, U, None, "visit_2", True),
        (3, U, None, "visit_3", True),
    ],
    "personal_leave_pauses": [
        (0, U, "team", "visit_1", False),
        (1, L, None, "visit_1", False),  # the day-1 visit was logged: nothing is late
        (2, U, "team", "visit_2", False),
    ],
    "attendance_not_taken_pauses": [
        (0, U, None, "visit_1", False),
        (1, NOT_TAKEN, None, "visit_1", True),
        (2, U, None, "visit_2", True),
    ],
    "visits_logged_on_time": [
        (0, U, "team", "visit_1", False),
        (1, U, "team", "visit_2", False),
        (2, U, "principal", "visit_3", False),
        (3, U, None, "village_joint", False),  # the joint visit is due Friday
        (4, U, None, "village_joint", True),
        (7, U, "joint", "village_joint", False),
    ],
    "wrong_participants_do_not_count": [
        (0, U, "principal", "visit_1", False),  # principal instead of a team member
        (1, U, None, "visit_2", True),
    ],
}


@pytest.mark.parametrize("pattern", list(PATTERNS), ids=list(PATTERNS))
def test_absence_pattern_sets_rung_and_overdue_after_each_daily_sweep(session, factory, world, term, marks,
                                                                      pattern):
    add_holiday(session, term, day(9))
    pupil = factory.student(world.klass, world.village)
    session.commit()
    for offset, mark, visit, state, overdue in PATTERNS[pattern]:
        date = day(offset)
        if mark not in (NO_SCHOOL, NOT_TAKEN):
            marks.mark(pupil, date, mark)
        if visit:
            kind, recorder, participants = VISITS[visit]
            log_visit(session, world, absence_cases(session, pupil)[-1], date, kind, recorder, participants)
        sweep(session, date)
        case = absence_cases(session, pupil)[-1]
        assert (case.state, case.is_overdue) == (state, overdue), f"{pattern} after {date}"

        before, versions = history_count(session), [c.version for c in absence_cases(session, pupil)]
        again = sweep(session, date)
        assert again.as_dict() == {"opened": 0, "escalated": 0, "closed": 0, "overdue": 0}
        assert history_count(session) == before
        assert [c.version for c in absence_cases(session, pupil)] == versions


def test_each_rung_is_its_own_history_row_dated_the_day_it_was_reached(session, factory, world, marks):
    pupil = factory.student(world.klass, world.village)
    session.commit()
    for offset in range(4):
        marks.mark(pupil, day(offset), U)
    sweep(session, day(3))  # the daily sweeps of days 0-2 never ran
    case = absence_cases(session, pupil)[0]
    rows = session.execute(select(CaseHistory.transition, CaseHistory.to_state, CaseHistory.effective_date,
                                  CaseHistory.role).where(CaseHistory.case_id == case.id)
                           .order_by(CaseHistory.id)).all()
    assert [tuple(r) for r in rows] == [
        ("create", "reported", day(0), "system"),
        ("escalate", "visit_1", day(0), "system"),
        ("escalate", "visit_2", day(1), "system"),
        ("escalate", "visit_3", day(2), "system"),
        ("escalate", "village_joint", day(3), "system"),
    ]


def test_day_three_escalation_is_reported_to_the_academic_office(session, factory, world, marks):
    pupil = factory.student(world.klass, world.village)
    session.commit()
    for offset in range(3):
        marks.mark(pupil, day(offset), U)
        sweep(session, day(offset))
    case = absence_cases(session, pupil)[0]
    comment = session.scalar(select(CaseHistory.comment).where(
        CaseHistory.case_id == case.id, CaseHistory.to_state == "visit_3"))
    assert "教导处备案" in comment


def test_escalation_never_goes_down_when_a_mark_is_corrected(session, factory, world, marks):
    pupil = factory.student(world.klass, world.village)
    session.commit()
    marks.mark(pupil, day(0), U)
    marks.mark(pupil, day(1), U)
    sweep(session, day(1))
    marks.mark(pupil, day(1), S)  # the teacher corrects Tuesday to sick leave
    summary = sweep(session, day(1))
    assert absence_cases(session, pupil)[0].state == "visit_2"
    assert summary.escalated == 0


def test_present_then_absent_again_opens_a_new_case(session, factory, world, marks):
    pupil = factory.student(world.klass, world.village)
    session.commit()
    marks.mark(pupil, day(0), U)
    sweep(session, day(0))
    marks.mark(pupil, day(1), P)
    marks.mark(pupil, day(2), U)
    summary = sweep(session, day(2))  # the sweep of day 1 never ran
    first, second = absence_cases(session, pupil)
    assert (first.state, second.state) == ("returned", "visit_1")
    assert second.opened_on == day(2)
    closing = session.scalar(select(CaseHistory.effective_date).where(
        CaseHistory.case_id == first.id, CaseHistory.transition == "mark_returned"))
    assert closing == day(1)
    assert (summary.closed, summary.escalated) == (1, 1)


def test_missing_attendance_is_recorded_on_the_case_and_is_the_homeroom_teachers_duty(session, factory, world,
                                                                                       marks):
    pupil = factory.student(world.klass, world.village)
    session.commit()
    marks.mark(pupil, day(0), U)
    log_visit(session, world, absence_cases(session, pupil)[0], day(0))
    summary = sweep(session, day(1))  # Tuesday's attendance was not taken
    case = absence_cases(session, pupil)[0]
    assert case.data["missing_attendance_days"] == [day(1).isoformat()]
    assert (world.klass.id, day(1)) in summary.missing_attendance
    assert "homeroom_teacher" in duties(case)
    marks.mark(pupil, day(1), U)
    sweep(session, day(1))
    case = absence_cases(session, pupil)[0]
    assert "missing_attendance_days" not in case.data
    assert case.state == "visit_2"


def test_sweep_opens_a_case_the_attendance_hook_missed_from_the_start_of_the_run(session, factory, world, marks,
                                                                                  monkeypatch):
    from workflow.absence import attendance

    monkeypatch.setattr(attendance, "on_unexcused", [])  # e.g. marks imported in bulk
    pupil = factory.student(world.klass, world.village)
    session.commit()
    marks.mark(pupil, day(0), U)
    marks.mark(pupil, day(1), S)
    marks.mark(pupil, day(2), U)
    assert absence_cases(session, pupil) == []
    summary = sweep(session, day(2))
    [case] = absence_cases(session, pupil)
    assert (case.opened_on, case.state, summary.opened) == (day(0), "visit_2", 1)


# --- restart and concurrency -------------------------------------------------------------------


def _two_schools(session, factory, world, marks):
    """Two absent pupils in each of two schools, absent Monday to Wednesday."""
    other_class = factory.klass(world.branch2, 5, "五年级1班")
    pupils = [factory.student(world.klass, world.village, name=f"东坡{i}") for i in range(2)]
    pupils += [factory.student(other_class, world.village2, name=f"西岭{i}") for i in range(2)]
    session.commit()
    for offset in range(3):
        marks.record(world.klass, day(offset), {p: U for p in pupils[:2]})
        marks.record(other_class, day(offset), {p: U for p in pupils[2:]})
    return pupils


EXPECTED_STATES = {"东坡0": "visit_3", "东坡1": "visit_3", "西岭0": "visit_3", "西岭1": "visit_3"}


@pytest.mark.parametrize("crash", [False, True], ids=["clean", "killed_after_first_school"])
def test_a_sweep_killed_between_schools_and_rerun_reaches_the_same_end_state(session, factory, world, marks,
                                                                              crash):
    _two_schools(session, factory, world, marks)
    if crash:
        sweep_school(session, world.branch.id, day(2))
        session.commit()
        sweep_school(session, world.branch2.id, day(2))
        session.rollback()  # killed before the second school committed
    sweep(session, day(2))
    snap = snapshot(session)
    assert {name: state for name, process, state, *_ in snap} == EXPECTED_STATES
    for name, *_rest, history in snap:
        assert [h[0] for h in history] == ["create", "escalate", "escalate", "escalate"], name
    # the same end state whichever way it was reached: compare with a clean run's history
    assert [h[3] for h in snap[0][-1]] == [day(0), day(0), day(1), day(2)]


def test_two_sweeps_of_the_same_date_at_once_escalate_each_case_exactly_once(app, session, factory, world, marks,
                                                                           db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite has a single writer and no advisory locks)")
    pupils = _two_schools(session, factory, world, marks)
    session.commit()
    engine = db.engine
    barrier = threading.Barrier(2)
    results, errors = [], []

    def worker():
        try:
            with Session(engine) as own:
                barrier.wait(timeout=30)
                results.append(run_sweep(own, date=day(2), commit=own.commit))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(r.escalated for r in results) == len(pupils)
    for pupil in pupils:
        [case] = absence_cases(session, pupil)
        escalations = session.scalar(select(func.count(CaseHistory.id)).where(
            CaseHistory.case_id == case.id, CaseHistory.transition == "escalate"))
        assert (case.state, escalations) == ("visit_3", 3)
