"""Students, guardians and enrolment periods (kept as history, never overwritten)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow

STUDENT_STATUSES = (
    "incoming",
    "active",
    "suspended",
    "transferred_out",
    "dropped_out",
    "graduated",
    "deceased",
)
# SPEC §1: the four original flags, then the other groups the national rules name for close watch.
STUDENT_FLAGS = ("left_behind", "poor", "disability", "learning_difficulty",
                 "orphan", "unsupported", "hardship", "migrant", "justice_involved")
# The details whose changes are kept (SPEC §5 "who changed what, when").
TRACKED_FIELDS = ("name", "gender", "birth_date", "village_id", "student_no", "id_card_no", "flags",
                  "guardians")
GENDERS = ("M", "F")


def mask_id_card(value: str | None) -> str | None:
    """First 6 + last 4 digits, the rest starred (SPEC §1)."""
    if not value:
        return value
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


class Student(Base):
    """A child on the rolls. `school_id` follows `class_id` and is what scope filters on."""

    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), index=True)
    gender: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    student_no: Mapped[str | None] = mapped_column(String(40), unique=True)
    id_card_no: Mapped[str | None] = mapped_column(String(18), unique=True)
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    is_provisional: Mapped[bool] = mapped_column(default=False)
    left_behind: Mapped[bool] = mapped_column(default=False)
    poor: Mapped[bool] = mapped_column(default=False)
    disability: Mapped[bool] = mapped_column(default=False)
    learning_difficulty: Mapped[bool] = mapped_column(default=False)
    orphan: Mapped[bool] = mapped_column(default=False)
    unsupported: Mapped[bool] = mapped_column(default=False)
    hardship: Mapped[bool] = mapped_column(default=False)
    migrant: Mapped[bool] = mapped_column(default=False)
    justice_involved: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    school = relationship("School")
    klass = relationship("SchoolClass")
    village = relationship("Village")
    guardians: Mapped[list[Guardian]] = relationship(
        back_populates="student", cascade="all, delete-orphan", order_by="Guardian.id"
    )
    enrolments: Mapped[list[Enrolment]] = relationship(
        back_populates="student", order_by="Enrolment.start_date, Enrolment.id"
    )

    def __init__(self, **kw):
        kw.setdefault("status", "active")
        super().__init__(**kw)

    @property
    def flags(self) -> list[str]:
        return [f for f in STUDENT_FLAGS if getattr(self, f)]

    @property
    def id_card_masked(self) -> str | None:
        return mask_id_card(self.id_card_no)

    def __str__(self) -> str:
        return self.name


class Guardian(Base):
    __tablename__ = "guardians"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(60))
    relation: Mapped[str] = mapped_column(String(20))
    phone: Mapped[str] = mapped_column(String(30))

    student: Mapped[Student] = relationship(back_populates="guardians")


class Enrolment(Base):
    """One period of a student in a class. Closing sets `end_date`; rows are never rewritten."""

    __tablename__ = "enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"), index=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    start_reason: Mapped[str] = mapped_column(String(30))
    end_reason: Mapped[str | None] = mapped_column(String(30))
    is_provisional: Mapped[bool] = mapped_column(default=False)

    student: Mapped[Student] = relationship(back_populates="enrolments")
    school = relationship("School")
    klass = relationship("SchoolClass")


class StudentChange(Base):
    """One changed detail of a student: who changed which field, when, from what to what.
    Append-only (SPEC §5). `old`/`new` are JSON values (a flag list, a guardian list, a date
    as text); personal numbers are stored in full and masked when read."""

    __tablename__ = "student_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    field: Mapped[str] = mapped_column(String(30))
    old: Mapped[object] = mapped_column(JSON, nullable=True)
    new: Mapped[object] = mapped_column(JSON, nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(20), default="edit")  # "edit" | "roster_import"
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    user = relationship("User")


class Placement(Base):
    """A balanced placement of a new intake (SPEC §5, 均衡分班): the draw's inputs, its seed and
    its result. The same inputs and seed always give the same assignments
    (workflow/schoolyear/placement.py:draw), so anyone can replay it."""

    __tablename__ = "placements"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    school_year: Mapped[str] = mapped_column(String(9))
    grade: Mapped[int] = mapped_column()
    seed: Mapped[int] = mapped_column()
    class_ids: Mapped[list] = mapped_column(JSON)
    student_ids: Mapped[list] = mapped_column(JSON)
    # [{student_id, class_id}] in the order drawn
    assignments: Mapped[list] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
