"""Demo absences lived day by day: the morning roll, the rung visits, the evening sweep.

The demo's absence cases must be what the daily sweep (`workflow.absence.sweep`, SPEC §3.1)
makes of the attendance, so the sweep makes them. A case is opened by hand on its first day (as
a teacher reports a child who left without leave); the class's roll of each school day of the
child's absence is taken with the child marked unexcused; each rung's visit is logged, by the
people the ladder names, on the day the case reaches the rung (except the last day's rung, whose
visit is still due); then the real sweep runs for the school and the last day of absence and
climbs the rungs, each with the day the count reached it as its effective date. A child who
comes back is marked present on the roll and the sweep for that day closes the case
(`mark_returned`). People's steps (confirm a dropout, convert) come after, on the day they
happen.

`workflow.demo.cases.build_demo_cases` then sweeps every school once for the day before the
demo's today (`sweep_demo_schools`): the sweep's end state depends only on the marks, visits and
calendar up to its date, so that one run leaves the due dates and overdue flags the nightly runs
would have left, and records the sweep as run (the oversight page shows no missed sweep). The
demo's today itself is not swept: it is the morning of that day.

Around the stories a school takes the roll every school day (`take_everyday_rolls`): every class
of the current school year has a roll for every school day of the current term up to yesterday,
everyone on the class's roll that day present, but for one deliberate gap so the feature shows —
teacher1's class (东岭村小学 一年级1班) has no roll on the latest school day before today whose roll
no story took (the last school day's roll belongs to its 第一次家访 story, so usually the one
before).
teacher1's 我的待办 lists that one day and oversight counts it for 东岭村小学; no other school
misses a day. Flushes, never commits. No Flask.
"""
from __future__ import annotations

import datetime as dt
from typing import Protocol

from sqlalchemy import String, and_, exists, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from models import AttendanceDay, AttendanceRecord, Case, Enrolment, SchoolClass, Student, Term, User
from workflow import clock
from workflow.absence import attendance, ladder
from workflow.absence.sweep import schools_to_sweep, sweep_school, sweep_schools
from workflow.access.scope import Scope
from workflow.demo.township import DemoWorld
from workflow.org.calendar import SchoolCalendar


class Builder(Protocol):
    """What these stories use of `workflow.demo.cases._Builder` (which imports this module)."""

    session: Session
    world: DemoWorld
    school_no: dict[int, int]

    def scope(self, user: User) -> Scope: ...

    def rung_visit(self, case: Case, state: str, day: dt.date) -> None: ...


ROLL_TIME = dt.time(8, 0)  # when the morning roll is reported (the 30-minute contact window)


def roll_taker(world, school_no: dict[int, int], klass: SchoolClass):
    """Who takes the class's roll: its homeroom teacher, or (a past year's class has no teacher
    account) the school's academic office."""
    return world.homeroom.get(klass.id) or world.users[f"office{school_no[klass.school_id]}"]


def take_roll(b: Builder, class_id: int, day: dt.date, marks: dict[int, str]) -> None:
    """The class's roll of `day`, taken by its homeroom teacher (a past year's class has no
    teacher account: the school's academic office): `marks` for the children named, the marks
    already recorded that day for the others (another child's absence), everyone else present."""
    session = b.session
    klass = session.get(SchoolClass, class_id)
    user = roll_taker(b.world, b.school_no, klass)
    kept = dict(session.execute(
        select(AttendanceRecord.student_id, AttendanceRecord.status)
        .join(Student, Student.id == AttendanceRecord.student_id)
        .where(AttendanceRecord.class_id == class_id, AttendanceRecord.date == day,
               AttendanceRecord.status != "present", Student.class_id == class_id,
               Student.status == "active")).all())
    kept.update(marks)
    attendance.record_attendance(
        session, b.scope(user), user, class_id=class_id, date=day,
        reported_at=dt.datetime.combine(day, ROLL_TIME, tzinfo=clock.SCHOOL_TZ),
        records=[{"student_id": sid, "status": status} for sid, status in sorted(kept.items())])


def live(b: Builder, case: Case, days: list[dt.date], *, back_on: dt.date | None = None) -> None:
    """The child of an absence case is absent without leave on each of `days` (school days, in
    order), and present on `back_on` if given: the rolls of those days, each rung's visit on the
    day the case reaches it (but the last day's rung, whose visit is due the next school day),
    then the sweep for the last day of absence, and for `back_on` (which closes the case)."""
    for day in days:
        take_roll(b, case.student.class_id, day, {case.student_id: "unexcused"})
    # A visit counts for every rung reached on or before its date: dated the day its rung is
    # reached, it counts for that rung and not the next.
    for rung in ladder.policy_for_case(b.session, case).rungs:
        if rung.day < len(days):
            b.rung_visit(case, rung.state, days[rung.day - 1])
    # The sweep's end state depends only on the marks, visits and calendar up to its date: one
    # run for the last day leaves what the nightly runs of each day would have left.
    sweep_school(b.session, case.school_id, days[-1])
    if back_on is not None:
        take_roll(b, case.student.class_id, back_on, {case.student_id: "present"})
        sweep_school(b.session, case.school_id, back_on)


