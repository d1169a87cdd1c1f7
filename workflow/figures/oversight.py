"""Center-school oversight figures (中心校督导, SPEC §2, §3, §4): what the center head, the center
office and the county supervisor look at.

Per school: open cases by process and state, overdue cases, open recovery cases (the number a
center drives to zero, 动态清零), suspected dropouts (absence cases on the visit_3 or
village_joint rung), school days of the last two weeks on which a class's attendance was not
taken, and the loss rate of the current term (workflow.figures.losses; None, shown "—", until the
classes' baselines are frozen).

Every figure is computed for a set of schools with grouped queries (one GROUP BY over all the
schools, never one query per school); only the school calendars are loaded per school, once.
No Flask: the pages and the API call these with the user's scope.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, joinedload, selectinload

from models import AttendanceRecord, Case, CaseHistory, School, SchoolClass, Student
from workflow.absence.attendance import missing_days
from workflow.access.permissions import may_oversee
from workflow.access.scope import Scope
from workflow.cases.queue import COMPUTED_DUE, deadlines
from workflow.errors import N_, Forbidden, NotFound
from workflow.figures.common import FigureSettings, rate
from workflow.figures.losses import current_school_loss_rates
from workflow.org.calendar import CalendarBook
from workflow.processes.absence import SUSPECTED_DROPOUT_STATES

# SPEC §4 "three ledgers": open absence cases at rung 3 and above are suspected dropouts.
# Missing attendance is counted over this many calendar days before today (today is not over).
MISSING_WINDOW_DAYS = 14
CHART_WEEKS = 8
# SPEC §4: the class loss-rate threshold, as figures use it unless configured otherwise
DEFAULT_THRESHOLD = FigureSettings().class_threshold


@dataclass
class SchoolFigures:
    """One school's (or, rolled up, one center's) oversight row."""

    school_id: int
    name: str
    kind: str
    open_by_process: dict[str, dict[str, int]] = field(default_factory=dict)
    overdue: int = 0
    open_recovery: int = 0
    suspected_dropouts: int = 0
    missing_attendance_days: int = 0
    # SPEC §4 loss rate (losses / frozen baseline, workflow.figures.losses); None until frozen
    loss_rate: Decimal | None = None
    threshold: Decimal = DEFAULT_THRESHOLD
    # the frozen baseline behind the rate and its losses, so a center's rate can be rolled up
    baseline: int | None = None
    frozen_losses: int = 0

    @property
    def over_threshold(self) -> bool:
        """Strictly above the loss-rate threshold (SPEC §4)."""
        return self.loss_rate is not None and self.loss_rate > self.threshold

    @property
    def open_total(self) -> int:
        return sum(n for states in self.open_by_process.values() for n in states.values())

    def add(self, other: SchoolFigures) -> None:
        """Roll another school's figures into this row (a center's total)."""
        for process, states in other.open_by_process.items():
            mine = self.open_by_process.setdefault(process, {})
            for state, n in states.items():
                mine[state] = mine.get(state, 0) + n
        self.overdue += other.overdue
        self.open_recovery += other.open_recovery
        self.suspected_dropouts += other.suspected_dropouts
        self.missing_attendance_days += other.missing_attendance_days
        if other.baseline:
            self.baseline = (self.baseline or 0) + other.baseline
            self.frozen_losses += other.frozen_losses
            self.loss_rate = rate(self.frozen_losses, self.baseline)

    def as_dict(self) -> dict:
        return {
            "school_id": self.school_id, "name": self.name, "kind": self.kind,
            "open_cases": self.open_total, "open_by_process": self.open_by_process,
            "overdue": self.overdue, "open_recovery": self.open_recovery,
            "suspected_dropouts": self.suspected_dropouts,
            "missing_attendance_days": self.missing_attendance_days,
            "loss_rate": None if self.loss_rate is None else str(self.loss_rate),
            "over_threshold": self.over_threshold,
        }


# --- who oversees what -------------------------------------------------------------------------


def overseen_centers(session: Session, scope: Scope) -> list[School]:
    """The center schools the user oversees: admin all, center roles their centers, a county
    supervisor every center below the county. Raises Forbidden for any other role."""
    if not may_oversee(scope):
        raise Forbidden(N_("只有中心校长、中心校教导主任和教育局督导可以查看督导页面"))
    stmt = select(School).where(School.kind == "center")
    if not scope.is_all:
        centers = set().union(*(scope.roles.get(r, frozenset()) for r in ("center_head", "center_office")))
        counties = scope.roles.get("county_supervisor", frozenset())
        stmt = stmt.where((School.id.in_(sorted(centers) or [-1])) | (School.county_id.in_(sorted(counties) or [-1])))
    return list(session.scalars(stmt.order_by(School.name)))


def get_center(session: Session, scope: Scope, center_id) -> School:
    """A center school the user oversees. Raises Forbidden (no oversight role), NotFound."""
    centers = {c.id: c for c in overseen_centers(session, scope)}
    try:
        center = centers.get(int(center_id))
    except (TypeError, ValueError):
        center = None
    if center is None:
        raise NotFound(N_("中心校不存在或不在您的管辖范围内"))
    return center


def get_school(session: Session, scope: Scope, school_id) -> School:
    """A school (center or branch) of a center the user oversees. Raises Forbidden, NotFound."""
    centers = {c.id for c in overseen_centers(session, scope)}
    try:
        school = session.get(School, int(school_id))
    except (TypeError, ValueError):
        school = None
    if school is None or school.kind == "county" or school.center_id not in centers:
        raise NotFound(N_("学校不存在或不在您的管辖范围内"))
    return school


def get_class(session: Session, scope: Scope, class_id) -> SchoolClass:
    """A class of a school the user oversees. Raises Forbidden, NotFound."""
    try:
        klass = session.get(SchoolClass, int(class_id))
    except (TypeError, ValueError):
        klass = None
    if klass is None:
        raise NotFound(N_("班级不存在或不在您的管辖范围内"))
    get_school(session, scope, klass.school_id)
    return klass


# --- figures -------------------------------------------------------------------------------------


def schools_of_centers(session: Session, center_ids: list[int]) -> list[School]:
    """Each center school first, then its branches by name."""
    rows = session.scalars(select(School).where(School.center_id.in_(sorted(center_ids) or [-1]),
                                                School.kind != "county"))
    return sorted(rows, key=lambda s: (s.center_id, s.kind != "center", s.name, s.id))


def school_figures(session: Session, schools: list[School], *, today: dt.date,
                   threshold: Decimal = DEFAULT_THRESHOLD) -> list[SchoolFigures]:
    """The oversight row of each school, in the order given; `threshold` is the loss rate above
    which a school is marked (config FIGURES class_threshold)."""
    ids = [s.id for s in schools]
    rows = {s.id: SchoolFigures(s.id, s.name, s.kind, threshold=threshold) for s in schools}
    if not ids:
        return []
    for school_id, process, state, n in session.execute(
            select(Case.school_id, Case.process, Case.state, func.count())
            .where(Case.school_id.in_(ids), Case.is_open.is_(True))
            .group_by(Case.school_id, Case.process, Case.state)):
        fig = rows[school_id]
        fig.open_by_process.setdefault(process, {})[state] = n
        if process == "recovery":
            fig.open_recovery += n
        if process == "absence" and state in SUSPECTED_DROPOUT_STATES:
            fig.suspected_dropouts += n
    calendars = CalendarBook(session)  # the schools' calendars in two queries, for both counts
    calendars.preload(ids)
    for school_id, n in overdue_counts(session, ids, today=today, calendars=calendars).items():
        rows[school_id].overdue = n
    for school_id, n in missing_attendance(session, ids, today=today, calendars=calendars).items():
        rows[school_id].missing_attendance_days = n
    for school_id, (baseline, frozen_losses, loss_rate) in loss_rates(session, ids, today=today).items():
        rows[school_id].baseline, rows[school_id].frozen_losses = baseline, frozen_losses
        rows[school_id].loss_rate = loss_rate
    return [rows[i] for i in ids]


def center_rollup(session: Session, centers: list[School], *, today: dt.date,
                  threshold: Decimal = DEFAULT_THRESHOLD) -> list[SchoolFigures]:
    """One row per center school: the sum of its schools' figures (for a county supervisor)."""
    schools = schools_of_centers(session, [c.id for c in centers])
    totals = {c.id: SchoolFigures(c.id, c.name, "center", threshold=threshold) for c in centers}
    for school, fig in zip(schools, school_figures(session, schools, today=today, threshold=threshold),
                           strict=True):
        totals[school.center_id].add(fig)
    return [totals[c.id] for c in centers]


