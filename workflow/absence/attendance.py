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
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import ATTENDANCE_STATUSES, AttendanceDay, AttendanceRecord, Case, SchoolClass, Student, User
from workflow import clock
from workflow.absence import opening
from workflow.access.permissions import may_record_attendance
from workflow.access.scope import Scope, get_in_scope
from workflow.errors import N_, Forbidden, Invalid
from workflow.org.calendar import CalendarBook, SchoolCalendar

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


@dataclass
class RosterRow:
    """One child on the roster: the day's mark (None if not taken yet) and the open absence case."""

    student: Student
    mark: str | None
    case: Case | None


def open_absences(session: Session, student_ids) -> dict[int, Case]:
    """student id -> the student's open absence case (one query). Students with one must be
    marked explicitly on the roster: a default 出勤 would end their run at the next sweep."""
    ids = sorted(student_ids)
    if not ids:
        return {}
    rows = session.scalars(select(Case).where(Case.student_id.in_(ids), Case.process == "absence",
                                              Case.is_open.is_(True)).order_by(Case.id))
    return {c.student_id: c for c in rows}


def roster(session: Session, scope: Scope, *, class_id: int, date: dt.date) -> list[RosterRow]:
    """The class's active students for the roster of `date`: those with an open absence case
    first (oldest case first: the longest absence leads), then everyone by name.

    Raises NotFound when the class is out of scope."""
    klass = get_in_scope(session, scope, SchoolClass, class_id)
    students = list(session.scalars(select(Student).where(Student.class_id == klass.id, Student.status == "active")
                                    .order_by(Student.name, Student.id)))
    marks = dict(session.execute(select(AttendanceRecord.student_id, AttendanceRecord.status).where(
        AttendanceRecord.class_id == klass.id, AttendanceRecord.date == date)).all())
    cases = open_absences(session, [s.id for s in students])
    rows = [RosterRow(s, marks.get(s.id), cases.get(s.id)) for s in students]
    rows.sort(key=lambda r: (r.case is None, r.case.opened_on if r.case else dt.date.min,
                             r.case.id if r.case else 0))
    return rows


def record_attendance(session: Session, scope: Scope, user: User, *, class_id: int, date: dt.date,
                      reported_at: dt.datetime | None = None,
                      records: Sequence[dict], explicit: Collection[int] | None = None) -> RecordResult:
    """Record the class's marks for `date`; students not listed are present.

    `records` is a list of {"student_id", "status"}. Re-recording a day replaces the marks of the
    day: a mark whose status changes takes the new `reported_at`, an unchanged mark keeps the
    time it was first reported (so re-sending a list cannot move the 30-minute contact window).
    Writes/updates the class's `AttendanceDay`. Calls the `on_unexcused` hooks for every student
    marked unexcused.

    `explicit` (the roster page): the students the user marked by hand, `present` included.
    Every student with an open absence case must be among them, so that leaving such a child on
    the default 出勤 cannot close the case as returned at the next sweep (issue 12). None (the
    JSON API, whose contract is "not listed = present") skips this check.

    Raises NotFound (class out of scope), Forbidden (not a teacher of the class nor its school's
    principal/academic office), Invalid (date not a school day or in the future, unknown status,
    a student who is not an active student of the class, a student listed twice, a student with
    an open absence case not in `explicit`).
    """
    klass = get_in_scope(session, scope, SchoolClass, class_id)
    if not may_record_attendance(scope, klass):
        raise Forbidden(N_("只有本班班主任、科任教师或本校教导处、校长可以登记考勤"))
    refusal = day_refusal(session, klass, date)
    if refusal == "future":
        raise Invalid(N_("%(date)s 尚未到来，不能登记考勤"), details={"field": "date"}, date=date.isoformat())
    if refusal == "not_school_day":
        raise Invalid(N_("%(date)s 不是上课日，不能登记考勤"), details={"field": "date"}, date=date.isoformat())
    if reported_at is None:
        reported_at = clock.now()
    elif reported_at.tzinfo is None:
        raise Invalid(N_("报告时间必须带时区"), details={"field": "reported_at"})

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
            raise Invalid(N_("第 %(n)s 条考勤的状态必须是以下之一：%(choices)s"),
                          details={"field": f"records[{i}].status"}, n=i + 1, choices=', '.join(ATTENDANCE_STATUSES))
        if sid not in students:
            raise Invalid(N_("第 %(n)s 条考勤的学生（%(sid)s）不是本班在校学生"),
                          details={"field": f"records[{i}].student_id"}, n=i + 1, sid=sid)
        if sid in marks:
            raise Invalid(N_("第 %(n)s 条考勤的学生（%(sid)s）重复出现"),
                          details={"field": f"records[{i}].student_id"}, n=i + 1, sid=sid)
        marks[sid] = status
    if explicit is not None:
        unmarked = [students[sid].name for sid in open_absences(session, students) if sid not in explicit]
        if unmarked:
            raise Invalid(N_("请为有进行中缺勤案件的学生逐一选择考勤（出勤也要点选）：%(names)s"),
                          details={"field": "records"}, names="、".join(unmarked))

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


def missing_days(session: Session, classes, start: dt.date, end: dt.date, *,
                 calendars: CalendarBook | None = None) -> dict[int, list[dt.date]]:
    """class id -> the school days from `start` to `end` (inclusive, in order) on which the
    class's attendance was not taken (no `AttendanceDay`); classes without such a day are left
    out. `classes`: (id, school id, school year) rows. A class counts only on the school days of
    its own school year (last year's classes are not asked for this year's roll). The one rule
    for "missing attendance" (SPEC §3.1): oversight counts these, the homeroom teacher's queue
    lists them."""
    classes = list(classes)
    if not classes or start > end:
        return {}
    taken = set(session.execute(select(AttendanceDay.class_id, AttendanceDay.date).where(
        AttendanceDay.class_id.in_([c[0] for c in classes]), AttendanceDay.date.between(start, end))).all())
    book = calendars or CalendarBook(session)
    school_days: dict[int, list[tuple[dt.date, str | None]]] = {}
    out: dict[int, list[dt.date]] = {}
    for class_id, school_id, school_year in classes:
        if school_id not in school_days:
            cal = book.for_school(school_id)
            school_days[school_id] = [(d, cal.term_for(d).school_year) for d in cal.school_days_between(start, end)]
        missing = [d for d, year in school_days[school_id] if year == school_year and (class_id, d) not in taken]
        if missing:
            out[class_id] = missing
    return out


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
