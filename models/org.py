"""Organization: county/center/branch schools, villages, classes, the school calendar."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base

SCHOOL_KINDS = ("county", "center", "branch")
# SPEC §1: which grades a school teaches; the top one graduates at rollover (API.md names).
SCHOOL_LEVELS = ("primary", "junior", "nine_year")
LEVEL_GRADES = {"primary": (1, 6), "junior": (7, 9), "nine_year": (1, 9)}


class School(Base):
    """An organization node: a county bureau, a center school or a branch school.

    `center_id` and `county_id` are denormalized from the tree when the node is created so
    that scope filters are one indexed comparison instead of a recursive walk.
    """

    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(10))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    center_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    county_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    is_junior_high: Mapped[bool] = mapped_column(default=False)
    # primary / junior / nine_year (SCHOOL_LEVELS); None for a county node
    level: Mapped[str | None] = mapped_column(String(10), default="nine_year")

    parent: Mapped[School | None] = relationship(remote_side=[id], foreign_keys=[parent_id])
    classes: Mapped[list[SchoolClass]] = relationship(back_populates="school")

    def place_in_tree(self, parent: School | None) -> None:
        """Set parent and the denormalized center/county ids; call before the first flush."""
        self.parent = parent
        self.parent_id = parent.id if parent else None
        if self.kind == "county":
            self.center_id = None
            self.county_id = self.id
        elif self.kind == "center":
            self.center_id = self.id
            self.county_id = parent.id if parent is not None and parent.kind == "county" else None
        else:
            self.center_id = parent.id if parent is not None else None
            self.county_id = parent.county_id if parent is not None else None

    def __str__(self) -> str:
        return self.name


class Village(Base):
    __tablename__ = "villages"
    __table_args__ = (UniqueConstraint("center_school_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    center_school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)

    center_school: Mapped[School] = relationship()

    def __str__(self) -> str:
        return self.name


class SchoolClass(Base):
    """A class (班级) of one school in one school year."""

    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("school_id", "school_year", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    school_year: Mapped[str] = mapped_column(String(9))
    grade: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(40))

    school: Mapped[School] = relationship(back_populates="classes")

    def __str__(self) -> str:
        return f"{self.school.name if self.school else ''} {self.name}".strip()


class Term(Base):
    """One term (学期 1 or 2) of a school year in a school's calendar."""

    __tablename__ = "terms"
    __table_args__ = (UniqueConstraint("school_id", "school_year", "term"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    school_year: Mapped[str] = mapped_column(String(9))
    term: Mapped[int] = mapped_column(Integer)
    start: Mapped[dt.date] = mapped_column(Date)
    end: Mapped[dt.date] = mapped_column(Date)

    school: Mapped[School] = relationship()
    days: Mapped[list[CalendarDay]] = relationship(
        back_populates="term", cascade="all, delete-orphan", order_by="CalendarDay.date"
    )

    def __str__(self) -> str:
        return f"{self.school_year} 第{self.term}学期"


class CalendarDay(Base):
    """An exception to Monday–Friday within a term: a holiday, or a make-up school day (调休)."""

    __tablename__ = "calendar_days"
    __table_args__ = (UniqueConstraint("term_id", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id", ondelete="CASCADE"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(10))  # "holiday" | "workday"

    term: Mapped[Term] = relationship(back_populates="days")