def overdue_counts(session: Session, school_ids: list[int], *, today: dt.date,
                   calendars: CalendarBook | None = None) -> dict[int, int]:
    """school id -> open cases past their due date (the queue's rule, workflow.cases.queue.deadlines).

    A case with a `due_on` set by the sweep is overdue by its `is_overdue` flag: those are
    counted in SQL. Only the open cases without `due_on` in the states whose due date
    `deadlines` computes (suspended suspensions, filed transfers out, submitted transfers in)
    are loaded and passed to it."""
    if not school_ids:
        return {}
    open_here = and_(Case.school_id.in_(school_ids), Case.is_open.is_(True))
    out: dict[int, int] = dict(session.execute(
        select(Case.school_id, func.count()).where(open_here, Case.due_on.is_not(None), Case.is_overdue.is_(True))
        .group_by(Case.school_id)).all())
    computed = or_(*(and_(Case.process == p, Case.state == s) for p, s in COMPUTED_DUE))
    cases = list(session.scalars(select(Case).where(open_here, Case.due_on.is_(None), computed)))
    due = deadlines(session, cases, today=today, calendars=calendars)
    for case in cases:
        if due[case.id][1]:
            out[case.school_id] = out.get(case.school_id, 0) + 1
    return out


def missing_attendance(session: Session, school_ids: list[int], *, today: dt.date,
                       days: int = MISSING_WINDOW_DAYS, calendars: CalendarBook | None = None) -> dict[int, int]:
    """school id -> (class, school day) pairs of the last `days` days before today on which the
    class's attendance was not taken. Classes count on the school days of their school year."""
    start, end = today - dt.timedelta(days=days), today - dt.timedelta(days=1)
    classes = list(session.execute(select(SchoolClass.id, SchoolClass.school_id, SchoolClass.school_year)
                                   .where(SchoolClass.school_id.in_(school_ids))))
    school_of = {c.id: c.school_id for c in classes}
    out: dict[int, int] = {}
    # the rule is the homeroom teacher queue's (workflow.absence.attendance.missing_days)
    for class_id, days_missing in missing_days(session, classes, start, end, calendars=calendars).items():
        out[school_of[class_id]] = out.get(school_of[class_id], 0) + len(days_missing)
    return out


