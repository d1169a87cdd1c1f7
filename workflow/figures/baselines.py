"""Baselines (基数, SPEC §4): freezing each class's count once per term, re-freezing with a reason,
the audit trail, and the current baseline rows the loss figures divide by."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer

from models import Baseline, Enrolment, School, SchoolClass, User
from workflow import clock
from workflow.access.permissions import may_freeze_baselines
from workflow.access.scope import Scope, class_filter, get_in_scope
from workflow.errors import N_, Conflict, Forbidden, Invalid
from workflow.figures.common import check_term, excluded_on, exclusion_events, term_dates
from workflow.org.services import check_school_year


def current_baselines(session: Session, class_ids: Iterable[int], school_year: str,
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


def baseline_counts(session: Session, scope: Scope, school_year: str, term: int, *,
                    school_id: int | None = None) -> dict[int, _BaselineCount]:
    """Current baseline per class of `common.class_rows(session, scope, school_year, school_id=...)`,
    selected by the same filter rather than by a list of (up to thousands of) class ids, and
    without the counted ids."""
    stmt = (select(Baseline.class_id, Baseline.id, Baseline.count, Baseline.rule, Baseline.frozen_at)
            .join(SchoolClass, SchoolClass.id == Baseline.class_id)
            .where(SchoolClass.school_year == school_year, Baseline.school_year == school_year,
                   Baseline.term == term, Baseline.is_current.is_(True), class_filter(scope)))
    if school_id is not None:
        stmt = stmt.where(SchoolClass.school_id == school_id)
    return {class_id: _BaselineCount(*rest) for class_id, *rest in session.execute(stmt)}


def _covers(start: dt.date, end: dt.date | None, day: dt.date) -> bool:
    """A period [start, end) is in force on `day` (a period ends on the day the student left)."""
    return start <= day and (end is None or end > day)


def _count(periods_by_class, exclusions, class_id: int, rule: str, day: dt.date) -> list[int]:
    """The students a baseline counts (see docs/figures.md for each rule)."""
    ids = set()
    for student_id, start, end in periods_by_class.get(class_id, ()):
        if rule == "grade1_enrolment":
            if start <= day:
                ids.add(student_id)
        elif _covers(start, end, day):
            ids.add(student_id)
    return sorted(s for s in ids if not excluded_on(exclusions.get(s), day))


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
    if not may_freeze_baselines(scope, school):
        raise Forbidden(N_("只有系统管理员、本校校长或教导处、本中心校领导可以冻结基数"), code="role_forbidden")
    if reason is not None and not isinstance(reason, str):
        raise Invalid(N_("字段 reason 必须是字符串"), details={"field": "reason"})
    reason = (reason or "").strip() or None
    today = today or clock.today()
    dates = term_dates(session, [school.id], school_year, term)
    if school.id not in dates:
        raise Invalid(N_("%(school)s 尚未设置 %(year)s 学年第%(term)d学期的校历，无法冻结基数"),
                      school=school.name, year=school_year, term=term,
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
    current = current_baselines(session, class_ids, school_year, term)
    had_term1 = set(current_baselines(session, class_ids, school_year, 1)) if term == 2 else set()

    periods: dict[int, list] = defaultdict(list)
    if class_ids:
        for student_id, class_id, p_start, p_end in session.execute(
                select(Enrolment.student_id, Enrolment.class_id, Enrolment.start_date, Enrolment.end_date)
                .where(Enrolment.class_id.in_(class_ids))):
            periods[class_id].append((student_id, p_start, p_end))
    students = select(Enrolment.student_id).where(Enrolment.class_id.in_(class_ids)).scalar_subquery()
    exclusions = exclusion_events(session, students) if class_ids else {}

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
                       reason=reason or (N_("重新冻结") if old is not None else N_("学期初冻结")),
                       replaces_id=old.id if old is not None else None)
        session.add(row)
        out.append(row)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(N_("基数刚被他人冻结，请刷新后再试"), code="duplicate") from None
    return out


def baseline_history(session: Session, scope: Scope, class_id: int, school_year: str, term: int) -> list[Baseline]:
    """Every baseline row of one class and term, newest first (the audit trail of re-freezes)."""
    klass = get_in_scope(session, scope, SchoolClass, class_id)
    return list(session.scalars(select(Baseline).where(
        Baseline.class_id == klass.id, Baseline.school_year == school_year, Baseline.term == term)
        .order_by(Baseline.id.desc())))
