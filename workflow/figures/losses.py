"""The figures schools are judged by (SPEC §4): baselines, losses, loss rates, coefficients, the
reward/penalty ledger, annual dropout and retention rates.

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

A whole county term is computed with a constant number of grouped queries (classes, terms,
baselines, dropout rows, return rows, enrolments and exclusions of the children who dropped out,
recovery rows), never one query per class. docs/figures.md gives every formula and reading.
No Flask here: the pages and the API pass `FigureSettings` built from the app configuration.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from models import (
    Baseline,
    Case,
    CaseHistory,
    Enrolment,
    ExamScore,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Term,
    User,
)
from workflow import clock
from workflow.access.scope import CENTER_ROLES, Scope, class_filter, get_in_scope
from workflow.errors import Conflict, Forbidden, Invalid
from workflow.org.calendar import school_year_of
from workflow.org.services import check_school_year

ONE_DAY = dt.timedelta(days=1)
RATE_PLACES = Decimal("0.0001")
MONEY_PLACES = Decimal("0.01")
FREEZE_SCHOOL_ROLES = ("principal", "academic_office")

# Which history rows mean what (SPEC §3). Process and transition must both match: the absence
# process has a `mark_returned` of its own that has nothing to do with a dropout.
DROPOUT = ("absence", "confirm_dropout")
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


def _settings(settings) -> FigureSettings:
    return FigureSettings.from_mapping(settings)


def rate(numerator: int, denominator: int | None) -> Decimal | None:
    """numerator / denominator to 4 places (half up); None when there is no denominator."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)


def coefficient(losses: int, step: Decimal = Decimal("0.02")) -> Decimal:
    """1 − step × losses, not below 0, to 2 places."""
    return max(Decimal(0), Decimal(1) - step * losses).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


def check_term(value, field: str = "term") -> int:
    if isinstance(value, bool) or value not in (1, 2):
        raise Invalid(f"字段 {field} 必须是 1 或 2", details={"field": field})
    return value


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


def _classes(session: Session, scope: Scope | None, school_year: str, *, school_id: int | None = None,
             school_ids: Iterable[int] | None = None, class_ids: Iterable[int] | None = None) -> list[ClassRow]:
    stmt = (select(SchoolClass.id, SchoolClass.name, SchoolClass.grade, SchoolClass.school_id, School.name)
            .join(School, School.id == SchoolClass.school_id)
            .where(SchoolClass.school_year == school_year))
    if scope is not None:
        stmt = stmt.where(class_filter(scope))
    if school_id is not None:
        stmt = stmt.where(SchoolClass.school_id == school_id)
    if school_ids is not None:
        stmt = stmt.where(SchoolClass.school_id.in_(sorted(set(school_ids))))
    if class_ids is not None:
        stmt = stmt.where(SchoolClass.id.in_(sorted(set(class_ids))))
    rows = session.execute(stmt.order_by(School.name, SchoolClass.grade, SchoolClass.name, SchoolClass.id))
    return [ClassRow(*r) for r in rows]


def term_dates(session: Session, school_ids: Iterable[int], school_year: str,
               term: int) -> dict[int, tuple[dt.date, dt.date]]:
    """{school id: (start, end)} of the term each school follows (its own, else its center
    school's, as workflow.calendar reads it). Schools without such a term are left out."""
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


def _exclusion_events(session: Session, student_sel) -> dict[int, list[tuple[dt.date, int, bool]]]:
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


def _excluded_on(events, day: dt.date) -> bool:
    latest = max(((d, i, flag) for d, i, flag in events or () if d <= day), default=None)
    return bool(latest and latest[2])


def _covers(start: dt.date, end: dt.date | None, day: dt.date) -> bool:
    """A period [start, end) is in force on `day` (a period ends on the day the student left)."""
    return start <= day and (end is None or end > day)


