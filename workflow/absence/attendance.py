"""Recording daily attendance for a class (SPEC §3.1, API.md "Attendance").

A report lists the students who are not simply present; every other active student of the class
is written as `present`, so the sweep can tell "present" from "attendance not taken" (the latter
is an `AttendanceDay` row that is missing).

Opening absence cases is not done here. `record_attendance` calls each hook of `on_unexcused`
(by default the absence opener, `workflow.absence.opening.unexcused_hook`) for each student marked
`unexcused` and collects the case ids they return.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ATTENDANCE_STATUSES, AttendanceDay, AttendanceRecord, SchoolClass, Student, User
from workflow import clock
from workflow.absence import opening
from workflow.access.permissions import may_record_attendance
from workflow.access.scope import Scope, get_in_scope
from workflow.errors import Forbidden, Invalid
from workflow.org.calendar import SchoolCalendar

# Hooks for students marked unexcused: (session, scope, user, student_id, date, reported_at)
# -> id of a case opened for the student, or None. The absence opener is the one by default;
# the hook decides itself whether a case is needed (e.g. none if one is already open) and must
# only flush. A hook that raises aborts the whole report (the request rolls back).
UnexcusedHook = Callable[[Session, Scope, User, int, dt.date, dt.datetime], "int | None"]
on_unexcused: list[UnexcusedHook] = [opening.unexcused_hook]


@dataclass
class RecordResult:
    """What one attendance report wrote and what it triggered."""

    records: list[AttendanceRecord]
    unexcused_student_ids: list[int]
    opened_case_ids: list[int] = field(default_factory=list)
    attendance_day: AttendanceDay | None = None


def day_refusal(session: Session, klass: SchoolClass, date: dt.date) -> str | None:
    """Why the class's attendance may not be taken on `date`: "future", "not_school_day"
    (weekend, holiday or outside a term in the school's calendar), or None when it may."""
    if date > clock.today():
        return "future"
    if not SchoolCalendar.load(session, klass.school_id).is_school_day(date):
        return "not_school_day"
    return None


def record_attendance(session: Session, scope: Scope, user: User, *, class_id: int, date: dt.date,
                      reported_at: dt.datetime | None = None,
                      records: Sequence[dict]) -> RecordResult:
    """Record the class's marks for `date`; students not listed are present.

    `records` is a list of {"student_id", "status"}. Re-recording a day replaces the marks of the
    day: a mark whose status changes takes the new `reported_at`, an unchanged mark keeps the
    time it was first reported (so re-sending a list cannot move the 30-minute contact window).
    Writes/updates the class's `AttendanceDay`. Calls the `on_unexcused` hooks for every student
    marked unexcused.

    Raises NotFound (class out of scope), Forbidden (not a teacher of the class nor its school's
    principal/academic office), Invalid (date not a school day or in the future, unknown status,
    a student who is not an active student of the class, a student listed twice).
    """
    klass = get_in_scope(session, scope, SchoolClass, class_id)
    if not may_record_attendance(scope, klass):
        raise Forbidden("只有本班班主任、科任教师或本校教导处、校长可以登记考勤")
    refusal = day_refusal(session, klass, date)
    if refusal == "future":
        raise Invalid(f"字段 date：{date.isoformat()} 尚未到来，不能登记考勤", details={"field": "date"})
    if refusal == "not_school_day":
        raise Invalid(f"字段 date：{date.isoformat()} 不是上课日，不能登记考勤", details={"field": "date"})
    if reported_at is None:
        reported_at = clock.now()
    elif reported_at.tzinfo is None:
        raise Invalid("字段 reported_at 必须带时区", details={"field": "reported_at"})

    students = {
        s.id: s
        for s in session.scalars(
            select(Student).where(Student.class_id == klass.id, Student.status == "active")
        )
    }
    marks: dict[int, str] = {}
    for i, rec in enumerate(records):
        sid, status = rec.get("student_id"), rec.get("status")
        if status not in ATTENDANCE_STATUSES:
            raise Invalid(f"字段 records[{i}].status 必须是以下之一：{', '.join(ATTENDANCE_STATUSES)}",
                          details={"field": f"records[{i}].status"})
        if sid not in students:
            raise Invalid(f"字段 records[{i}].student_id：学生 {sid} 不是本班在校学生",
                          details={"field": f"records[{i}].student_id"})
        if sid in marks:
            raise Invalid(f"字段 records[{i}].student_id：学生 {sid} 重复出现",
                          details={"field": f"records[{i}].student_id"})
        marks[sid] = status

    existing = {
        r.student_id: r
        for r in session.scalars(
            select(AttendanceRecord).where(
                AttendanceRecord.student_id.in_(sorted(students)), AttendanceRecord.date == date
            )
        )
    } if students else {}
    written: dict[int, AttendanceRecord] = {}
    for sid in sorted(students):
        status = marks.get(sid, "present")
        row = existing.get(sid)
        if row is None:
            row = AttendanceRecord(student_id=sid, class_id=klass.id, date=date, status=status,
                                   reported_at=reported_at, recorded_by_id=user.id)
            session.add(row)
        elif row.status != status or row.class_id != klass.id:
            row.status = status
            row.class_id = klass.id
            row.reported_at = reported_at
            row.recorded_by_id = user.id
        written[sid] = row

    day = session.scalars(
        select(AttendanceDay).where(AttendanceDay.class_id == klass.id, AttendanceDay.date == date)
    ).first()
    if day is None:
        day = AttendanceDay(class_id=klass.id, date=date)
        session.add(day)
    day.taken_at = reported_at
    day.taken_by_id = user.id
    session.flush()

    unexcused = [sid for sid in sorted(students) if marks.get(sid) == "unexcused"]
    result = RecordResult(records=list(written.values()), unexcused_student_ids=unexcused,
                          attendance_day=day)
    for sid in unexcused:
        for hook in on_unexcused:
            # An unchanged unexcused mark keeps the time it was first reported.
            case_id = hook(session, scope, user, sid, date, written[sid].reported_at)
            if case_id is not None and case_id not in result.opened_case_ids:
                result.opened_case_ids.append(case_id)
    return result


def marks_for_day(session: Session, scope: Scope, *, class_id: int, date: dt.date):
    """The class's marks for `date` and its `AttendanceDay` (None if attendance was not taken).

    Raises NotFound when the class is out of scope.
    """
    klass = get_in_scope(session, scope, SchoolClass, class_id)
    rows = list(session.execute(
        select(AttendanceRecord, Student.name)
        .join(Student, Student.id == AttendanceRecord.student_id)
        .where(AttendanceRecord.class_id == klass.id, AttendanceRecord.date == date)
        .order_by(Student.name, Student.id)
    ).all())
    day = session.scalars(
        select(AttendanceDay).where(AttendanceDay.class_id == klass.id, AttendanceDay.date == date)
    ).first()
    return klass, rows, day
