"""Whether the daily sweep is running: a broken cron or timer must not stop the absence ladder
silently.

The sweep itself records, per school, the latest date it was swept for
(`models.sweeps.SchoolSweep`, written by workflow/absence/sweep.py in the batch's transaction, so
only a finished batch counts). `/healthz` shows the latest of those dates (`last_sweep_date`);
the oversight page shows, for the centers in view, the date of their least recently swept school
and turns red when a school day went by without a sweep (`sweep_status`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import School
from models.sweeps import SchoolSweep
from workflow.org.calendar import SchoolCalendar

# How far back a missing sweep is looked for (the page needs only "was there one").
LOOKBACK_DAYS = 31


@dataclass(frozen=True)
class SweepStatus:
    """What the oversight page shows: the date the least recently swept school of the centers was
    last swept for, and the school days since then (before today) that no sweep covered."""

    last_date: dt.date | None
    missed: tuple[dt.date, ...]

    @property
    def is_late(self) -> bool:
        return bool(self.missed)


def last_sweep_date(session: Session) -> dt.date | None:
    """The latest date any school was swept for (None: the sweep never ran)."""
    return session.scalar(select(func.max(SchoolSweep.last_date)))


def sweep_status(session: Session, *, today: dt.date, center_ids: list[int]) -> SweepStatus:
    """The last sweep of these centers' schools and the school days of the centers' calendars,
    after it and before today, that no sweep covered (today's sweep runs in the evening, so today
    is never missed). Schools never swept (one added since the last run) do not count."""
    last = session.scalar(
        select(func.min(SchoolSweep.last_date)).join(School, School.id == SchoolSweep.school_id)
        .where(School.center_id.in_(list(center_ids)))
    ) if center_ids else None
    start = today - dt.timedelta(days=LOOKBACK_DAYS)
    if last is not None:
        start = max(start, last + dt.timedelta(days=1))
    end = today - dt.timedelta(days=1)
    missed: set[dt.date] = set()
    if start <= end and center_ids:
        for calendar in SchoolCalendar.load_many(session, list(center_ids)).values():
            missed.update(calendar.school_days_between(start, end))
    return SweepStatus(last_date=last, missed=tuple(sorted(missed)))
