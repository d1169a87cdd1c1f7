"""Keeping children in school by helping them (SPEC §5): learning-difficulty files, poor-family aid
files, the anonymous class survey and the published fee schedule (一费制). No Flask here.

The survey tables are built so that no row can be tied to a child or a code: see docs/support.md
("Why the answers cannot be traced") and tests/workflow/test_support.py.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow

# 免杂费, 免书费, 生活补助 (SPEC §5)
AID_KINDS = ("fee_waiver", "book_waiver", "living_allowance")
SURVEY_STATUSES = ("open", "closed")
FEE_SCHEDULE_STATUSES = ("draft", "approved")


# --- learning-difficulty files (学困生档案) -------------------------------------------------------


class LearningFile(Base):
    """One child's learning-difficulty file: the helping teacher (一帮一), goals and sessions."""

    __tablename__ = "learning_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), unique=True)
    helper_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    student = relationship("Student")
    helper = relationship("User", foreign_keys=[helper_id])
    goals: Mapped[list[LearningGoal]] = relationship(
        back_populates="file", order_by="LearningGoal.school_year, LearningGoal.term, LearningGoal.id")
    sessions: Mapped[list[HelpSession]] = relationship(
        back_populates="file", order_by="HelpSession.date.desc(), HelpSession.id.desc()")


class LearningGoal(Base):
    """A staged goal (低起点、小目标、分层次、分阶段) for one term; the result is recorded at term end."""

    __tablename__ = "learning_goals"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("learning_files.id"), index=True)
    school_year: Mapped[str] = mapped_column(String(9))
    term: Mapped[int] = mapped_column(Integer)
    target: Mapped[str] = mapped_column(String(500))
    result: Mapped[str | None] = mapped_column(String(500))
    is_met: Mapped[bool | None] = mapped_column()
    result_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    file: Mapped[LearningFile] = relationship(back_populates="goals")


class HelpSession(Base):
    """The note of one help session of the helping teacher with the child."""

    __tablename__ = "help_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("learning_files.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    file: Mapped[LearningFile] = relationship(back_populates="sessions")
    recorded_by = relationship("User")


# --- poor-family aid (贫困家庭学生档案) ------------------------------------------------------------


class AidGrant(Base):
    """Aid granted to a child of a poor family for one term: one row per kind and term.

    `school_id` is the school that granted it (the child's school then): the per-school totals
    count it there even after the child moves on."""

    __tablename__ = "aid_grants"
    __table_args__ = (UniqueConstraint("student_id", "school_year", "term", "kind",
                                       name="uq_aid_grants_student_term_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    school_year: Mapped[str] = mapped_column(String(9), index=True)
    term: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    granted_on: Mapped[dt.date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(String(200))

    student = relationship("Student")
    granted_by = relationship("User")


# --- the anonymous class survey (无记名问卷) ---------------------------------------------------------


class Survey(Base):
    """A class's anonymous survey for one term, opened by the academic office."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("class_id", "school_year", "term", name="uq_surveys_class_term"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    school_year: Mapped[str] = mapped_column(String(9))
    term: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="open")
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    closed_on: Mapped[dt.date | None] = mapped_column(Date)

    klass = relationship("SchoolClass")
    teachers: Mapped[list[SurveyTeacher]] = relationship(order_by="SurveyTeacher.position")

    def __init__(self, **kw):
        kw.setdefault("status", "open")
        super().__init__(**kw)


class SurveyTeacher(Base):
    """A teacher the survey asks about (the class's teachers when it was opened)."""

    __tablename__ = "survey_teachers"

    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(30))
    position: Mapped[int] = mapped_column(Integer, default=0)

    user = relationship("User")


class SurveyCode(Base):
    """A one-time code of a printed slip: only its hash and whether it was used.

    No student, no answer id, no time of use: nothing joins a code to a child or an answer."""

    __tablename__ = "survey_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_used: Mapped[bool] = mapped_column(default=False)


class SurveyAnswer(Base):
    """One anonymous submission: the scores per teacher and question, nothing else.

    No code, no student, no time stamp (the survey's own dates say when it ran)."""

    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"), index=True)
    # {"<teacher user id>": [score of question 1, 2, ...]}, each score 1–5
    scores: Mapped[dict] = mapped_column(JSON)


# --- the published fee schedule (一费制) ------------------------------------------------------------


class FeeSchedule(Base):
    """A school's fee items for one school year; public once the center school approved it."""

    __tablename__ = "fee_schedules"
    __table_args__ = (UniqueConstraint("school_id", "school_year", name="uq_fee_schedules_school_year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    school_year: Mapped[str] = mapped_column(String(9))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    school = relationship("School")
    approved_by = relationship("User", foreign_keys=[approved_by_id])
    items: Mapped[list[FeeItem]] = relationship(back_populates="schedule", order_by="FeeItem.id",
                                                cascade="all, delete-orphan")

    def __init__(self, **kw):
        kw.setdefault("status", "draft")
        super().__init__(**kw)


class FeeItem(Base):
    """One listed fee: its name and the most a family may be charged for it, in yuan."""

    __tablename__ = "fee_items"
    __table_args__ = (UniqueConstraint("schedule_id", "name", name="uq_fee_items_schedule_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("fee_schedules.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    note: Mapped[str | None] = mapped_column(String(200))

    schedule: Mapped[FeeSchedule] = relationship(back_populates="items")
