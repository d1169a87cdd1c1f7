"""Figures the schools are judged by (SPEC §4): frozen class baselines and exam scores."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow

BASELINE_RULES = ("term_start", "takeover", "grade1_enrolment")
EXAM_KINDS = ("final", "midterm")


class Baseline(Base):
    """The head count (基数) of one class for one term, frozen at term start.

    Rows are never updated except `is_current`: freezing again writes a new row that names the
    row it replaces (`replaces_id`), with who, when and why, and the old row stops being current.
    At most one current row per class and term (a partial unique index), so two freezes racing
    each other cannot both win. `student_ids` are the students counted, for the drill-down.
    """

    __tablename__ = "baselines"
    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    school_year: Mapped[str] = mapped_column(String(9))
    term: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    rule: Mapped[str] = mapped_column(String(20))
    # the date the students were counted on (term start, previous term end, or the enrolment cut-off)
    counted_on: Mapped[dt.date] = mapped_column(Date)
    student_ids: Mapped[list] = mapped_column(JSON, default=list)
    is_current: Mapped[bool] = mapped_column(default=True)
    frozen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    frozen_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("baselines.id"))

    klass = relationship("SchoolClass")
    frozen_by = relationship("User")
    replaces: Mapped[Baseline | None] = relationship(remote_side=[id])

    def __init__(self, **kw):
        kw.setdefault("is_current", True)
        kw.setdefault("student_ids", [])
        super().__init__(**kw)


Index("uq_baselines_current", Baseline.class_id, Baseline.school_year, Baseline.term, unique=True,
      # literal predicates: autogenerate renders an expression in one dialect for both databases
      sqlite_where=text("is_current = 1"), postgresql_where=text("is_current"))


class ExamScore(Base):
    """One student's score in one subject of one exam of a term (imported from Excel)."""

    __tablename__ = "exam_scores"
    __table_args__ = (UniqueConstraint("student_id", "school_year", "term", "exam", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    school_year: Mapped[str] = mapped_column(String(9))
    term: Mapped[int] = mapped_column(Integer)
    exam: Mapped[str] = mapped_column(String(10), default="final")
    subject: Mapped[str] = mapped_column(String(20))
    score: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    student = relationship("Student")