def loss_rates(session: Session, school_ids: list[int], *,
               today: dt.date) -> dict[int, tuple[int | None, int, Decimal | None]]:
    """school id -> (frozen baseline, losses of the frozen classes, loss rate) of the term the
    school is in (`workflow.figures.losses.current_school_loss_rates`); (None, 0, None) while no baseline is frozen ("—")."""
    out = {}
    for sid, (_losses, base, loss_rate) in current_school_loss_rates(session, school_ids, today=today).items():
        # figures gives the rate to 4 places; losses = rate × baseline is exact below 10 000 pupils
        frozen = int((loss_rate * base).to_integral_value()) if base and loss_rate is not None else 0
        out[sid] = (base, frozen, loss_rate)
    return out


# --- drill down ----------------------------------------------------------------------------------


@dataclass
class ClassRow:
    class_id: int
    name: str
    grade: int
    school_year: str
    open_cases: int
    suspected_dropouts: int


def classes_with_open_cases(session: Session, school: School) -> list[ClassRow]:
    """The school's classes that have students with open cases, with counts (one GROUP BY)."""
    stmt = (select(SchoolClass.id, SchoolClass.name, SchoolClass.grade, SchoolClass.school_year,
                   func.count(Case.id),
                   func.sum(sql_case(((Case.process == "absence") & Case.state.in_(SUSPECTED_DROPOUT_STATES), 1), else_=0)))
            .join(Student, Student.class_id == SchoolClass.id)
            .join(Case, Case.student_id == Student.id)
            .where(SchoolClass.school_id == school.id, Case.is_open.is_(True), Case.school_id == school.id)
            .group_by(SchoolClass.id, SchoolClass.name, SchoolClass.grade, SchoolClass.school_year)
            .order_by(SchoolClass.school_year.desc(), SchoolClass.grade, SchoolClass.name))
    return [ClassRow(i, name, grade, year, n, int(s or 0)) for i, name, grade, year, n, s in session.execute(stmt)]


