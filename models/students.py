"""Students, guardians and enrolment periods (kept as history, never overwritten)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, String
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
STUDENT_FLAGS = ("left_behind", "poor", "disability", "learning_difficulty")
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
