"""Cases (one workflow instance each), their append-only history and supporting records."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow

PROCESSES = (
    "absence",
    "suspension",
    "transfer_out",
    "return",
    "transfer_in",
    "recovery",
    "special_exclusion",
    "roll_verification",
    "monthly_report",
    "dropout_check",
)
VISIT_KINDS = ("home_visit", "in_person_at_school", "phone", "village_joint")
DOCUMENT_KINDS = (
    "suspension_grounds",
    "parent_application",
    "acceptance_letter",
    "enrollment_proof",
    "enrollment_form",
    "guardian_id",
    "prior_school_record",
    "medical_deferral",
    "guardian_agreement",
    "visit_photo",
    "other",
)
RECOVERY_REASONS = ("厌学", "贫困", "外出务工", "疾病", "其他")
# The rows `uq_cases_open_student_process` covers; an INSERT ... ON CONFLICT naming that index
# repeats this predicate (workflow/cases/bulk.py).
OPEN_STUDENT_CASE = "is_open AND student_id IS NOT NULL"


class Case(Base):
    """One run of a process for one student.

    `version` is SQLAlchemy's version counter: an UPDATE that finds another writer got there
    first raises StaleDataError, which the engine turns into 409 `stale_version`.
    `school_id` is the school responsible for the case (the student's, or for a transfer-in
    the receiving school) and is what scope filters on.
    """

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Not indexed alone: every transition rewrites the state, and each index is one more entry
    # written per transition; `ix_cases_process_state` (below) serves the county-wide
    # (process, state) lookups (docs/performance.md, issue 16).
    process: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    # The case's subject: a student, or (roll_verification, SPEC §3.8) a class; a school-subject
    # case has neither (school_id is always set).
    student_id: Mapped[int | None] = mapped_column(ForeignKey("students.id"), index=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("classes.id"), index=True)
    # A school-subject case's period (monthly_report, SPEC §3.9: the month `YYYY-MM`); else None.
    period: Mapped[str | None] = mapped_column(String(10))
    # The suspected-dropout list entry a dropout_check was opened for (SPEC §3.10: one check per
    # child and list entry, e.g. "list:<file digest>" or "comparison:absent_on_roll:2026-11-02"); else None.
    entry_key: Mapped[str | None] = mapped_column(String(120))
    is_open: Mapped[bool] = mapped_column(default=True, index=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    opened_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    is_overdue: Mapped[bool] = mapped_column(default=False)
    ladder_policy_id: Mapped[int | None] = mapped_column(ForeignKey("ladder_policies.id"))
    parent_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # workflow/org/transfers.py:sent_to's `process = 'transfer_out' AND state = 'transferred'`
        # over the whole county, and the oversight counts by process and state
        Index("ix_cases_process_state", "process", "state"),
        # One open case per child and process (SPEC §3; recovery: 一人一案). The engine checks
        # first, but two requests that both checked before either inserted would both insert:
        # this index makes the second INSERT fail, and the engine answers 409 `duplicate`.
        # Class- or school-subject cases (no student) are not covered.
        Index("uq_cases_open_student_process", "student_id", "process", unique=True,
              sqlite_where=text(OPEN_STUDENT_CASE), postgresql_where=text(OPEN_STUDENT_CASE)),
        # One roll verification per class (a class belongs to one school year, SPEC §3.8), kept
        # after it is verified: a second one would answer 409 `duplicate` even in a race.
        Index("uq_cases_roll_verification_class", "class_id", unique=True,
              sqlite_where=text("process = 'roll_verification'"),
              postgresql_where=text("process = 'roll_verification'")),
        # One monthly report per school and month (SPEC §3.9), kept after it is accepted.
        Index("uq_cases_monthly_report_school_period", "school_id", "period", unique=True,
              sqlite_where=text("process = 'monthly_report'"),
              postgresql_where=text("process = 'monthly_report'")),
        # One dropout check per child and list entry (SPEC §3.10), kept after it is closed: a
        # second import of the same list or a second run of the comparisons opens nothing new.
        Index("uq_cases_dropout_check_entry", "student_id", "entry_key", unique=True,
              sqlite_where=text("process = 'dropout_check' AND entry_key IS NOT NULL"),
              postgresql_where=text("process = 'dropout_check' AND entry_key IS NOT NULL")),
    )

    student = relationship("Student")
    school = relationship("School")
    klass = relationship("SchoolClass")
    history: Mapped[list[CaseHistory]] = relationship(
        back_populates="case", order_by="CaseHistory.id"
    )
    visits: Mapped[list[Visit]] = relationship(back_populates="case", order_by="Visit.id")
    documents: Mapped[list[Document]] = relationship(
        back_populates="case", order_by="Document.id"
    )
    fees: Mapped[list[Fee]] = relationship(back_populates="case", order_by="Fee.id")
    payments: Mapped[list[Payment]] = relationship(back_populates="case", order_by="Payment.id")
    contacts: Mapped[list[GuardianContact]] = relationship(
        back_populates="case", order_by="GuardianContact.id"
    )

    def __init__(self, **kw):
        # Column defaults apply only at INSERT; the state machine needs a state before that.
        kw.setdefault("data", {})
        kw.setdefault("is_open", True)
        super().__init__(**kw)


class CaseHistory(Base):
    """One row per create or fired transition. Append-only: never updated or deleted."""

    __tablename__ = "case_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    transition: Mapped[str] = mapped_column(String(30))
    from_state: Mapped[str | None] = mapped_column(String(30))
    to_state: Mapped[str] = mapped_column(String(30))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(30))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    effective_date: Mapped[dt.date] = mapped_column(Date, index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="history")
    user = relationship("User")

    __table_args__ = (
        # Figures and oversight look for one kind of row in a date range (the dropouts, returns and
        # recoveries of a term): this reaches those few rows without walking every row of the
        # term (docs/performance.md).
        Index("ix_case_history_transition_date", "transition", "effective_date"),
    )


class Visit(Base):
    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    date: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(30))
    guardian_present: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    other_participants: Mapped[str | None] = mapped_column(String(255))
    photo_document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="visits")
    participants = relationship("User", secondary="visit_participants")


class VisitParticipant(Base):
    __tablename__ = "visit_participants"

    visit_id: Mapped[int] = mapped_column(
        ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)


class Document(Base):
    """An uploaded file. Stored under UPLOAD_DIR as `stored_name`, never the user's name."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    original_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    # a DOCX's type is 71 characters (application/vnd.openxmlformats-officedocument.wordprocessingml.document)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="documents", foreign_keys=[case_id])


class Fee(Base):
    __tablename__ = "fees"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    item: Mapped[str] = mapped_column(String(80))
    amount_due: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="fees")


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    fee_id: Mapped[int] = mapped_column(ForeignKey("fees.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    receipt_no: Mapped[str] = mapped_column(String(60))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    paid_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="payments")
    fee = relationship("Fee")


class GuardianContact(Base):
    """A contact with the guardian on an absence case; late when >30 min after the report."""

    __tablename__ = "guardian_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    contacted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    is_late: Mapped[bool] = mapped_column(default=False)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    case: Mapped[Case] = relationship(back_populates="contacts")


class LadderPolicy(Base):
    """A version of the home-visit ladder for a center school's schools (SPEC §3.1).

    `rungs` is a list of {"state", "day", "visit_kind", "roles"}; a new edit is a new row, and a
    case keeps the id of the version it was opened under.
    """

    __tablename__ = "ladder_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    center_school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    rungs: Mapped[list] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
