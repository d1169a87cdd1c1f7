"""School figures (SPEC §4): the annual dropout rate of a school and of each class, and the
junior-high and primary retention rates, each against its target."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from models import Case, CaseHistory, Enrolment, ExamScore, School, SchoolClass, Student
from workflow.access.scope import Scope, get_in_scope
from workflow.figures.common import FigureSettings, class_at, periods_of, rate, term_dates
from workflow.org.services import check_school_year

ONE_DAY = dt.timedelta(days=1)


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
    cfg = FigureSettings.from_mapping(settings)
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
    periods = periods_of(session, sorted(when)) if when else {}
    class_of = {s: class_at(periods.get(s, ()), day) for s, day in when.items()}
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
