"""Moving a student between classes while keeping every enrolment period (SPEC §5).

A period is closed by setting its `end_date`; rows are never rewritten otherwise, so a student
who is suspended and resumes has two periods, one who leaves and comes back the whole history.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Enrolment, SchoolClass, Student


def open_periods(session: Session, student: Student) -> list[Enrolment]:
    return list(session.scalars(select(Enrolment).where(
        Enrolment.student_id == student.id, Enrolment.end_date.is_(None)).order_by(Enrolment.id)))


def close_enrolment(session: Session, student: Student, on: dt.date, reason: str) -> int:
    """End the student's open period(s) on `on` with `reason`; returns how many were closed."""
    periods = open_periods(session, student)
    for p in periods:
        # A period closed on the day it began still records that it existed.
        p.end_date = max(on, p.start_date)
        p.end_reason = reason
    session.flush()
    return len(periods)


def place_in_class(session: Session, student: Student, klass: SchoolClass, on: dt.date, reason: str,
                   *, provisional: bool = False) -> Enrolment:
    """Make the student `active` in `klass` from `on`.

    If the open period is already this class with the same provisional mark nothing changes
    (placing twice is harmless: a cross-case effect may repeat what its cause did). Otherwise
    the open period is closed and a new one opened, both with `reason`.
    """
    periods = open_periods(session, student)
    if (len(periods) == 1 and periods[0].class_id == klass.id
            and periods[0].is_provisional == provisional):
        current = periods[0]
    else:
        for p in periods:
            p.end_date = max(on, p.start_date)
            p.end_reason = reason
        current = Enrolment(student_id=student.id, school_id=klass.school_id, class_id=klass.id,
                            start_date=on, start_reason=reason, is_provisional=provisional)
        session.add(current)
    student.status = "active"
    student.school_id = klass.school_id
    student.class_id = klass.id
    student.is_provisional = provisional
    session.flush()
    return current


def leave(session: Session, student: Student, on: dt.date, status: str, reason: str, *,
          keep_class: bool = True) -> None:
    """The student stops attending: set `status`, close the open period with `reason`.

    `keep_class=False` takes the student off the class roll (a transfer out); a suspended student
    keeps the class so the homeroom teacher still follows them.
    """
    close_enrolment(session, student, on, reason)
    student.status = status
    student.is_provisional = False
    if not keep_class:
        student.class_id = None
    session.flush()