def _periods_of(session: Session, student_sel) -> dict[int, list[tuple[dt.date, int, int | None]]]:
    """{student id: [(start date, period id, class id)]} of every enrolment period."""
    out: dict[int, list] = defaultdict(list)
    for student_id, start, period_id, class_id in session.execute(
            select(Enrolment.student_id, Enrolment.start_date, Enrolment.id, Enrolment.class_id)
            .where(Enrolment.student_id.in_(student_sel))):
        out[student_id].append((start, period_id, class_id))
    return out


def _class_at(periods, day: dt.date) -> int | None:
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

    dropout_where = and_(Case.process == DROPOUT[0], CaseHistory.transition == DROPOUT[1],
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
        periods = _periods_of(session, dropped_sel)
        exclusions = _exclusion_events(session, dropped_sel)
        current_class = dict(session.execute(
            select(Student.id, Student.class_id).where(Student.id.in_(dropped_sel))).all())

        latest: dict[int, tuple] = {}
        for student_id, day, row_id, case_id in dropouts:
            class_id = _class_at(periods.get(student_id, ()), day)
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
            if _excluded_on(events, start) or _excluded_on(events, day):
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
        row = by_id.get(int(raw)) if isinstance(raw, int | str) and str(raw).isdigit() else None
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


def _current_baselines(session: Session, class_ids: Iterable[int], school_year: str,
                       term: int, *, with_students: bool = True) -> dict[int, Baseline]:
    """Current baseline per class. Without `with_students` the counted ids (a JSON list per class,
    the bulk of a county's rows) are left unloaded until something reads them."""
    ids = sorted(set(class_ids))
    if not ids:
        return {}
    stmt = select(Baseline).where(Baseline.class_id.in_(ids), Baseline.school_year == school_year,
                                  Baseline.term == term, Baseline.is_current.is_(True))
    if not with_students:
        stmt = stmt.options(defer(Baseline.student_ids))
    return {b.class_id: b for b in session.scalars(stmt)}


@dataclass(frozen=True)
class _BaselineCount:
    """The columns of a current baseline that the class figures show."""

    id: int
    count: int
    rule: str | None
    frozen_at: dt.datetime | None


def _baseline_counts(session: Session, scope: Scope, school_year: str, term: int, *,
                     school_id: int | None = None) -> dict[int, _BaselineCount]:
    """Current baseline per class of `_classes(session, scope, school_year, school_id=...)`,
    selected by the same filter rather than by a list of (up to thousands of) class ids, and
    without the counted ids."""
    stmt = (select(Baseline.class_id, Baseline.id, Baseline.count, Baseline.rule, Baseline.frozen_at)
            .join(SchoolClass, SchoolClass.id == Baseline.class_id)
            .where(SchoolClass.school_year == school_year, Baseline.school_year == school_year,
                   Baseline.term == term, Baseline.is_current.is_(True), class_filter(scope)))
    if school_id is not None:
        stmt = stmt.where(SchoolClass.school_id == school_id)
    return {class_id: _BaselineCount(*rest) for class_id, *rest in session.execute(stmt)}


# --- baselines ---------------------------------------------------------------------------------


def may_freeze(scope: Scope, school: School) -> bool:
    """Admin, the school's principal or academic office, center roles of its center school."""
    if scope.is_all:
        return True
    if any(school.id in scope.roles.get(r, frozenset()) for r in FREEZE_SCHOOL_ROLES):
        return True
    return school.center_id is not None and any(
        school.center_id in scope.roles.get(r, frozenset()) for r in CENTER_ROLES)


def _count(periods_by_class, exclusions, class_id: int, rule: str, day: dt.date) -> list[int]:
    """The students a baseline counts (see docs/figures.md for each rule)."""
    ids = set()
    for student_id, start, end in periods_by_class.get(class_id, ()):
        if rule == "grade1_enrolment":
            if start <= day:
                ids.add(student_id)
        elif _covers(start, end, day):
            ids.add(student_id)
    return sorted(s for s in ids if not _excluded_on(exclusions.get(s), day))


def freeze_baselines(session: Session, scope: Scope, user: User, *, school_id: int, school_year: str,
                     term: int, refreeze: bool = False, reason: str | None = None,
                     today: dt.date | None = None) -> list[Baseline]:
    """Freeze the baseline (基数) of every class of the school in that school year and term.

    Per class, the rule is: `takeover` in term 2 when the class has a term-1 baseline (the count
    of the class at the end of term 1); `grade1_enrolment` for a grade-1 class in term 1 (every
    student enrolled in the class by the cut-off, the later of term start and `today` but not
    after term end); else `term_start` (students whose enrolment period in the class covers the
    term start). Students excluded (special_exclusion) on the counting date are left out.

    A class with a current baseline keeps it unless `refreeze`: then a new row is written that
    names the one it replaces, with `reason`, and the old row stops being current. Returns the
    current baselines of all the school's classes, by class name.

    Raises NotFound (school out of scope), Forbidden (role may not), Invalid (school year, term,
    or the school has no calendar for the term), Conflict `duplicate` (a concurrent freeze won).
    Never commits.
    """
    school = get_in_scope(session, scope, School, school_id)
    check_school_year(school_year)
    check_term(term)
    if not may_freeze(scope, school):
        raise Forbidden("只有系统管理员、本校校长或教导处、本中心校领导可以冻结基数", code="role_forbidden")
    if reason is not None and not isinstance(reason, str):
        raise Invalid("字段 reason 必须是字符串", details={"field": "reason"})
    reason = (reason or "").strip() or None
    today = today or clock.today()
    dates = term_dates(session, [school.id], school_year, term)
    if school.id not in dates:
        raise Invalid(f"{school.name} 尚未设置 {school_year} 学年第{term}学期的校历，无法冻结基数",
                      details={"field": "term"})
    start, end = dates[school.id]
    previous_end = None
    if term == 2:
        first = term_dates(session, [school.id], school_year, 1)
        previous_end = first[school.id][1] if school.id in first else None

    classes = session.scalars(select(SchoolClass).where(
        SchoolClass.school_id == school.id, SchoolClass.school_year == school_year)
        .order_by(SchoolClass.grade, SchoolClass.name, SchoolClass.id)).all()
    class_ids = [k.id for k in classes]
    current = _current_baselines(session, class_ids, school_year, term)
    had_term1 = set(_current_baselines(session, class_ids, school_year, 1)) if term == 2 else set()

    periods: dict[int, list] = defaultdict(list)
    if class_ids:
        for student_id, class_id, p_start, p_end in session.execute(
                select(Enrolment.student_id, Enrolment.class_id, Enrolment.start_date, Enrolment.end_date)
                .where(Enrolment.class_id.in_(class_ids))):
            periods[class_id].append((student_id, p_start, p_end))
    students = select(Enrolment.student_id).where(Enrolment.class_id.in_(class_ids)).scalar_subquery()
    exclusions = _exclusion_events(session, students) if class_ids else {}

    cutoff = min(max(today, start), end)
    out = []
    for klass in classes:
        old = current.get(klass.id)
        if old is not None and not refreeze:
            out.append(old)
            continue
        if term == 2 and klass.id in had_term1 and previous_end is not None:
            rule, day = "takeover", previous_end
        elif term == 1 and klass.grade == 1:
            rule, day = "grade1_enrolment", cutoff
        else:
            rule, day = "term_start", start
        ids = _count(periods, exclusions, klass.id, rule, day)
        if old is not None:
            old.is_current = False
            session.flush()  # the partial unique index allows one current row per class and term
        row = Baseline(class_id=klass.id, school_id=school.id, school_year=school_year, term=term,
                       count=len(ids), rule=rule, counted_on=day, student_ids=ids,
                       frozen_at=clock.now(), frozen_by_id=user.id if user is not None else None,
                       reason=reason or ("重新冻结" if old is not None else "学期初冻结"),
                       replaces_id=old.id if old is not None else None)
        session.add(row)
        out.append(row)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict("基数刚被他人冻结，请刷新后再试", code="duplicate") from None
    return out


def baseline_history(session: Session, scope: Scope, class_id: int, school_year: str, term: int) -> list[Baseline]:
    """Every baseline row of one class and term, newest first (the audit trail of re-freezes)."""
    klass = get_in_scope(session, scope, SchoolClass, class_id)
    return list(session.scalars(select(Baseline).where(
        Baseline.class_id == klass.id, Baseline.school_year == school_year, Baseline.term == term)
        .order_by(Baseline.id.desc())))


# --- class figures -----------------------------------------------------------------------------


def _class_items(classes: list[ClassRow], baselines: dict[int, Baseline], losses, recoveries,
                 terms, cfg: FigureSettings) -> list[dict]:
    out = []
    for c in classes:
        base = baselines.get(c.id)
        lost = losses.get(c.id, [])
        rec = recoveries.get(c.id, [])
        n = len(lost)
        if base is None:
            loss_rate, over = None, False
        elif base.count == 0:
            # nobody was counted but someone was lost (joined after the freeze): no rate, but over
            loss_rate, over = (Decimal("0.0000"), False) if n == 0 else (None, True)
        else:
            loss_rate = rate(n, base.count)
            over = loss_rate > cfg.class_threshold
        term = terms.get(c.school_id)
        out.append({
            "class_id": c.id, "class_name": c.name, "grade": c.grade, "school_id": c.school_id,
            "school_name": c.school_name,
            "term_start": term[0] if term else None, "term_end": term[1] if term else None,
            "baseline": base.count if base is not None else None,
            "baseline_rule": base.rule if base is not None else None,
            "baseline_id": base.id if base is not None else None,
            "frozen_at": base.frozen_at if base is not None else None,
            "losses": n, "loss_rate": loss_rate, "over_threshold": over,
            "threshold": cfg.class_threshold,
            "coefficient": coefficient(n, cfg.coefficient_step),
            "recovered": len({r.student_id for r in rec}),
            "loss_student_ids": [x.student_id for x in lost],
            "recovered_student_ids": sorted({r.student_id for r in rec}),
            "loss_details": lost, "recovery_details": rec,
        })
    return out


def class_figures(session: Session, scope: Scope, *, school_id: int | None = None, school_year: str,
                  term: int, settings: FigureSettings | Mapping | None = None) -> list[dict]:
    """One row per class of the school (or, without `school_id`, every class the user may see)
    in that school year: baseline (None before freezing), losses, loss_rate (Decimal, 4 places;
    None before freezing), over_threshold (strictly above the class threshold), coefficient
    (Decimal, 2 places), recovered, loss_student_ids, recovered_student_ids, and the details
    (Loss / Recovery records) behind them.

    Raises NotFound (school out of scope), Invalid (school year or term). Never writes.
    """
    check_school_year(school_year)
    check_term(term)
    cfg = _settings(settings)
    if school_id is not None:
        get_in_scope(session, scope, School, school_id)
    classes = _classes(session, scope, school_year, school_id=school_id)
    terms = term_dates(session, {c.school_id for c in classes}, school_year, term)
    losses, recoveries = movements(session, classes, school_year, term, terms)
    baselines = _baseline_counts(session, scope, school_year, term, school_id=school_id)
    return _class_items(classes, baselines, losses, recoveries, terms, cfg)


def school_loss_rates(session: Session, school_ids: Iterable[int], school_year: str,
                      term: int) -> dict[int, tuple[int, int | None, Decimal | None]]:
    """{school id: (losses, baseline, rate)} for oversight (no scope: the caller has already
    limited `school_ids` to what the user may see).

    `losses` counts every class of the school; `baseline` is the sum of the frozen baselines
    (None when no class of the school is frozen) and `rate` = losses of the frozen classes /
    that sum, 4 places (None when nothing is frozen or the sum is 0). A constant number of
    queries for any number of schools."""
    ids = sorted(set(school_ids))
    out: dict[int, tuple[int, int | None, Decimal | None]] = {sid: (0, None, None) for sid in ids}
    if not ids:
        return out
    classes = _classes(session, None, school_year, school_ids=ids)
    losses, _ = movements(session, classes, school_year, term, with_recoveries=False)
    baselines = _current_baselines(session, [c.id for c in classes], school_year, term, with_students=False)
    total: dict[int, int] = defaultdict(int)
    frozen_losses: dict[int, int] = defaultdict(int)
    frozen_base: dict[int, int] = {}
    for c in classes:
        n = len(losses.get(c.id, ()))
        total[c.school_id] += n
        base = baselines.get(c.id)
        if base is not None:
            frozen_base[c.school_id] = frozen_base.get(c.school_id, 0) + base.count
            frozen_losses[c.school_id] += n
    for sid in ids:
        base = frozen_base.get(sid)
        out[sid] = (total.get(sid, 0), base, rate(frozen_losses.get(sid, 0), base) if base else None)
    return out



def current_school_loss_rates(session: Session, school_ids: Iterable[int], *,
                              today: dt.date) -> dict[int, tuple[int, int | None, Decimal | None]]:
    """`school_loss_rates` for the term each school is in on `today`: the latest term that has
    begun by then (so a winter holiday still shows term 1, the summer term 2). Schools without
    a calendar answer (0, None, None). At most three groups of (school year, term), so still a
    constant number of queries."""
    ids = sorted(set(school_ids))
    year = school_year_of(today)
    first = int(year[:4])
    previous = f"{first - 1}-{first}"
    candidates = [(year, 2), (year, 1), (previous, 2)]
    dates = {c: term_dates(session, ids, *c) for c in candidates}
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    out: dict[int, tuple[int, int | None, Decimal | None]] = {}
    for sid in ids:
        chosen = next((c for c in candidates if sid in dates[c] and dates[c][sid][0] <= today), None)
        if chosen is None:
            out[sid] = (0, None, None)
        else:
            groups[chosen].append(sid)
    for (school_year, term), members in groups.items():
        out.update(school_loss_rates(session, members, school_year, term))
    return out

# --- ledger ------------------------------------------------------------------------------------


def ledger(session: Session, scope: Scope, *, school_id: int, school_year: str, term: int,
           amounts: Mapping | None = None, settings: FigureSettings | Mapping | None = None) -> list[dict]:
    """Reward/penalty lines of one school's term (SPEC §4 ledger), each traceable to a student
    and a case: `loss_amount` (default −50) per loss for every homeroom teacher of the class and
    every prevention team member of the school; `recovery_amount` (default +50) per recovered
    child for every staff member the recovery credited (`mark_returned` data.credited_user_ids).
    `amounts` may override {"loss": ..., "recovery": ...}.

    Lines: {user_id, user_name, role, amount (Decimal), reason, student_id, student_name,
    case_id, class_id, class_name, date}; ordered by date, class, student, user.
    Raises NotFound (school out of scope), Invalid. Never writes.
    """
    cfg = _settings(settings)
    amounts = dict(amounts or {})
    loss_amount = Decimal(str(amounts.get("loss", cfg.loss_amount)))
    recovery_amount = Decimal(str(amounts.get("recovery", cfg.recovery_amount)))
    items = class_figures(session, scope, school_id=school_id, school_year=school_year, term=term,
                          settings=cfg)
    class_ids = [i["class_id"] for i in items]
    losses = [x for i in items for x in i["loss_details"]]
    recoveries = [x for i in items for x in i["recovery_details"]]
    homeroom: dict[int, list[int]] = defaultdict(list)
    team: list[int] = []
    for role, user_id, class_id in session.execute(
            select(RoleAssignment.role, RoleAssignment.user_id, RoleAssignment.class_id)
            .join(User, User.id == RoleAssignment.user_id)
            .where(User.is_active.is_(True),
                   or_(and_(RoleAssignment.role == "homeroom_teacher", RoleAssignment.class_id.in_(class_ids)),
                       and_(RoleAssignment.role == "team_member", RoleAssignment.school_id == school_id)))
            .order_by(RoleAssignment.user_id)):
        if role == "homeroom_teacher":
            homeroom[class_id].append(user_id)
        elif user_id not in team:
            team.append(user_id)
    credited = {u for r in recoveries for u in r.credited_user_ids}
    user_ids = set(team) | {u for us in homeroom.values() for u in us} | credited
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(sorted(user_ids)))).all()) \
        if user_ids else {}
    student_ids = {x.student_id for x in losses} | {r.student_id for r in recoveries}
    students = dict(session.execute(select(Student.id, Student.name).where(
        Student.id.in_(sorted(student_ids)))).all()) if student_ids else {}
    class_names = {i["class_id"]: i["class_name"] for i in items}

    lines = []

    def line(user_id, role, amount, reason, x):
        lines.append({"user_id": user_id, "user_name": names.get(user_id), "role": role, "amount": amount,
                      "reason": reason, "student_id": x.student_id, "student_name": students.get(x.student_id),
                      "case_id": x.case_id, "class_id": x.class_id, "class_name": class_names.get(x.class_id),
                      "date": x.date})

    for x in losses:
        why = f"流失学生 {students.get(x.student_id, x.student_id)}（{class_names.get(x.class_id)}）"
        for user_id in homeroom.get(x.class_id, []):
            line(user_id, "homeroom_teacher", loss_amount, why, x)
        for user_id in team:
            line(user_id, "team_member", loss_amount, why, x)
    for r in recoveries:
        why = f"劝返学生 {students.get(r.student_id, r.student_id)} 返校（{class_names.get(r.class_id)}）"
        for user_id in dict.fromkeys(r.credited_user_ids):
            line(user_id, "credited", recovery_amount, why, r)
    lines.sort(key=lambda li: (li["date"], li["class_id"], li["student_id"], li["amount"], li["user_id"]))
    return lines


