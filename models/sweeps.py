"""The latest date each school was swept for (workflow/absence/sweep.py)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class SchoolSweep(Base):
    """One row per school: the latest date a sweep was run for, and when. A sweep for an earlier
    date (a catch-up of a missed day) still escalates and closes with that day's effective dates,
    but leaves the due dates and overdue flags to the later sweep: they describe the latest date."""

    __tablename__ = "school_sweeps"

    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), primary_key=True)
    last_date: Mapped[dt.date] = mapped_column(Date)
    swept_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
