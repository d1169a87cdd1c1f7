"""Daily attendance marks."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow

ATTENDANCE_STATUSES = ("present", "sick_leave", "personal_leave", "unexcused")


class AttendanceRecord(Base):
    """One student's mark for one school day; re-recording a day replaces the mark."""

    __tablename__ = "attendance_records"
    __table_args__ = (
        UniqueConstraint("student_id", "date"),
        # The unexcused marks of a date range are a sliver of a term's marks: the sweep (a day's
        # unexcused marks per school) and the oversight chart (eight weeks of them) read them
        # through this index instead of every mark of the range (docs/performance.md).
        Index("ix_attendance_records_status_date", "status", "date", "class_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20))
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    student = relationship("Student")


class AttendanceDay(Base):
    """That a class's attendance was taken on a date (so a missing day can be told apart)."""

    __tablename__ = "attendance_days"
    __table_args__ = (UniqueConstraint("class_id", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    taken_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    taken_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
