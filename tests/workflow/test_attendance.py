"""Recording attendance: who may, which days, what is written, what is handed to the ladder."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from models import AttendanceDay, AttendanceRecord, CalendarDay, Case
from workflow import clock
from workflow.absence import attendance
from workflow.access.scope import scope_for
from workflow.errors import Forbidden, Invalid, NotFound

D = dt.date
NOW = dt.datetime(2026, 10, 14, 10, 0, tzinfo=clock.SCHOOL_TZ)  # a Wednesday
SCHOOL_DAY = D(2026, 10, 13)  # Tuesday


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))


@pytest.fixture
def term(world, factory, session):
    t = factory.term(world.center, start=D(2026, 9, 1), end=D(2027, 1, 22))
    session.add_all([CalendarDay(term_id=t.id, date=D(2026, 10, d), kind="holiday") for d in range(1, 8)])
    session.add(CalendarDay(term_id=t.id, date=D(2026, 10, 10), kind="workday"))
    session.flush()
    return t


@pytest.fixture
def pupils(world, factory, term):
    """Three active students of the class and one suspended one."""
    active = [factory.student(world.klass, world.village) for _ in range(3)]
    factory.student(world.klass, world.village, status="suspended")
    return active


def record(session, user, klass, date=SCHOOL_DAY, records=(), reported_at=None):
    return attendance.record_attendance(session, scope_for(session, user), user, class_id=klass.id, date=date,
                                        reported_at=reported_at, records=list(records))


def marks(session, date=SCHOOL_DAY):
    return {r.student_id: r.status for r in session.scalars(
        select(AttendanceRecord).where(AttendanceRecord.date == date))}


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_students_not_listed_are_recorded_present(session, world, pupils):
    a, b, c = pupils
    result = record(session, world["teacher"], world.klass, records=[{"student_id": a.id, "status": "unexcused"}])
    assert marks(session) == {a.id: "unexcused", b.id: "present", c.id: "present"}
    assert result.unexcused_student_ids == [a.id]
    # the absence ladder's hook opens one case for the unexcused student
    opened = [session.get(Case, i) for i in result.opened_case_ids]
    assert [(c.process, c.student_id) for c in opened] == [("absence", a.id)]


def test_suspended_student_of_the_class_gets_no_mark(session, world, pupils, factory):
    record(session, world["teacher"], world.klass)
    assert len(marks(session)) == 3


def test_taking_attendance_marks_the_day_as_taken(session, world, pupils):
    record(session, world["teacher"], world.klass)
    day = session.scalars(select(AttendanceDay)).one()
    assert (day.class_id, day.date, day.taken_by_id) == (world.klass.id, SCHOOL_DAY, world["teacher"].id)


def test_re_recording_a_day_replaces_its_marks(session, world, pupils):
    a, b, c = pupils
    record(session, world["teacher"], world.klass,
           records=[{"student_id": a.id, "status": "unexcused"}, {"student_id": b.id, "status": "sick_leave"}])
    result = record(session, world["teacher"], world.klass, records=[{"student_id": b.id, "status": "personal_leave"}])
    assert marks(session) == {a.id: "present", b.id: "personal_leave", c.id: "present"}
    assert result.unexcused_student_ids == []
    assert count(session, AttendanceRecord) == 3
    assert count(session, AttendanceDay) == 1


def test_changed_mark_takes_new_report_time_and_unchanged_mark_keeps_first(session, world, pupils):
    a, b, _ = pupils
    first = NOW.replace(hour=8)
    second = NOW.replace(hour=9, minute=30)
    record(session, world["teacher"], world.klass, reported_at=first,
           records=[{"student_id": a.id, "status": "unexcused"}])
    record(session, world["teacher"], world.klass, reported_at=second,
           records=[{"student_id": a.id, "status": "unexcused"}, {"student_id": b.id, "status": "unexcused"}])
    times = {r.student_id: r.reported_at for r in session.scalars(select(AttendanceRecord))}
    assert times[a.id] == first
    assert times[b.id] == second
    assert session.scalars(select(AttendanceDay)).one().taken_at == second


def test_reported_at_defaults_to_now(session, world, pupils):
    record(session, world["teacher"], world.klass)
    assert {r.reported_at for r in session.scalars(select(AttendanceRecord))} == {NOW}


@pytest.mark.parametrize("date, reason", [
    (D(2026, 10, 11), "Sunday"),
    (D(2026, 10, 2), "National Day holiday on a Friday"),
    (D(2026, 8, 31), "before the term"),
])
def test_day_that_is_not_a_school_day_is_refused_and_nothing_is_written(session, world, pupils, date, reason):
    with pytest.raises(Invalid) as exc:
        record(session, world["teacher"], world.klass, date=date,
               records=[{"student_id": pupils[0].id, "status": "unexcused"}])
    assert "不是上课日" in exc.value.message and exc.value.details["field"] == "date"
    assert count(session, AttendanceRecord) == 0
    assert count(session, AttendanceDay) == 0


def test_make_up_saturday_can_be_recorded(session, world, pupils):
    record(session, world["teacher"], world.klass, date=D(2026, 10, 10))
    assert len(marks(session, D(2026, 10, 10))) == 3


def test_future_date_is_refused(session, world, pupils):
    with pytest.raises(Invalid) as exc:
        record(session, world["teacher"], world.klass, date=D(2026, 10, 15))
    assert exc.value.details["field"] == "date"


def test_student_of_another_class_is_refused_naming_the_record(session, world, pupils, factory):
    stranger = factory.student(world.klass2, world.village)
    with pytest.raises(Invalid) as exc:
        record(session, world["teacher"], world.klass, records=[
            {"student_id": pupils[0].id, "status": "sick_leave"},
            {"student_id": stranger.id, "status": "unexcused"}])
    assert exc.value.details["field"] == "records[1].student_id"
    assert exc.value.message == f"第 2 条考勤的学生（{stranger.id}）不是本班在校学生"
    assert count(session, AttendanceRecord) == 0


def test_student_listed_twice_is_refused(session, world, pupils):
    with pytest.raises(Invalid) as exc:
        record(session, world["teacher"], world.klass, records=[
            {"student_id": pupils[0].id, "status": "sick_leave"},
            {"student_id": pupils[0].id, "status": "unexcused"}])
    assert exc.value.details["field"] == "records[1].student_id"


def test_unknown_status_is_refused(session, world, pupils):
    with pytest.raises(Invalid) as exc:
        record(session, world["teacher"], world.klass, records=[{"student_id": pupils[0].id, "status": "late"}])
    assert exc.value.details["field"] == "records[0].status"


@pytest.mark.parametrize("who", ["teacher", "subject", "office", "principal"])
def test_teachers_of_the_class_and_school_office_may_record(session, world, pupils, who):
    record(session, world[who], world.klass)
    assert len(marks(session)) == 3


def test_homeroom_teacher_of_another_class_does_not_see_the_class(session, world, pupils, factory):
    teacher2 = factory.user("teacher2", "homeroom_teacher", klass=world.klass2)
    with pytest.raises(NotFound):
        record(session, teacher2, world.klass)
    with pytest.raises(NotFound):
        record(session, world["other_teacher"], world.klass)


def test_village_liaison_does_not_see_the_class(session, world, pupils):
    with pytest.raises(NotFound):
        record(session, world["liaison"], world.klass)


@pytest.mark.parametrize("who", ["team", "center_head", "center_office", "supervisor", "admin"])
def test_other_roles_who_see_the_class_may_not_record(session, world, pupils, who):
    with pytest.raises(Forbidden):
        record(session, world[who], world.klass)
    assert count(session, AttendanceRecord) == 0


def test_unexcused_hook_is_called_per_student_and_its_cases_are_returned(session, world, pupils, monkeypatch):
    a, b, c = pupils
    calls = []

    def opener(session_, scope, user, student_id, date, reported_at):
        calls.append((user.id, student_id, date, reported_at))
        return 1000 + student_id if student_id == a.id else None

    monkeypatch.setattr(attendance, "on_unexcused", [opener])
    first = NOW.replace(hour=8)
    result = record(session, world["teacher"], world.klass, reported_at=first, records=[
        {"student_id": a.id, "status": "unexcused"}, {"student_id": b.id, "status": "unexcused"},
        {"student_id": c.id, "status": "sick_leave"}])
    assert calls == [(world["teacher"].id, a.id, SCHOOL_DAY, first), (world["teacher"].id, b.id, SCHOOL_DAY, first)]
    assert result.opened_case_ids == [1000 + a.id]