def ledger_totals(lines: list[dict]) -> list[dict]:
    """{user_id, user_name, amount, lines} per person, largest penalty first."""
    totals: dict[int, dict] = {}
    for li in lines:
        t = totals.setdefault(li["user_id"], {"user_id": li["user_id"], "user_name": li["user_name"],
                                              "amount": Decimal("0"), "lines": 0})
        t["amount"] += li["amount"]
        t["lines"] += 1
    return sorted(totals.values(), key=lambda t: (t["amount"], t["user_id"]))


# --- school figures ----------------------------------------------------------------------------


def _shift_year(school_year: str, years: int) -> str:
    first = int(school_year[:4]) + years
    return f"{first}-{first + 1}"


def year_span(session: Session, school_id: int, school_year: str) -> tuple[dt.date, dt.date]:
    """The days that belong to a school year: from its term-1 start (else 1 September) to the
    day before the next year's term-1 start (else 31 August)."""
    first = int(school_year[:4])
    this = term_dates(session, [school_id], school_year, 1).get(school_id)
    following = term_dates(session, [school_id], _shift_year(school_year, 1), 1).get(school_id)
    start = this[0] if this else dt.date(first, 9, 1)
    end = following[0] - ONE_DAY if following else dt.date(first + 1, 8, 31)
    return start, end


