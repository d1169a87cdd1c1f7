"""What every figure of SPEC §4 shares: the settings, rates, and the reading of losses and recoveries
from case history. The figures themselves are in baselines.py, losses.py, ledger.py, rates.py
(and exams.py, oversight.py).

Everything is read from effective dates (SPEC §3), never from the clock:

- a **dropout** takes effect on the effective date of the absence case's `confirm_dropout` row;
- a child is **back** on the effective date of the recovery's `mark_returned`,
  `confirm_elsewhere` or `exempt` (the recovery case is closed), of the return's `re_enroll`, or
  of the return's `submit` (from then on the child sits in class, SPEC §3.4) unless that return
  case was withdrawn by the date in question;
- a student is **excluded** (SPEC §3.7) on a date when the latest of their special_exclusion
  `principal_approve` / `revoke` rows effective on or before it is an approval.

The class a loss belongs to is read from the enrolment history: the latest enrolment period that
began on or before the dropout date (the confirmed dropout closes that period on its date).

docs/figures.md gives every formula and reading.
No Flask here: the pages and the API pass `FigureSettings` built from the app configuration.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from models import Case, CaseHistory, Enrolment, School, SchoolClass, Student, Term
from workflow.access.scope import Scope, class_filter
from workflow.org.services import check_term  # noqa: F401  (the figures' modules import it from here)
from workflow.validation import parse_int_text

RATE_PLACES = Decimal("0.0001")
MONEY_PLACES = Decimal("0.01")

# Which history rows mean what (SPEC §3). Process and transition must both match: the absence
# process has a `mark_returned` of its own that has nothing to do with a dropout.
DROPOUT = ("absence", "confirm_dropout")
# A suspected-dropout check's confirmed dropout is a loss too when it took the child off the roll
# (SPEC §3.10; case.data flag set by workflow/processes/dropout_check.py:drop_out_if_active).
DROPOUT_BY_CHECK = ("dropout_check", "dropped_out_by_check")
RECOVERY_CLOSED = ("mark_returned", "confirm_elsewhere", "exempt")
RETURN_BACK = ("submit", "re_enroll")


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureSettings:
    """What a province or county may set (config key `FIGURES`, see docs/figures.md)."""

    class_threshold: Decimal = Decimal("0.02")        # loss rate strictly above → over threshold
    coefficient_step: Decimal = Decimal("0.02")       # coefficient = 1 − step × losses, not below 0
    loss_amount: Decimal = Decimal("-50")             # ledger line per loss, per person answerable
    recovery_amount: Decimal = Decimal("50")          # ledger line per recovered child, per credited person
    count_suspensions: bool = False                   # annual dropout rate definition (SPEC §4)
    count_deaths: bool = False
    count_unconfirmed_transfers: bool = False
    class_dropout_target: Decimal = Decimal("0.02")   # below this, per class and year
    primary_dropout_target: Decimal = Decimal("0.02")
    junior_high_dropout_target: Decimal = Decimal("0.03")
    retention_target: Decimal = Decimal("0.92")       # at or above this
    pass_mark: Decimal = Decimal("60")                # exam accounting: pass at or above
    excellent_mark: Decimal = Decimal("85")           # excellent at or above
    exam_grace_days: int = 7                          # lost from term start + this many days → zero

    @classmethod
    def from_mapping(cls, mapping: Mapping | None) -> FigureSettings:
        """Settings from a mapping of field names (lower or upper case) to values; numbers may
        be strings ("0.03"). Unknown names raise ValueError: a typo in the configuration must
        not silently fall back to the default."""
        if not mapping:
            return cls()
        if isinstance(mapping, FigureSettings):
            return mapping
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values = {}
        for key, value in mapping.items():
            name = str(key).lower()
            if name not in fields:
                raise ValueError(f"unknown figures setting: {key}")
            default = getattr(cls, name)
            if isinstance(default, bool):
                values[name] = bool(value)
            elif isinstance(default, int):
                values[name] = int(value)
            else:
                values[name] = Decimal(str(value))
        return cls(**values)


def rate(numerator: int, denominator: int | None) -> Decimal | None:
    """numerator / denominator to 4 places (half up); None when there is no denominator."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


# --- shared reads ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassRow:
    id: int
    name: str
    grade: int
    school_id: int
    school_name: str


@dataclass(frozen=True)
class Loss:
    """A child lost by a class in a term: the dropout row (case, date) that made it a loss."""

    student_id: int
    class_id: int
    date: dt.date
    case_id: int


@dataclass(frozen=True)
class Recovery:
    """A child brought back into a class in a term: the recovery case closed as `returned`."""

    student_id: int
    class_id: int
    date: dt.date
    case_id: int
    credited_user_ids: tuple[int, ...] = ()


