"""Learning-difficulty files (学困生档案, SPEC §5): for a child flagged `learning_difficulty`, the
helping teacher (一帮一), staged goals per term (target, result at term end) and help-session notes;
the center school sees how many goals were met per school.

Services flush, never commit. Scope: out of scope → NotFound (404); not allowed → Forbidden (403).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, selectinload

from models import HelpSession, LearningFile, LearningGoal, RoleAssignment, School, Student, User
from workflow.access import permissions
from workflow.access.scope import Scope, get_in_scope, learning_file_filter, school_filter
from workflow.errors import N_, Conflict, Forbidden, NotFound, invalid_field
from workflow.support.common import check_term, past_date
from workflow.validation import required_text


def _helper(session: Session, student: Student, helper_id) -> User:
    """The helping teacher: an active user with a role at the child's school or class."""
    if isinstance(helper_id, bool) or not isinstance(helper_id, int):
        raise invalid_field("helper_id", N_("字段 helper_id 必须是整数"))
    user = session.get(User, helper_id)
    staff = user is not None and user.is_active and session.scalar(
        select(func.count()).select_from(RoleAssignment).where(
            RoleAssignment.user_id == helper_id,
            (RoleAssignment.school_id == student.school_id) | (RoleAssignment.class_id.is_not(None)
                                                               & (RoleAssignment.class_id == student.class_id))))
    if not staff:
        raise invalid_field("helper_id", N_("帮扶教师须是该学生所在学校的在职教职工"))
    return user


def get_file(session: Session, scope: Scope, file_id) -> LearningFile:
    """A file in scope (its student visible), with goals and sessions loaded. Raises NotFound."""
    return get_in_scope(session, scope, LearningFile, file_id,
                        options=(selectinload(LearningFile.goals), selectinload(LearningFile.sessions)))


def file_of_student(session: Session, scope: Scope, student_id: int) -> LearningFile | None:
    """The child's file, or None. Raises NotFound when the child is out of scope."""
    get_in_scope(session, scope, Student, student_id)
    return session.scalars(select(LearningFile).where(LearningFile.student_id == student_id)).first()


def open_file(session: Session, scope: Scope, user: User, *, student_id, helper_id) -> LearningFile:
    """Open a child's learning-difficulty file with its helping teacher.

    Raises NotFound (child out of scope), Forbidden (`permissions.may_keep_learning_file`),
    Invalid (child not flagged 学困, helper not staff of the child's school), Conflict
    `duplicate` (the child has a file already: one file per child)."""
    student = get_in_scope(session, scope, Student, student_id)
    if not permissions.may_keep_learning_file(scope, student):
        raise Forbidden(N_("只有学生所在学校的校长、教导处、班主任或中心校可以建立学困生档案"))
    if not student.learning_difficulty:
        raise invalid_field("student_id", N_("学生未标记为学困（learning_difficulty），不能建立学困生档案"))
    helper = _helper(session, student, helper_id)
    if session.scalars(select(LearningFile.id).where(LearningFile.student_id == student.id)).first():
        raise Conflict(N_("该学生已有学困生档案"), code="duplicate")
    f = LearningFile(student_id=student.id, helper_id=helper.id, created_by_id=user.id)
    session.add(f)
    session.flush()
    return f


def _require_writer(scope: Scope, f: LearningFile, keep: bool = False) -> None:
    allowed = (permissions.may_keep_learning_file(scope, f.student) if keep
               else permissions.may_write_learning_file(scope, f.student, f.helper_id))
    if not allowed:
        raise Forbidden(N_("您不能修改这份学困生档案"))


def change_helper(session: Session, scope: Scope, user: User, file_id, *, helper_id) -> LearningFile:
    """Name another helping teacher. Raises NotFound, Forbidden, Invalid."""
    f = get_file(session, scope, file_id)
    _require_writer(scope, f, keep=True)
    f.helper_id = _helper(session, f.student, helper_id).id
    session.flush()
    return f


def add_goal(session: Session, scope: Scope, user: User, file_id, *, school_year, term,
             target) -> LearningGoal:
    """A staged goal for one term (低起点、小目标). Raises NotFound, Forbidden, Invalid."""
    f = get_file(session, scope, file_id)
    check_term(school_year, term)
    target = required_text("target", target, 500)
    _require_writer(scope, f, keep=True)
    goal = LearningGoal(file_id=f.id, school_year=school_year, term=term, target=target)
    session.add(goal)
    session.flush()
    return goal