def school_days_ending(calendar: SchoolCalendar, last: dt.date, count: int) -> list[dt.date]:
    """`count` consecutive school days ending on `last` (a school day), in order."""
    days = [last]
    while len(days) < count:
        days.insert(0, calendar.previous_school_day(days[0]))
    return days


def school_days_from(calendar: SchoolCalendar, first: dt.date, count: int) -> list[dt.date]:
    """`count` consecutive school days from `first` (moved to the next school day if it is none)."""
    days = [first if calendar.is_school_day(first) else calendar.next_school_day(first)]
    while len(days) < count:
        days.append(calendar.next_school_day(days[-1]))
    return days


def current_term(calendar: SchoolCalendar, today: dt.date) -> Term | None:
    """The term `today` falls in; between terms the last one that has begun; None before the first."""
    started = [t for t in calendar.terms if t.start <= today]
    return calendar.term_for(today) or (started[-1] if started else None)


def take_everyday_rolls(session: Session, world: DemoWorld, today: dt.date, *, gap_class_id: int) -> dict:
    """The roll every class of the current school year takes each school day: for every school
    day of the current term before `today` whose roll no story took, the class's `AttendanceDay`
    and a `present` mark for each child on its roll that day, taken by its homeroom teacher at
    ROLL_TIME — the rows `attendance.record_attendance` writes for a roll with nobody absent.

    A term is ~100,000 marks, so they are written by one INSERT … SELECT from the new rolls and
    the enrolment periods (the per-roll service would take a minute, even a bulk insert of
    Python rows seconds). "On its roll that day" is an enrolment period of the class covering the
    day (its end date excluded): the children the service would have found active in the class
    then, so a child who left later is present before and on no roll after. A story's marks are
    never touched: its class-days are skipped, and a child who already has a mark that day keeps
    it. One deliberate gap: `gap_class_id` has no roll on the latest of these days (see the module
    docstring). Returns {"rolls": class-days taken, "marks": marks written, "gap": (class id,
    day) or None}. Raises LookupError when a mark falls inside an open absence case's run (a
    story that no longer takes its own rolls: the sweep would close it as returned)."""
    yesterday = today - dt.timedelta(days=1)
    calendars = SchoolCalendar.load_many(session, [s.id for s in world.schools])
    wanted: dict[int, list[dt.date]] = {}
    for klass in world.classes:
        term = current_term(calendars[klass.school_id], today)
        if term is not None and term.school_year == klass.school_year:
            wanted[klass.id] = calendars[klass.school_id].school_days_between(term.start, min(term.end, yesterday))
    days = sorted({d for ds in wanted.values() for d in ds})
    if not days:
        return {"rolls": 0, "marks": 0, "gap": None}
    taken = set(session.execute(select(AttendanceDay.class_id, AttendanceDay.date).where(
        AttendanceDay.class_id.in_(sorted(wanted)), AttendanceDay.date.between(days[0], days[-1]))).all())
    todo = {cid: [d for d in ds if (cid, d) not in taken] for cid, ds in wanted.items()}
    gap = None
    if todo.get(gap_class_id):
        gap = (gap_class_id, todo[gap_class_id].pop())
    school_no = {s.id: n for n, s in enumerate(world.schools)}
    rolls = []
    for klass in world.classes:
        user = roll_taker(world, school_no, klass)
        rolls += [{"class_id": klass.id, "date": day, "taken_by_id": user.id,
                   "taken_at": dt.datetime.combine(day, ROLL_TIME, tzinfo=clock.SCHOOL_TZ)}
                  for day in todo.get(klass.id, ())]
    if not rolls:
        return {"rolls": 0, "marks": 0, "gap": gap}
    last_roll = session.scalar(select(func.max(AttendanceDay.id))) or 0
    last_mark = session.scalar(select(func.max(AttendanceRecord.id))) or 0
    session.execute(insert(AttendanceDay), rolls)
    roll, period, mark = AttendanceDay, Enrolment, AttendanceRecord
    on_roll = (
        select(period.student_id, roll.class_id, roll.date, literal("present", String), roll.taken_at,
               roll.taken_by_id)
        .select_from(roll)
        .join(period, and_(period.class_id == roll.class_id, period.start_date <= roll.date,
                           or_(period.end_date.is_(None), period.end_date > roll.date)))
        .where(roll.id > last_roll,
               ~exists().where(mark.student_id == period.student_id, mark.date == roll.date))
        .order_by(roll.date, roll.class_id, period.student_id))
    marks = session.execute(insert(mark).from_select(
        ["student_id", "class_id", "date", "status", "reported_at", "recorded_by_id"], on_roll)).rowcount
    ended = session.scalar(select(func.count()).select_from(mark).join(Case, Case.student_id == mark.student_id).where(
        mark.id > last_mark, Case.process == "absence", Case.is_open.is_(True), mark.date >= Case.opened_on))
    if ended:
        raise LookupError(f"演示考勤：{ended} 条出勤记录落在进行中的缺勤案件里（故事须自己登记这些天的考勤）")
    return {"rolls": len(rolls), "marks": marks, "gap": gap}


def sweep_demo_schools(session: Session, today: dt.date) -> None:
    """The nightly sweep of the evening before the demo's `today`, for every school."""
    sweep_schools(session, schools_to_sweep(session), today - dt.timedelta(days=1))