def _students_at(session: Session, class_ids: list[int], day: dt.date) -> set[int]:
    if not class_ids:
        return set()
    return set(session.scalars(select(Enrolment.student_id).where(
        Enrolment.class_id.in_(class_ids), Enrolment.start_date <= day,
        or_(Enrolment.end_date.is_(None), Enrolment.end_date > day))))


def _class_ids(session: Session, school_id: int, school_year: str, grades: Iterable[int] | None = None) -> list[int]:
    stmt = select(SchoolClass.id).where(SchoolClass.school_id == school_id, SchoolClass.school_year == school_year)
    if grades is not None:
        stmt = stmt.where(SchoolClass.grade.in_(list(grades)))
    return list(session.scalars(stmt))


def _retention(session: Session, school_id: int, school_year: str, *, last_grade: int, first_grade: int,
               cfg: FigureSettings, use_exams: bool) -> dict | None:
    years_back = last_grade - first_grade
    cohort_year = _shift_year(school_year, -years_back)
    last_classes = _class_ids(session, school_id, school_year, [last_grade])
    first_classes = _class_ids(session, school_id, cohort_year, [first_grade])
    if not last_classes and not first_classes:
        return None
    first_start = year_span(session, school_id, cohort_year)[0]
    cohort = _students_at(session, first_classes, first_start)
    source = "year_end"
    finishers: set[int] = set()
    if use_exams and last_classes:
        finishers = set(session.scalars(select(ExamScore.student_id).where(
            ExamScore.class_id.in_(last_classes), ExamScore.school_year == school_year,
            ExamScore.term == 2, ExamScore.exam == "final")))
        if finishers:
            source = "exam"
    if source == "year_end":
        term2 = term_dates(session, [school_id], school_year, 2).get(school_id)
        year_end = term2[1] if term2 else year_span(session, school_id, school_year)[1]
        # on the last day of term: a period still open, or closed by graduation that day
        finishers = set(session.scalars(select(Enrolment.student_id).where(
            Enrolment.class_id.in_(last_classes), Enrolment.start_date <= year_end,
            or_(Enrolment.end_date.is_(None), Enrolment.end_date >= year_end)))) if last_classes else set()
    value = rate(len(finishers), len(cohort))
    return {"cohort_year": cohort_year, "cohort_grade": first_grade, "cohort": len(cohort),
            "final_grade": last_grade, "finishers": len(finishers), "source": source,
            "rate": value, "target": cfg.retention_target,
            "meets_target": None if value is None else value >= cfg.retention_target}


