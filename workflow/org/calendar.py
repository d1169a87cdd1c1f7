"""The school calendar: which dates are school days for a school (SPEC §1, §3.1).

A school day is a date inside one of the school's terms that is Monday–Friday and not a
holiday, or a weekend date listed as a make-up school day (调休 "workday"). Dates outside every
term are never school days.

A branch school inherits its center school's calendar term by term: for each (school year,
term) the branch has not defined itself, the center school's term applies. A branch that set up
its own first term but not its second therefore follows the center school in the second term.

Pure reads, no Flask. `SchoolCalendar.load` reads everything it needs in two queries (the school
row, then the terms with their exception days); `SchoolCalendar.load_many` reads a whole batch of
schools in two (the daily sweep), and a `CalendarBook` keeps each calendar of a request loaded once
however many cases it serves (the work queue).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import CalendarDay, School, Term

ONE_DAY = dt.timedelta(days=1)


@dataclass
class SchoolCalendar:
    """One school's effective terms and their exception days, loaded once and queried often."""

    school_id: int
    terms: list[Term] = field(default_factory=list)  # effective terms, ordered by start
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()

    @classmethod
    def load(cls, session: Session, school_id: int) -> SchoolCalendar:
        """Read the school's terms (and its center school's, for the terms it lacks)."""
        school = session.get(School, school_id)
        if school is None:
            return cls(school_id=school_id)
        owners = [school.id]
        if school.center_id is not None and school.center_id != school.id:
            owners.append(school.center_id)
        rows = session.execute(
            select(Term, CalendarDay)
            .outerjoin(CalendarDay, CalendarDay.term_id == Term.id)
            .where(Term.school_id.in_(owners))
        ).all()
        return cls._build(school_id, rows)

    @classmethod
    def load_many(cls, session: Session, school_ids) -> dict[int, SchoolCalendar]:
        """`load` for many schools in two queries (the daily sweep's batches): {school id: calendar};
        a school id that does not exist gets an empty calendar, as with `load`."""
        ids = sorted(set(school_ids))
        centers = dict(session.execute(select(School.id, School.center_id).where(School.id.in_(ids))).all()) if ids else {}
        owners = sorted(set(centers) | {c for c in centers.values() if c is not None})
        by_owner: dict[int, list] = {}
        if owners:
            for term, day in session.execute(
                    select(Term, CalendarDay).outerjoin(CalendarDay, CalendarDay.term_id == Term.id)
                    .where(Term.school_id.in_(owners))).all():
                by_owner.setdefault(term.school_id, []).append((term, day))
        out = {}
        for sid in ids:
            if sid not in centers:
                out[sid] = cls(school_id=sid)
                continue
            rows = list(by_owner.get(sid, ()))
            center = centers[sid]
            if center is not None and center != sid:
                rows += by_owner.get(center, ())
            out[sid] = cls._build(sid, rows)
        return out

    @classmethod
    def _build(cls, school_id: int, rows) -> SchoolCalendar:
        """From (term, calendar day or None) rows of the school and its center school."""
        by_key: dict[tuple[str, int], Term] = {}
        days: dict[int, list[CalendarDay]] = {}
        for term, day in rows:
            key = (term.school_year, term.term)
            current = by_key.get(key)
            # The school's own definition of a term wins over the center school's.
            if current is None or (term.school_id == school_id and current.school_id != school_id):
                by_key[key] = term
            if day is not None:
                days.setdefault(term.id, []).append(day)
        terms = sorted(by_key.values(), key=lambda t: t.start)
        holidays: set[dt.date] = set()
        workdays: set[dt.date] = set()
        for term in terms:
            for day in days.get(term.id, ()):
                (workdays if day.kind == "workday" else holidays).add(day.date)
        return cls(school_id=school_id, terms=terms, holidays=frozenset(holidays),
                   workdays=frozenset(workdays))

    def term_for(self, date: dt.date) -> Term | None:
        """The effective term containing `date` (start and end inclusive), or None."""
        for term in self.terms:
            if term.start <= date <= term.end:
                return term
        return None

    def is_school_day(self, date: dt.date) -> bool:
        if self.term_for(date) is None:
            return False
        if date in self.workdays:
            return True
        if date in self.holidays:
            return False
        return date.weekday() < 5

    def school_days_between(self, start: dt.date, end: dt.date) -> list[dt.date]:
        """School days from `start` to `end`, both inclusive, in order."""
        out = []
        day = start
        while day <= end:
            if self.is_school_day(day):
                out.append(day)
            day += ONE_DAY
        return out

    def next_school_day(self, date: dt.date) -> dt.date | None:
        """The first school day strictly after `date`; None when no known term has one."""
        if not self.terms:
            return None
        last = max(t.end for t in self.terms)
        day = date + ONE_DAY
        while day <= last:
            if self.is_school_day(day):
                return day
            day += ONE_DAY
        return None

    def previous_school_day(self, date: dt.date) -> dt.date | None:
        """The last school day strictly before `date`; None when no known term has one."""
        if not self.terms:
            return None
        first = min(t.start for t in self.terms)
        day = date - ONE_DAY
        while day >= first:
            if self.is_school_day(day):
                return day
            day -= ONE_DAY
        return None


def school_year_of(day: dt.date) -> str:
    """The school year (学年) `day` belongs to, e.g. "2026-2027" from 1 August 2026 on: the year
    turns over in the summer holiday, before the autumn term starts."""
    first = day.year if day.month >= 8 else day.year - 1
    return f"{first}-{first + 1}"


class CalendarBook:
    """Calendars of many schools for one request (e.g. the work queue), each loaded once."""

    def __init__(self, session: Session):
        self.session = session
        self._calendars: dict[int, SchoolCalendar] = {}

    def preload(self, school_ids) -> None:
        """Load the calendars of many schools at once (a few queries instead of two per school)."""
        missing = [i for i in school_ids if i not in self._calendars]
        if missing:
            self._calendars.update(SchoolCalendar.load_many(self.session, missing))

    def for_school(self, school_id: int) -> SchoolCalendar:
        cal = self._calendars.get(school_id)
        if cal is None:
            cal = self._calendars[school_id] = SchoolCalendar.load(self.session, school_id)
        return cal


def effective_term(session: Session, school_id: int, date: dt.date) -> Term | None:
    """The term in force at the school on `date` (its own, else its center school's), or None."""
    return SchoolCalendar.load(session, school_id).term_for(date)


def is_school_day(session: Session, school_id: int, date: dt.date) -> bool:
    """Whether pupils of the school are expected in class on `date`."""
    return SchoolCalendar.load(session, school_id).is_school_day(date)


def school_days_between(session: Session, school_id: int, start: dt.date, end: dt.date) -> list[dt.date]:
    """The school's school days from `start` to `end`, both inclusive."""
    return SchoolCalendar.load(session, school_id).school_days_between(start, end)


def next_school_day(session: Session, school_id: int, date: dt.date) -> dt.date | None:
    """The school's first school day after `date` (exclusive), or None if no term has one."""
    return SchoolCalendar.load(session, school_id).next_school_day(date)
