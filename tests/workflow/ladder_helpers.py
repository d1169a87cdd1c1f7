"""Shared helpers for the absence-ladder and sweep tests: a school calendar, attendance marks
recorded through the real service (so the attendance hook opens cases), visits logged through
the evidence service, and sweeps committed per school as the CLI does.

Test modules import the fixtures by their function names (`*_fixture`); tests ask for them by
their pytest names (`fixed_clock`, `term`, `marks`)."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from models import CalendarDay, Case, CaseHistory
from workflow import clock
from workflow.absence import attendance
from workflow.absence.sweep import run_sweep
from workflow.access.scope import scope_for
from workflow.cases import evidence
from workflow.clock import SCHOOL_TZ

# The tests' "now": after every date they use, so no date is in the future.
NOW = dt.datetime(2026, 12, 30, 12, 0, tzinfo=SCHOOL_TZ)
MON = dt.date(2026, 11, 2)  # a Monday in term 1 of 2026-2027


def day(offset: int) -> dt.date:
    return MON + dt.timedelta(days=offset)


@pytest.fixture(name="fixed_clock")
def fixed_clock_fixture(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))
    return NOW


@pytest.fixture(name="term")
def term_fixture(factory, world, session, fixed_clock):
    """Term 1 of the center school (its branches inherit it): 2026-09-01 … 2027-01-22."""
    t = factory.term(world.center)
    session.commit()
    return t


def add_holiday(session, term, date: dt.date) -> None:
    session.add(CalendarDay(term_id=term.id, date=date, kind="holiday"))
    session.commit()


class Marks:
    """Records a class's attendance as its homeroom teacher would (unlisted students present)."""

    def __init__(self, session, factory, world):
        self.s, self.f, self.w = session, factory, world
        self._teachers = {world.klass.id: world["teacher"]}

    def teacher(self, klass):
        if klass.id not in self._teachers:
            self._teachers[klass.id] = self.f.user(role="homeroom_teacher", klass=klass)
            self.s.commit()
        return self._teachers[klass.id]

    def record(self, klass, date: dt.date, records: dict | None = None, reported_at=None):
        """`records`: {student: status}. Returns the service's result (opened_case_ids...)."""
        user = self.teacher(klass)
        reported_at = reported_at or dt.datetime.combine(date, dt.time(8, 5), SCHOOL_TZ)
        result = attendance.record_attendance(
            self.s, scope_for(self.s, user), user, class_id=klass.id, date=date, reported_at=reported_at,
            records=[{"student_id": st.id, "status": status} for st, status in (records or {}).items()])
        self.s.commit()
        return result

    def mark(self, student, date: dt.date, status: str):
        return self.record(student.klass, date, {student: status})


@pytest.fixture(name="marks")
def marks_fixture(session, factory, world, term):
    return Marks(session, factory, world)


def log_visit(session, world, case, date: dt.date, kind: str = "home_visit", recorder: str = "teacher",
              participants: tuple[str, ...] = ("team",), guardian_present: bool = True):
    user = world[recorder]
    v = evidence.add_visit(session, scope_for(session, user), user, case, date=date, kind=kind,
                           participant_ids=[world[p].id for p in participants], guardian_present=guardian_present,
                           notes="家长答应送孩子回校")
    session.commit()
    return v


def sweep(session, date: dt.date, **kw):
    return run_sweep(session, date=date, commit=session.commit, **kw)


def absence_cases(session, student) -> list[Case]:
    session.expire_all()
    return list(session.scalars(select(Case).where(Case.student_id == student.id, Case.process == "absence")
                                .order_by(Case.id)))


def history_count(session) -> int:
    return session.scalar(select(func.count(CaseHistory.id)))


def snapshot(session) -> list[tuple]:
    """Every case's observable state, and its history without timestamps or ids."""
    session.expire_all()
    out = []
    for case in session.scalars(select(Case).order_by(Case.student_id, Case.opened_on, Case.process)):
        rows = session.execute(select(CaseHistory.transition, CaseHistory.from_state, CaseHistory.to_state,
                                      CaseHistory.effective_date, CaseHistory.role)
                               .where(CaseHistory.case_id == case.id).order_by(CaseHistory.id)).all()
        out.append((case.student.name, case.process, case.state, case.opened_on, case.is_open, case.due_on,
                    case.is_overdue, tuple(tuple(r) for r in rows)))
    return out