def school_figures(session: Session, scope: Scope, *, school_id: int, school_year: str,
                   settings: FigureSettings | Mapping | None = None) -> dict:
    """Annual dropout rate and retention rates of one school (SPEC §4).

    dropout_rate = students counted as dropped out in the school year / students enrolled in
    the school's classes of that year on its first day; by default only confirmed dropouts count,
    `count_suspensions`, `count_deaths`, `count_unconfirmed_transfers` add those. Target: below
    3% for a junior-high school, 2% otherwise; per class (the `classes` rows) below 2%.
    Retention: junior_high (grade 9 sitting the final exam, else active at year end / grade 7 at
    the start of the year two school years earlier) and primary (grade 6 at year end / grade 1
    five school years earlier), each None when the school has neither end of the cohort.

    Raises NotFound (school out of scope), Invalid. Never writes.
    """
    check_school_year(school_year)
    cfg = _settings(settings)
    school = get_in_scope(session, scope, School, school_id)
    start, end = year_span(session, school.id, school_year)
    classes = session.execute(select(SchoolClass.id, SchoolClass.name, SchoolClass.grade).where(
        SchoolClass.school_id == school.id, SchoolClass.school_year == school_year)
        .order_by(SchoolClass.grade, SchoolClass.name)).all()
    class_ids = [c.id for c in classes]
    at_start: dict[int, set[int]] = defaultdict(set)
    if class_ids:
        for student_id, class_id in session.execute(select(Enrolment.student_id, Enrolment.class_id).where(
                Enrolment.class_id.in_(class_ids), Enrolment.start_date <= start,
                or_(Enrolment.end_date.is_(None), Enrolment.end_date > start))):
            at_start[class_id].add(student_id)
    enrolled = set().union(*at_start.values()) if at_start else set()

    def first_dates(process, transitions, to_state=None):
        stmt = (select(Case.student_id, Case.id, func.min(CaseHistory.effective_date))
                .join(CaseHistory, CaseHistory.case_id == Case.id)
                .where(Case.process == process, Case.school_id == school.id,
                       CaseHistory.transition.in_(transitions))
                .group_by(Case.student_id, Case.id))
        if to_state is not None:
            stmt = stmt.where(CaseHistory.to_state == to_state)
        return [(s, c, d) for s, c, d in session.execute(stmt) if start <= d <= end]

    counted: dict[str, dict[int, dt.date]] = {}

    def earliest(rows) -> dict[int, dt.date]:
        out: dict[int, dt.date] = {}
        for student_id, _, day in rows:
            out[student_id] = min(day, out.get(student_id, day))
        return out

    counted["dropouts"] = earliest(first_dates("absence", ("confirm_dropout",)))
    if cfg.count_suspensions:
        counted["suspensions"] = earliest(first_dates("suspension", ("center_file",), "suspended"))
    if cfg.count_unconfirmed_transfers:
        transfers = first_dates("transfer_out", ("center_file",), "transferred")
        confirmed = set(session.scalars(select(CaseHistory.case_id).where(
            CaseHistory.case_id.in_([c for _, c, _ in transfers]), CaseHistory.transition == "confirm_arrival",
            CaseHistory.effective_date <= end))) if transfers else set()
        counted["unconfirmed_transfers"] = earliest(t for t in transfers if t[1] not in confirmed)
    if cfg.count_deaths:
        # No process records a death: a student marked deceased whose period in the school's
        # classes ended within the year (or is still open) counts, on the day the period ended.
        counted["deaths"] = earliest(session.execute(select(Student.id, Student.id, func.coalesce(
            Enrolment.end_date, end)).join(Enrolment, Enrolment.student_id == Student.id).where(
            Student.status == "deceased", Enrolment.class_id.in_(class_ids),
            or_(Enrolment.end_date.is_(None), and_(Enrolment.end_date >= start, Enrolment.end_date <= end))))
        ) if class_ids else {}
    when: dict[int, dt.date] = {}
    for found in counted.values():
        for student_id, day in found.items():
            when[student_id] = min(day, when.get(student_id, day))
    target = cfg.junior_high_dropout_target if school.is_junior_high else cfg.primary_dropout_target
    value = rate(len(when), len(enrolled))

    # per class: the class the child was in on that day (enrolment history), against the class target
    periods = _periods_of(session, sorted(when)) if when else {}
    class_of = {s: _class_at(periods.get(s, ()), day) for s, day in when.items()}
    per_class = []
    for c in classes:
        n = sum(1 for s in when if class_of.get(s) == c.id)
        r = rate(n, len(at_start.get(c.id, ())))
        per_class.append({"class_id": c.id, "class_name": c.name, "grade": c.grade,
                          "enrolment": len(at_start.get(c.id, ())), "dropouts": n, "dropout_rate": r,
                          "target": cfg.class_dropout_target,
                          "meets_target": None if r is None else r < cfg.class_dropout_target})
    return {
        "school_id": school.id, "school_name": school.name, "school_year": school_year,
        "is_junior_high": school.is_junior_high, "year_start": start, "year_end": end,
        "enrolment": len(enrolled), "dropouts": len(when),
        "counted": {k: len(v) for k, v in counted.items()},
        "dropout_student_ids": sorted(when),
        "definition": {"count_suspensions": cfg.count_suspensions, "count_deaths": cfg.count_deaths,
                       "count_unconfirmed_transfers": cfg.count_unconfirmed_transfers},
        "dropout_rate": value, "dropout_target": target,
        "meets_target": None if value is None else value < target,
        "retention": {
            "junior_high": _retention(session, school.id, school_year, last_grade=9, first_grade=7, cfg=cfg,
                                      use_exams=True),
            "primary": _retention(session, school.id, school_year, last_grade=6, first_grade=1, cfg=cfg,
                                  use_exams=False),
        },
        "classes": per_class,
    }