def cases_without_class(session: Session, school: School) -> int:
    """Open cases of the school whose student sits in no class (e.g. an incoming transfer)."""
    return session.scalar(select(func.count(Case.id)).join(Student, Student.id == Case.student_id).where(
        Case.school_id == school.id, Case.is_open.is_(True), Student.class_id.is_(None))) or 0


def class_cases(session: Session, klass: SchoolClass, *, today: dt.date) -> list[tuple[Case, dt.date | None, bool]]:
    """The open cases of the class's students, most urgent first: (case, due, overdue)."""
    cases = list(session.scalars(
        select(Case).join(Student, Student.id == Case.student_id)
        .where(Student.class_id == klass.id, Case.is_open.is_(True))
        .options(joinedload(Case.school), selectinload(Case.student))
        .order_by(Case.opened_on, Case.id)).unique())
    due = deadlines(session, cases, today=today)
    rows = [(c, *due[c.id]) for c in cases]
    rows.sort(key=lambda r: (not r[2], r[1] is None, r[1] or dt.date.max, r[0].id))
    return rows


# --- the eight-week chart --------------------------------------------------------------------------


@dataclass
class Week:
    start: dt.date
    end: dt.date
    open_cases: int = 0
    unexcused: int = 0


def weekly_series(session: Session, school_ids: list[int], *, today: dt.date,
                  weeks: int = CHART_WEEKS) -> list[Week]:
    """For each of the last `weeks` weeks (Monday–Sunday, the last one containing today): the
    cases open at the week's end (by opening date and the effective date of the transition that
    closed them) and the unexcused absence marks of the week. Three grouped queries."""
    monday = today - dt.timedelta(days=today.weekday())
    series = [Week(monday - dt.timedelta(weeks=weeks - 1 - i),
                   min(today, monday - dt.timedelta(weeks=weeks - 1 - i) + dt.timedelta(days=6)))
              for i in range(weeks)]
    first = series[0].start
    if not school_ids:
        return series
    closed_on = dict(session.execute(
        select(CaseHistory.case_id, func.max(CaseHistory.effective_date))
        .join(Case, Case.id == CaseHistory.case_id)
        # a case whose latest row is on or after `first` has a row on or after it, and that
        # row is its latest: reading only those rows gives the same answer, from the date index
        .where(Case.school_id.in_(school_ids), Case.is_open.is_(False), CaseHistory.effective_date >= first)
        .group_by(CaseHistory.case_id)
        .having(func.max(CaseHistory.effective_date) >= first)).all())
    cases = session.execute(select(Case.id, Case.opened_on, Case.is_open).where(
        Case.school_id.in_(school_ids), Case.opened_on <= today,
        Case.is_open.is_(True) | Case.id.in_(sorted(closed_on) or [-1])))
    for case_id, opened_on, is_open in cases:
        closed = None if is_open else closed_on.get(case_id)
        for week in series:
            if opened_on <= week.end and (closed is None or closed > week.end):
                week.open_cases += 1
    for day, n in session.execute(
            select(AttendanceRecord.date, func.count())
            .join(SchoolClass, SchoolClass.id == AttendanceRecord.class_id)
            .where(SchoolClass.school_id.in_(school_ids), AttendanceRecord.status == "unexcused",
                   AttendanceRecord.date.between(first, today))
            .group_by(AttendanceRecord.date)):
        for week in series:
            if week.start <= day <= week.end:
                week.unexcused += n
    return series
