"""The anonymous class survey (无记名问卷, SPEC §5) and the teacher evaluation page's figures.

Once per class and term the academic office opens a survey with the fixed question list about
each teacher of the class; one one-time code per child is printed on slips (the codes are shown
once, when opened or reissued: only their hashes are kept). A child answers on any phone without
logging in. What is stored cannot be traced back (docs/support.md): a code row holds its hash and
a used flag, nothing else; an answer row holds the survey and the scores, no code, no child, no
time. A code is spent by one conditional UPDATE (… WHERE is_used = false), so two phones racing
with the same code store one answer. Results show per teacher only once the survey is closed and
at least `MIN_ANSWERS` answers exist (fewer would let a teacher guess who said what).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, joinedload, selectinload

from models import (
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Survey,
    SurveyAnswer,
    SurveyCode,
    SurveyTeacher,
    User,
)
from workflow.access import permissions
from workflow.access.scope import CLASS_ROLES, Scope, get_in_scope, survey_filter, user_filter
from workflow.errors import Conflict, Forbidden, Invalid, NotFound, invalid_field
from workflow.figures.losses import class_figures
from workflow.support.common import check_term
from workflow.validation import N_

# The fixed question list (SPEC §5), asked about each teacher of the class; scores 1–5.
QUESTIONS = (
    N_("老师上课认真，讲解清楚"),
    N_("老师关心每一位同学"),
    N_("老师公平对待同学，不体罚、不讽刺挖苦"),
    N_("作业量合适，老师认真批改"),
    N_("我喜欢上这位老师的课"),
)
SCALE = {1: N_("很不同意"), 2: N_("不同意"), 3: N_("说不清"), 4: N_("同意"), 5: N_("很同意")}
MIN_ANSWERS = 5
# no 0/O, 1/I/L: a child copies the code from paper
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LEN = 8


def normalize_code(code) -> str:
    """The code as stored before hashing: upper case, without spaces and hyphens."""
    if not isinstance(code, str):
        return ""
    return "".join(ch for ch in code.upper() if ch not in " -\t")


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def _new_codes(session: Session, survey: Survey, n: int) -> list[str]:
    """`n` fresh codes for the survey: rows of hashes only; the plain codes are returned once."""
    codes = []
    for _ in range(n):
        raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LEN))
        codes.append(f"{raw[:4]}-{raw[4:]}")
    session.add_all(SurveyCode(survey_id=survey.id, code_hash=code_hash(c)) for c in codes)
    session.flush()
    return codes


def get_survey(session: Session, scope: Scope, survey_id) -> Survey:
    """A survey of a class the user sees, with its teachers. Raises NotFound."""
    return get_in_scope(session, scope, Survey, survey_id,
                        options=(selectinload(Survey.teachers).joinedload(SurveyTeacher.user),
                                 joinedload(Survey.klass)))


def list_surveys(session: Session, scope: Scope, *, school_id: int | None = None) -> list[Survey]:
    """Surveys the user sees, newest term first."""
    stmt = select(Survey).where(survey_filter(scope)).options(joinedload(Survey.klass))
    if school_id is not None:
        stmt = stmt.where(Survey.school_id == school_id)
    return list(session.scalars(stmt.order_by(Survey.school_year.desc(), Survey.term.desc(), Survey.id.desc())))


def open_survey(session: Session, scope: Scope, user: User, *, class_id, school_year, term,
                today: dt.date) -> tuple[Survey, list[str]]:
    """Open a class's survey for a term: the class's teachers now, one code per active child.

    Returns the survey and the plain codes (shown once, for the slips). Raises NotFound (class out
    of scope), Forbidden (`permissions.may_open_survey`), Invalid (term; class of another school
    year; no teachers; no children), Conflict `duplicate` (the class has that term's survey)."""
    klass = get_in_scope(session, scope, SchoolClass, class_id)
    check_term(school_year, term)
    if not permissions.may_open_survey(scope, klass):
        raise Forbidden(N_("只有该班所在学校的教导处可以发起问卷"))
    if klass.school_year != school_year:
        raise invalid_field("school_year", N_("班级「%(name)s」属于 %(year)s 学年"), name=klass.name,
                            year=klass.school_year)
    teachers = session.execute(
        select(RoleAssignment.user_id, RoleAssignment.role).join(User, User.id == RoleAssignment.user_id)
        .where(RoleAssignment.class_id == klass.id, RoleAssignment.role.in_(CLASS_ROLES), User.is_active.is_(True))
        .order_by(RoleAssignment.role, RoleAssignment.user_id)).all()
    seen: dict[int, str] = {}
    for uid, role in teachers:
        seen.setdefault(uid, role)
    if not seen:
        raise invalid_field("class_id", N_("该班没有登记班主任或科任教师，无法发起问卷"))
    children = session.scalar(select(func.count()).select_from(Student).where(
        Student.class_id == klass.id, Student.status == "active"))
    if not children:
        raise invalid_field("class_id", N_("该班没有在校学生"))
    if session.scalars(select(Survey.id).where(Survey.class_id == klass.id, Survey.school_year == school_year,
                                               Survey.term == term)).first():
        raise Conflict(N_("「%(name)s」%(year)s 学年第 %(term)d 学期的问卷已经发起过"), code="duplicate",
                       name=klass.name, year=school_year, term=term)
    survey = Survey(class_id=klass.id, school_id=klass.school_id, school_year=school_year, term=term,
                    opened_by_id=user.id, opened_on=today)
    session.add(survey)
    session.flush()
    session.add_all(SurveyTeacher(survey_id=survey.id, user_id=uid, role=role, position=i)
                    for i, (uid, role) in enumerate(seen.items()))
    codes = _new_codes(session, survey, children)
    session.refresh(survey)
    return survey, codes


def _require_manager(scope: Scope, survey: Survey) -> None:
    if not permissions.may_open_survey(scope, survey.klass):
        raise Forbidden(N_("只有该班所在学校的教导处可以管理问卷"))


def reissue_codes(session: Session, scope: Scope, user: User, survey_id) -> tuple[Survey, list[str]]:
    """Void every unused code and print as many new ones (the slips were lost, or never printed).
    Raises NotFound, Forbidden, Conflict `invalid_state` (closed)."""
    survey = get_survey(session, scope, survey_id)
    _require_manager(scope, survey)
    if survey.status != "open":
        raise Conflict(N_("问卷已结束，不能再发放代码"), code="invalid_state")
    unused = session.scalar(select(func.count()).select_from(SurveyCode).where(
        SurveyCode.survey_id == survey.id, SurveyCode.is_used.is_(False)))
    session.execute(delete(SurveyCode).where(SurveyCode.survey_id == survey.id, SurveyCode.is_used.is_(False))
                    .execution_options(synchronize_session=False))
    return survey, _new_codes(session, survey, unused)


def close_survey(session: Session, scope: Scope, user: User, survey_id, *, today: dt.date) -> Survey:
    """End the survey: no more answers; results appear (from `MIN_ANSWERS` answers).
    Raises NotFound, Forbidden, Conflict `invalid_state` (already closed)."""
    survey = get_survey(session, scope, survey_id)
    _require_manager(scope, survey)
    if survey.status != "open":
        raise Conflict(N_("问卷已经结束"), code="invalid_state")
    survey.status, survey.closed_on = "closed", today
    session.flush()
    return survey


def code_counts(session: Session, survey: Survey) -> tuple[int, int]:
    """(codes issued and not voided, codes used)."""
    total, used = session.execute(select(func.count(), func.count().filter(SurveyCode.is_used.is_(True)))
                                  .where(SurveyCode.survey_id == survey.id)).one()
    return total, used


# --- answering without logging in -------------------------------------------------------------


def survey_for_code(session: Session, code) -> Survey:
    """The open survey a printed code belongs to, for the phone page (no login: the code is the
    key). Raises Invalid (unknown code), Conflict `code_used` (spent) or `invalid_state` (closed)."""
    row = session.execute(select(SurveyCode.survey_id, SurveyCode.is_used)
                          .where(SurveyCode.code_hash == code_hash(code))).first()
    if not normalize_code(code) or row is None:
        raise invalid_field("code", N_("问卷代码不正确，请核对纸条上的代码"))
    if row.is_used:
        raise Conflict(N_("这个代码已经用过了，每个代码只能答一次"), code="code_used")
    survey = session.scalars(select(Survey).where(Survey.id == row.survey_id).options(
        selectinload(Survey.teachers).joinedload(SurveyTeacher.user), joinedload(Survey.klass))).one()
    if survey.status != "open":
        raise Conflict(N_("这份问卷已经结束"), code="invalid_state")
    return survey


def _check_scores(survey: Survey, scores) -> dict[str, list[int]]:
    if not isinstance(scores, dict):
        raise invalid_field("scores", N_("请回答每一个问题"))
    out = {}
    for t in survey.teachers:
        given = scores.get(str(t.user_id))
        if (not isinstance(given, list) or len(given) != len(QUESTIONS)
                or any(isinstance(x, bool) or x not in SCALE for x in given)):
            raise invalid_field("scores", N_("请回答每一个问题（每题选 1–5 中的一项）"))
        out[str(t.user_id)] = list(given)
    unknown = set(scores) - set(out)
    if unknown:
        raise invalid_field("scores", N_("答卷里有不属于这份问卷的老师"))
    return out


def submit_answers(session: Session, code, scores) -> Survey:
    """Store one anonymous answer and spend the code, atomically.

    Everything is checked first; then one `UPDATE survey_codes SET is_used = true WHERE code_hash
    = … AND is_used = false` spends the code — if another request spent it first, nothing is
    stored (Conflict `code_used`). The answer row gets neither the code nor a time.
    Raises Invalid (code, scores), Conflict `code_used` / `invalid_state`."""
    survey = survey_for_code(session, code)
    clean = _check_scores(survey, scores)
    spent = session.execute(
        update(SurveyCode).where(SurveyCode.code_hash == code_hash(code), SurveyCode.is_used.is_(False),
                                 SurveyCode.survey_id == survey.id)
        .values(is_used=True).execution_options(synchronize_session=False))
    if spent.rowcount != 1:
        raise Conflict(N_("这个代码已经用过了，每个代码只能答一次"), code="code_used")
    session.add(SurveyAnswer(survey_id=survey.id, scores=clean))
    session.flush()
    return survey


# --- results ----------------------------------------------------------------------------------


def _avg(values: list[int]) -> Decimal:
    return (Decimal(sum(values)) / len(values)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class TeacherResult:
    """One teacher's result in one survey; `shown` False (and no numbers) under `MIN_ANSWERS`
    answers or while the survey is open."""

    user_id: int
    name: str
    role: str
    answers: int
    shown: bool
    by_question: list[Decimal] = field(default_factory=list)
    overall: Decimal | None = None


def survey_results(session: Session, scope: Scope, survey: Survey) -> list[TeacherResult]:
    """Each teacher of the survey whose evaluation the user may see
    (`permissions.sees_teacher_evaluation`), with averages per question only when the survey is
    closed and has at least `MIN_ANSWERS` answers."""
    answers = list(session.scalars(select(SurveyAnswer.scores).where(SurveyAnswer.survey_id == survey.id)))
    center = session.scalar(select(School.center_id).where(School.id == survey.school_id))
    out = []
    for t in survey.teachers:
        if not permissions.sees_teacher_evaluation(scope, t.user_id, {survey.school_id}, {center} - {None}):
            continue
        rows = [a[str(t.user_id)] for a in answers if str(t.user_id) in a]
        shown = survey.status == "closed" and len(rows) >= MIN_ANSWERS
        res = TeacherResult(t.user_id, t.user.name, t.role, len(rows), shown)
        if shown:
            res.by_question = [_avg([r[i] for r in rows]) for i in range(len(QUESTIONS))]
            res.overall = _avg([x for r in rows for x in r])
        out.append(res)
    return out


# --- the teacher evaluation page ----------------------------------------------------------------


def evaluable_teachers(session: Session, scope: Scope) -> list[User]:
    """The active teachers (a class role) whose evaluation the user may open
    (`permissions.sees_teacher_evaluation`), by name. Three queries."""
    rows = session.execute(
        select(User, SchoolClass.school_id).join(RoleAssignment, RoleAssignment.user_id == User.id)
        .join(SchoolClass, SchoolClass.id == RoleAssignment.class_id)
        .where(user_filter(scope), User.is_active.is_(True), RoleAssignment.role.in_(CLASS_ROLES))).all()
    schools: dict[int, set[int]] = {}
    users: dict[int, User] = {}
    for user, school_id in rows:
        users[user.id] = user
        schools.setdefault(user.id, set()).add(school_id)
    all_schools = set().union(*schools.values()) if schools else set()
    centers = dict(session.execute(select(School.id, School.center_id).where(School.id.in_(sorted(all_schools)))).all())
    out = [u for uid, u in users.items()
           if permissions.sees_teacher_evaluation(scope, uid, schools[uid], {centers.get(s) for s in schools[uid]} - {None})]
    return sorted(out, key=lambda u: (u.name, u.id))



@dataclass
class Evaluation:
    teacher: User
    school_year: str
    surveys: list[tuple[Survey, TeacherResult]]
    classes: list[dict]          # class_figures rows of the classes the teacher is homeroom teacher of
    eligible: bool               # 评优评先: no homeroom class over the loss threshold this year
    pending: bool                # some baseline is not frozen yet: the answer may still change


def teacher_evaluation(session: Session, scope: Scope, teacher_id, *, school_year: str) -> Evaluation:
    """Survey results of a teacher for a school year, with the loss rates of the classes they are
    homeroom teacher of (workflow.figures.losses.class_figures, both terms) and 评优评先
    eligibility (SPEC §4: a homeroom class's loss rate strictly over the threshold makes the
    teacher ineligible that year).

    Raises NotFound (teacher out of scope or not allowed: `permissions.sees_teacher_evaluation`),
    Invalid (school year)."""
    check_term(school_year, 1)
    teacher = get_in_scope(session, scope, User, teacher_id)
    roles = session.execute(select(RoleAssignment.role, RoleAssignment.class_id, RoleAssignment.school_id)
                            .where(RoleAssignment.user_id == teacher.id)).all()
    class_ids = {c for r, c, _s in roles if c is not None and r in CLASS_ROLES}
    homeroom = {c for r, c, _s in roles if c is not None and r == "homeroom_teacher"}
    classes = list(session.scalars(select(SchoolClass).where(SchoolClass.id.in_(sorted(class_ids)),
                                                             SchoolClass.school_year == school_year)))
    school_ids = {k.school_id for k in classes} | {s for _r, _c, s in roles if s is not None}
    centers = {c for c in session.scalars(select(School.center_id).where(School.id.in_(sorted(school_ids)))) if c}
    if not permissions.sees_teacher_evaluation(scope, teacher.id, school_ids, centers):
        raise NotFound(N_("对象不存在或不在您的管辖范围内"))
    surveys = list(session.scalars(
        select(Survey).join(SurveyTeacher, SurveyTeacher.survey_id == Survey.id)
        .where(SurveyTeacher.user_id == teacher.id, Survey.school_year == school_year)
        .options(selectinload(Survey.teachers).joinedload(SurveyTeacher.user), joinedload(Survey.klass))
        .order_by(Survey.term, Survey.id)))
    results = []
    for s in surveys:
        mine = [r for r in survey_results(session, scope, s) if r.user_id == teacher.id]
        if mine:
            results.append((s, mine[0]))
    rows: list[dict] = []
    for school_id in sorted({k.school_id for k in classes if k.id in homeroom}):
        for term in (1, 2):
            try:
                items = class_figures(session, scope, school_id=school_id, school_year=school_year, term=term)
            except (NotFound, Invalid):
                continue
            rows += [dict(i, term=term) for i in items if i["class_id"] in homeroom]
    eligible = not any(r["over_threshold"] for r in rows)
    pending = not rows or any(r["baseline"] is None for r in rows)
    return Evaluation(teacher, school_year, results, rows, eligible, pending)