def class_rows(session: Session, scope: Scope | None, school_year: str, *, school_id: int | None = None,
               school_ids: Iterable[int] | None = None) -> list[ClassRow]:
    """The classes of a school year as ClassRow, ordered by school, grade and name: those `scope`
    may see (every class when None), of one school or of some schools."""
    stmt = (select(SchoolClass.id, SchoolClass.name, SchoolClass.grade, SchoolClass.school_id, School.name)
            .join(School, School.id == SchoolClass.school_id)
            .where(SchoolClass.school_year == school_year))
    if scope is not None:
        stmt = stmt.where(class_filter(scope))
    if school_id is not None:
        stmt = stmt.where(SchoolClass.school_id == school_id)
    if school_ids is not None:
        stmt = stmt.where(SchoolClass.school_id.in_(sorted(set(school_ids))))
    rows = session.execute(stmt.order_by(School.name, SchoolClass.grade, SchoolClass.name, SchoolClass.id))
    return [ClassRow(*r) for r in rows]


def term_dates(session: Session, school_ids: Iterable[int], school_year: str,
               term: int) -> dict[int, tuple[dt.date, dt.date]]:
    """{school id: (start, end)} of the term each school follows (its own, else its center
    school's, as workflow.org.calendar reads it). Schools without such a term are left out."""
    ids = sorted(set(school_ids))
    if not ids:
        return {}
    centers = dict(session.execute(select(School.id, School.center_id).where(School.id.in_(ids))).all())
    owners = set(ids) | {c for c in centers.values() if c is not None}
    rows = {r.school_id: (r.start, r.end) for r in session.scalars(select(Term).where(
        Term.school_id.in_(sorted(owners)), Term.school_year == school_year, Term.term == term))}
    out = {}
    for sid in ids:
        found = rows.get(sid) or rows.get(centers.get(sid))
        if found is not None:
            out[sid] = found
    return out


def exclusion_events(session: Session, student_sel) -> dict[int, list[tuple[dt.date, int, bool]]]:
    """{student id: [(effective date, row id, excluded?)]} from special_exclusion history."""
    rows = session.execute(
        select(Case.student_id, CaseHistory.effective_date, CaseHistory.id, CaseHistory.transition)
        .join(Case, Case.id == CaseHistory.case_id)
        .where(Case.process == "special_exclusion",
               CaseHistory.transition.in_(("principal_approve", "revoke")),
               Case.student_id.in_(student_sel)))
    out: dict[int, list] = defaultdict(list)
    for student_id, day, row_id, transition in rows:
        out[student_id].append((day, row_id, transition == "principal_approve"))
    return out


def excluded_on(events, day: dt.date) -> bool:
    """Whether the latest of `events` (exclusion_events of one student) on or before `day` is an
    approval."""
    latest = max(((d, i, flag) for d, i, flag in events or () if d <= day), default=None)
    return bool(latest and latest[2])


def periods_of(session: Session, student_sel) -> dict[int, list[tuple[dt.date, int, int | None]]]:
    """{student id: [(start date, period id, class id)]} of every enrolment period."""
    out: dict[int, list] = defaultdict(list)
    for student_id, start, period_id, class_id in session.execute(
            select(Enrolment.student_id, Enrolment.start_date, Enrolment.id, Enrolment.class_id)
            .where(Enrolment.student_id.in_(student_sel))):
        out[student_id].append((start, period_id, class_id))
    return out


def class_at(periods, day: dt.date) -> int | None:
    """The class of the latest enrolment period begun on or before `day` (the dropout closes the
    period it ends on its own date, so that period is the class the child was lost from)."""
    best = max((p for p in periods if p[0] <= day), default=None)
    return best[2] if best else None