def record_result(session: Session, scope: Scope, user: User, goal_id, *, result, is_met) -> LearningGoal:
    """Record a goal's result at term end and whether it was met. Raises NotFound (goal or its
    file out of scope), Forbidden, Invalid."""
    try:
        goal = session.get(LearningGoal, int(goal_id))
    except (TypeError, ValueError):
        goal = None
    if goal is None:
        raise NotFound(N_("目标不存在或不在您的管辖范围内"))
    f = get_file(session, scope, goal.file_id)
    result = required_text("result", result, 500)
    if not isinstance(is_met, bool):
        raise invalid_field("is_met", N_("字段 is_met 必须是 true 或 false"))
    _require_writer(scope, f)
    goal.result, goal.is_met, goal.result_by_id = result, is_met, user.id
    session.flush()
    return goal


def add_session(session: Session, scope: Scope, user: User, file_id, *, date, notes,
                today: dt.date) -> HelpSession:
    """The note of one help session (not in the future). Raises NotFound, Forbidden, Invalid."""
    f = get_file(session, scope, file_id)
    day = past_date(date, "date", today, what=N_("帮扶日期"))
    notes = required_text("notes", notes, 2000)
    _require_writer(scope, f)
    row = HelpSession(file_id=f.id, date=day, notes=notes, recorded_by_id=user.id)
    session.add(row)
    session.flush()
    return row


def list_files(session: Session, scope: Scope, *, school_id: int | None = None) -> list[LearningFile]:
    """The files the user may see (of one school when `school_id` is given), by child's name."""
    stmt = (select(LearningFile).join(Student, Student.id == LearningFile.student_id)
            .where(learning_file_filter(scope)).options(selectinload(LearningFile.goals))
            .order_by(Student.name, LearningFile.id))
    if school_id is not None:
        stmt = stmt.where(Student.school_id == school_id)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class GoalsRow:
    school_id: int
    school_name: str
    files: int
    goals: int
    met: int
    not_met: int

    @property
    def open(self) -> int:
        """Goals without a result yet."""
        return self.goals - self.met - self.not_met


def goals_by_school(session: Session, scope: Scope, *, school_year: str, term: int | None = None,
                    center_school_id: int | None = None) -> list[GoalsRow]:
    """Per school the user may see (of one center when given): files, goals of the year (and
    term), goals met, not met. One grouped query. Raises NotFound (center out of scope), Invalid."""
    check_term(school_year, term if term is not None else 1)
    schools_stmt = select(School).where(school_filter(scope), School.kind != "county")
    if center_school_id is not None:
        get_in_scope(session, scope, School, center_school_id)
        schools_stmt = schools_stmt.where(School.center_id == center_school_id)
    schools = [s for s in session.scalars(schools_stmt.order_by(School.kind.desc(), School.name))
               if permissions.sees_school_support(scope, s)]
    if not schools:
        return []
    ids = [s.id for s in schools]
    goal_cond = LearningGoal.school_year == school_year
    if term is not None:
        goal_cond = goal_cond & (LearningGoal.term == term)
    files = dict(session.execute(
        select(Student.school_id, func.count(LearningFile.id)).join(Student, Student.id == LearningFile.student_id)
        .where(Student.school_id.in_(ids)).group_by(Student.school_id)).all())
    stats = {sid: (n, met, not_met) for sid, n, met, not_met in session.execute(
        select(Student.school_id, func.count(LearningGoal.id),
               func.coalesce(func.sum(case((LearningGoal.is_met.is_(True), 1), else_=0)), 0),
               func.coalesce(func.sum(case((LearningGoal.is_met.is_(False), 1), else_=0)), 0))
        .join(LearningFile, LearningFile.id == LearningGoal.file_id)
        .join(Student, Student.id == LearningFile.student_id)
        .where(Student.school_id.in_(ids), goal_cond).group_by(Student.school_id)).all()}
    out = []
    for s in schools:
        n, met, not_met = stats.get(s.id, (0, 0, 0))
        out.append(GoalsRow(s.id, s.name, files.get(s.id, 0), int(n), int(met), int(not_met)))
    return out