def movements(session: Session, classes: list[ClassRow], school_year: str, term: int,
              terms: dict[int, tuple[dt.date, dt.date]] | None = None, *, with_recoveries: bool = True
              ) -> tuple[dict[int, list[Loss]], dict[int, list[Recovery]]]:
    """Losses and recoveries of the term, by class id, for `classes` (already scoped).

    Losses: children whose dropout took effect within the term of the class's school, in that
    class (enrolment history), not back in class by the term end, not excluded at term start or
    at the dropout. Recoveries: recovery cases closed as `returned` within the term into the
    class. Seven queries whatever the number of classes.
    """
    by_id = {c.id: c for c in classes}
    school_ids = {c.school_id for c in classes}
    if terms is None:
        terms = term_dates(session, school_ids, school_year, term)
    losses: dict[int, list[Loss]] = {c.id: [] for c in classes}
    recoveries: dict[int, list[Recovery]] = {c.id: [] for c in classes}
    if not classes or not terms:
        return losses, recoveries
    lo = min(s for s, _ in terms.values())
    hi = max(e for _, e in terms.values())

    dropout_where = and_(or_(Case.process == DROPOUT[0],
                             and_(Case.process == DROPOUT_BY_CHECK[0], Case.data[DROPOUT_BY_CHECK[1]].as_boolean())),
                         CaseHistory.transition == DROPOUT[1],
                         CaseHistory.effective_date >= lo, CaseHistory.effective_date <= hi,
                         Case.school_id.in_(sorted(school_ids)))
    dropouts = session.execute(
        select(Case.student_id, CaseHistory.effective_date, CaseHistory.id, Case.id)
        .join(Case, Case.id == CaseHistory.case_id).where(dropout_where)).all()
    # the students of the rows just read (the same set the dropout query would select again)
    dropped_sel = sorted({student_id for student_id, *_ in dropouts})

    if dropouts:
        back_rows = session.execute(
            select(Case.student_id, Case.id, Case.process, CaseHistory.transition,
                   CaseHistory.effective_date, CaseHistory.id)
            .join(Case, Case.id == CaseHistory.case_id)
            .where(Case.student_id.in_(dropped_sel), CaseHistory.effective_date >= lo,
                   or_(and_(Case.process == "recovery", CaseHistory.transition.in_(RECOVERY_CLOSED)),
                       and_(Case.process == "return",
                            CaseHistory.transition.in_((*RETURN_BACK, "withdraw")))))).all()
        periods = periods_of(session, dropped_sel)
        exclusions = exclusion_events(session, dropped_sel)
        current_class = dict(session.execute(
            select(Student.id, Student.class_id).where(Student.id.in_(dropped_sel))).all())

        latest: dict[int, tuple] = {}
        for student_id, day, row_id, case_id in dropouts:
            class_id = class_at(periods.get(student_id, ()), day)
            if class_id is None:
                class_id = current_class.get(student_id)
            row = by_id.get(class_id)
            if row is None or row.school_id not in terms:
                continue
            start, end = terms[row.school_id]
            if not start <= day <= end:
                continue
            key = (day, row_id)
            if student_id not in latest or key > latest[student_id][0]:
                latest[student_id] = (key, class_id, case_id, start, end)

        back: dict[int, list] = defaultdict(list)
        withdrawn: dict[int, list[dt.date]] = defaultdict(list)
        for student_id, case_id, process, transition, day, row_id in back_rows:
            if process == "return" and transition == "withdraw":
                withdrawn[case_id].append(day)
            else:
                back[student_id].append((day, row_id, case_id, process, transition))

        for student_id, ((day, row_id), class_id, case_id, start, end) in latest.items():
            events = exclusions.get(student_id)
            if excluded_on(events, start) or excluded_on(events, day):
                continue
            returned = False
            for b_day, b_id, b_case, process, transition in back.get(student_id, ()):
                if not (day <= b_day <= end and b_id > row_id):
                    continue
                if process == "return" and transition == "submit" and any(
                        w <= end for w in withdrawn.get(b_case, ())):
                    continue
                returned = True
                break
            if not returned:
                losses[class_id].append(Loss(student_id, class_id, day, case_id))

    # the term's returns of the whole database (the class is in the rows' JSON): skipped by
    # callers that need only the losses (oversight's loss rates)
    rec_rows = session.execute(
        select(Case.student_id, Case.id, Case.data, CaseHistory.data, CaseHistory.effective_date)
        .join(Case, Case.id == CaseHistory.case_id)
        .where(Case.process == "recovery", CaseHistory.transition == "mark_returned",
               CaseHistory.effective_date >= lo, CaseHistory.effective_date <= hi,
               # a row names its class in its own data or its case's; rows naming none are
               # skipped below anyway, so they need not be fetched and decoded
               CaseHistory.data["class_id"].as_string().is_not(None)
               | Case.data["class_id"].as_string().is_not(None))).all() if with_recoveries else []
    for student_id, case_id, case_data, row_data, day in rec_rows:
        raw = (row_data or {}).get("class_id") or (case_data or {}).get("class_id")
        row = by_id.get(parse_int_text(raw)) if isinstance(raw, int | str) else None
        if row is None or row.school_id not in terms:
            continue
        start, end = terms[row.school_id]
        if start <= day <= end:
            credited = (row_data or {}).get("credited_user_ids") or (case_data or {}).get("credited_user_ids") or []
            recoveries[row.id].append(Recovery(student_id, row.id, day, case_id,
                                               tuple(int(u) for u in credited)))
    for items in (*losses.values(), *recoveries.values()):
        items.sort(key=lambda x: (x.date, x.student_id))
    return losses, recoveries
