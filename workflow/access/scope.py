"""Who may see what: the only module that knows the organization hierarchy.

Every list, detail, export and API call filters through the functions here; an object out of
scope is reported as not found (404), never as forbidden, so ids leak nothing. What a user may
*do* with what they see is workflow.access.permissions (refused: 403).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.orm import Session, aliased

from models import (
    AidGrant,
    Baseline,
    Case,
    CatchmentChild,
    Enrolment,
    ExamScore,
    FeeSchedule,
    LadderPolicy,
    LearningFile,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Survey,
    Term,
    User,
    Village,
)
from workflow.errors import NAME_SEP, Msg, NotFound
from workflow.validation import N_, parse_int_text

# The name of each role code: the one table. The domain's messages show it as it is, the pages in
# the user's language (N_ puts each name in the catalogue). "system" is the sweep's acting role.
ROLE_NAMES = {
    "admin": N_("系统管理员"),
    "county_supervisor": N_("教育局督导"),
    "center_head": N_("中心校长"),
    "center_office": N_("中心校教导主任"),
    "principal": N_("校长"),
    "academic_office": N_("教导处"),
    "homeroom_teacher": N_("班主任"),
    "subject_teacher": N_("科任教师"),
    "team_member": N_("控辍小组成员"),
    "village_liaison": N_("村委联络员"),
    "system": N_("系统"),
}


def roles_text(roles) -> Msg:
    """The roles' names as one list ("班主任、控辍小组成员"), each translated on its own: a plain
    "、".join would hand the pages one Chinese string the catalogue does not know."""
    return NAME_SEP.join(ROLE_NAMES.get(r, r) for r in roles)
# center office first: a user holding both acts (and is recorded) as the office
CENTER_ROLES = ("center_office", "center_head")
SCHOOL_ROLES = ("principal", "academic_office", "team_member")
CLASS_ROLES = ("homeroom_teacher", "subject_teacher")
# Processes a village liaison follows (SPEC §2).
LIAISON_PROCESSES = ("absence", "recovery")
# Processes with review steps for the county supervisor (SPEC §2, §3.9); on any other case the
# county only reads.
COUNTY_REVIEWED_PROCESSES = ("monthly_report",)


@dataclass(frozen=True)
class Scope:
    """What one user may see, resolved once per request.

    `school_ids`: schools whose every class, student and case is visible.
    `class_ids`: classes visible through a teacher role (their students and those students' cases).
    `village_ids`: villages of a liaison (students with an open absence/recovery case).
    `center_ids`: center schools whose catchment villages are visible.
    """

    user_id: int | None
    is_all: bool = False
    school_ids: frozenset[int] = field(default_factory=frozenset)
    class_ids: frozenset[int] = field(default_factory=frozenset)
    village_ids: frozenset[int] = field(default_factory=frozenset)
    center_ids: frozenset[int] = field(default_factory=frozenset)
    # role code -> ids of the schools (or classes, villages) it is bound to
    roles: dict[str, frozenset[int]] = field(default_factory=dict)

    def has_role(self, *codes: str) -> bool:
        return any(c in self.roles for c in codes)


def bound_ids(roles: Mapping[str, Iterable[int]], codes) -> set[int]:
    """The ids (of schools, classes or villages) to which one of the role `codes` is bound."""
    return set().union(*(roles.get(r, ()) for r in codes))


def scope_for(session: Session, user: User) -> Scope:
    """Resolve a user's role assignments into the ids they may see.

    Center roles see their center school and its branches; a county supervisor sees every school
    below the county node; school roles their school; teachers their classes; a village liaison
    their village. Inactive users see nothing.
    """
    if user is None or not user.is_active:
        return Scope(user_id=None)
    assignments = list(user.roles)
    roles: dict[str, set[int]] = {}
    for a in assignments:
        roles.setdefault(a.role, set()).update(
            x for x in (a.school_id, a.class_id, a.village_id) if x is not None
        )
    frozen_roles = {k: frozenset(v) for k, v in roles.items()}
    if "admin" in roles:
        return Scope(user_id=user.id, is_all=True, roles=frozen_roles)

    county_nodes = roles.get("county_supervisor", set())
    center_nodes = bound_ids(roles, CENTER_ROLES)
    school_ids: set[int] = bound_ids(roles, SCHOOL_ROLES)
    class_ids = bound_ids(roles, CLASS_ROLES)
    village_ids = set(roles.get("village_liaison", set()))

    # Villages belong to a center school's catchment: anyone working for a school sees them, so
    # the centers of every school the user works for (their own, those below their county or
    # center node, those of the classes they teach) are `center_ids`.
    center_ids: set[int] = set()
    school_roles = [a for a in assignments if a.role in SCHOOL_ROLES and a.school_id is not None]
    class_roles = [a for a in assignments if a.role in CLASS_ROLES and a.class_id is not None]
    if (not county_nodes and not center_nodes
            and all("school" in a.__dict__ and a.school is not None for a in school_roles)
            and all("klass" in a.__dict__ and a.klass is not None and "school" in a.klass.__dict__
                    and a.klass.school is not None for a in class_roles)):
        # only school and class roles, their schools (a class's school) loaded with the user
        # (`accounts.user_for_token`): the centers are on them already, no query
        schools = [a.school for a in school_roles] + [a.klass.school for a in class_roles]
        center_ids = {s.center_id for s in schools if s.center_id is not None}
    elif school_ids or county_nodes or center_nodes or class_ids:
        # at most ONE query, whatever the roles: every such school with its center, and whether
        # it is below a county or center node (then the user sees all of it)
        below = or_(_in(School.county_id, county_nodes), _in(School.center_id, center_nodes))
        taught = (School.id.in_(select(SchoolClass.school_id).where(SchoolClass.id.in_(sorted(class_ids))))
                  if class_ids else false())
        for school_id, center_id, is_below in session.execute(
                select(School.id, School.center_id, below).where(or_(below, taught, _in(School.id, school_ids)))):
            if is_below:
                school_ids.add(school_id)
            if center_id is not None:
                center_ids.add(center_id)
        school_ids |= county_nodes
    return Scope(
        user_id=user.id,
        school_ids=frozenset(school_ids),
        class_ids=frozenset(class_ids),
        village_ids=frozenset(village_ids),
        center_ids=frozenset(center_ids),
        roles=frozen_roles,
    )


# --- filters: SQL expressions to put in a WHERE ------------------------------------------------


def _in(col, ids):
    return col.in_(sorted(ids)) if ids else false()


def school_filter(scope: Scope):
    """Schools the user may see: their schools, and the schools of the classes they teach."""
    if scope.is_all:
        return true()
    teach = (
        School.id.in_(select(SchoolClass.school_id).where(SchoolClass.id.in_(sorted(scope.class_ids))))
        if scope.class_ids
        else false()
    )
    return or_(_in(School.id, scope.school_ids), teach)


def class_filter(scope: Scope):
    if scope.is_all:
        return true()
    return or_(_in(SchoolClass.school_id, scope.school_ids), _in(SchoolClass.id, scope.class_ids))


def village_filter(scope: Scope):
    if scope.is_all:
        return true()
    return or_(_in(Village.center_school_id, scope.center_ids), _in(Village.id, scope.village_ids))


def _open_liaison_cases():
    return Case.process.in_(LIAISON_PROCESSES) & Case.is_open.is_(True)


def liaison_case_filter(village_ids):
    """A village liaison's cases: the open absence and recovery cases of their villages'
    students (SPEC §2)."""
    return _open_liaison_cases() & Case.student_id.in_(
        select(Student.id).where(_in(Student.village_id, village_ids)))


# Processes where the family chooses a class before the child is in it: that class's homeroom
# teacher acts for the case (accepts a transfer-in, SPEC §3.5; files a return, §3.4).
CHOSEN_CLASS_PROCESSES = ("transfer_in", "return")


def _chosen_class_transfer_in(class_ids):
    """Open transfer-in and return cases whose chosen class (data.class_id) is one of
    `class_ids`."""
    return Case.process.in_(CHOSEN_CLASS_PROCESSES) & Case.is_open.is_(True) & (
        Case.data["class_id"].as_integer().in_(sorted(class_ids)))


def student_filter(scope: Scope):
    """Students of the user's schools and classes; a liaison's village students with open cases;
    and a student with an open case held by one of the user's schools (an incoming transfer)."""
    if scope.is_all:
        return true()
    parts = [_in(Student.school_id, scope.school_ids), _in(Student.class_id, scope.class_ids)]
    if scope.class_ids:
        parts.append(Student.id.in_(
            select(Case.student_id).where(_chosen_class_transfer_in(scope.class_ids))))
    if scope.school_ids:
        parts.append(
            Student.id.in_(
                select(Case.student_id).where(
                    Case.school_id.in_(sorted(scope.school_ids)), Case.is_open.is_(True)
                )
            )
        )
    if scope.village_ids:
        parts.append(_in(Student.village_id, scope.village_ids)
                     & Student.id.in_(select(Case.student_id).where(_open_liaison_cases())))
    return or_(*parts)


def case_filter(scope: Scope):
    """Cases of the user's schools, of their classes' students, and a liaison's open
    absence/recovery cases of their village's students."""
    if scope.is_all:
        return true()
    parts = [_in(Case.school_id, scope.school_ids)]
    if scope.class_ids:
        parts.append(
            Case.student_id.in_(
                select(Student.id).where(Student.class_id.in_(sorted(scope.class_ids)))
            )
        )
        parts.append(_chosen_class_transfer_in(scope.class_ids))
        # a case whose subject is a class (roll_verification): seen by who sees the class
        parts.append(_in(Case.class_id, scope.class_ids))
    if scope.village_ids:
        parts.append(liaison_case_filter(scope.village_ids))
    return or_(*parts)


def user_filter(scope: Scope):
    """The viewer, and users holding a role in a school, class or village the viewer can see
    (a teacher must be able to name the team members who joined a visit)."""
    if scope.is_all:
        return true()
    schools = select(School.id).where(school_filter(scope))
    visible_roles = select(RoleAssignment.user_id).where(
        or_(
            RoleAssignment.school_id.in_(schools),
            RoleAssignment.class_id.in_(
                select(SchoolClass.id).where(SchoolClass.school_id.in_(schools))
            ),
            RoleAssignment.village_id.in_(select(Village.id).where(village_filter(scope))),
        )
    )
    return or_(User.id == scope.user_id, User.id.in_(visible_roles))


def case_staff_filter(school: School | None, student: Student | None):
    """The role assignments that make someone staff of a student's case, who may be named on its
    visits (SPEC §3): any role at the case's school or its center school, a teacher of the
    student's class, the liaison of the student's village."""
    bound = []
    if school is not None:
        bound.append(RoleAssignment.school_id == school.id)
        if school.center_id is not None:
            bound.append(RoleAssignment.school_id == school.center_id)
    if student is not None and student.class_id is not None:
        bound.append(RoleAssignment.class_id == student.class_id)
    if student is not None and student.village_id is not None:
        bound.append(RoleAssignment.village_id == student.village_id)
    return or_(*bound) if bound else false()


# --- records that belong to a school, class, village or student: seen with it ------------------


def _of_visible(scope: Scope, column, model):
    """Rows whose `column` names a `model` row the scope may see (every row for admin)."""
    if scope.is_all:
        return true()
    return column.in_(select(model.id).where(FILTERS[model](scope)))


def term_filter(scope: Scope):
    """Terms (school calendars) of the schools the user may see (`school_filter`)."""
    return _of_visible(scope, Term.school_id, School)


def enrolment_filter(scope: Scope):
    """Enrolment periods of the students the user may see (`student_filter`), at whatever school
    each period was."""
    return _of_visible(scope, Enrolment.student_id, Student)


def catchment_filter(scope: Scope):
    """Catchment register rows of the villages the user may see (`village_filter`)."""
    return _of_visible(scope, CatchmentChild.village_id, Village)


def baseline_filter(scope: Scope):
    """Baselines (frozen head counts) of the classes the user may see (`class_filter`)."""
    return _of_visible(scope, Baseline.class_id, SchoolClass)


def exam_score_filter(scope: Scope):
    """Exam scores of the classes the user may see (`class_filter`): the class the score was
    recorded in, not the student's class now."""
    return _of_visible(scope, ExamScore.class_id, SchoolClass)


def is_current_ladder_policy() -> ColumnElement[bool]:
    """SQL condition on `LadderPolicy`: the row is the one new cases of its center school open
    under, its latest saved version (the highest version; of equal versions, the highest id).
    The one definition of "current ladder": workflow.absence.ladder.current_policy, the engine's
    set-based openings and `ladder_policy_filter` all filter with it."""
    # Here rather than in workflow.absence.ladder, which imports this module: the ladder's
    # visibility needs it.
    newer = aliased(LadderPolicy)
    return ~exists().where(newer.center_school_id == LadderPolicy.center_school_id,
                           or_(newer.version > LadderPolicy.version,
                               and_(newer.version == LadderPolicy.version, newer.id > LadderPolicy.id)))


def ladder_policy_filter(scope: Scope):
    """Ladder policy versions: every version of the center schools where the user holds a center
    role (whose ladder they edit, permissions.may_edit_ladder_policy), and the current version of
    the center schools whose catchment they work in (`Scope.center_ids`); every version for
    admin. A village liaison sees none."""
    if scope.is_all:
        return true()
    return or_(_in(LadderPolicy.center_school_id, bound_ids(scope.roles, CENTER_ROLES)),
               _in(LadderPolicy.center_school_id, scope.center_ids) & is_current_ladder_policy())


def learning_file_filter(scope: Scope):
    """Learning-difficulty files of the students the user may see (`student_filter`)."""
    return _of_visible(scope, LearningFile.student_id, Student)


def aid_grant_filter(scope: Scope):
    """Aid grants of the students the user may see, and every grant made by a school where the
    user holds a school or center role (its totals stay with the school after the child left)."""
    if scope.is_all:
        return true()
    return or_(_of_visible(scope, AidGrant.student_id, Student), _in(AidGrant.school_id, scope.school_ids))


def survey_filter(scope: Scope):
    """Class surveys of the classes the user may see (`class_filter`); who may read a teacher's
    results is workflow.access.permissions.sees_teacher_evaluation."""
    return _of_visible(scope, Survey.class_id, SchoolClass)


def fee_schedule_filter(scope: Scope):
    """Fee schedules of the schools the user may see (`school_filter`); approved ones are public
    besides (workflow.support.fees.public_schedules)."""
    return _of_visible(scope, FeeSchedule.school_id, School)


FILTERS = {
    School: school_filter,
    SchoolClass: class_filter,
    Village: village_filter,
    Student: student_filter,
    Case: case_filter,
    User: user_filter,
    Term: term_filter,
    Enrolment: enrolment_filter,
    CatchmentChild: catchment_filter,
    Baseline: baseline_filter,
    ExamScore: exam_score_filter,
    LadderPolicy: ladder_policy_filter,
    LearningFile: learning_file_filter,
    AidGrant: aid_grant_filter,
    Survey: survey_filter,
    FeeSchedule: fee_schedule_filter,
}


def scoped(scope: Scope, model):
    """A `select(model)` limited to what the scope may see."""
    return select(model).where(FILTERS[model](scope))


def get_in_scope(session: Session, scope: Scope, model, obj_id, options=()):
    """Load one object by id if the scope may see it; raise NotFound otherwise (SPEC §2: 404).
    `options`: loader options for the same query (e.g. the relationships the caller reads).
    An id that is no whole number of the database's integer range is NotFound as well."""
    obj_id = parse_int_text(obj_id.strip() if isinstance(obj_id, str) else obj_id)
    if obj_id is None:
        raise NotFound(N_("对象不存在"))
    stmt = select(model).where(model.id == obj_id, FILTERS[model](scope))
    if options:
        stmt = stmt.options(*options)
    obj = session.scalars(stmt).first()
    if obj is None:
        raise NotFound(N_("对象不存在或不在您的管辖范围内"))
    return obj


def can_see(session: Session, scope: Scope, model, obj_id) -> bool:
    try:
        get_in_scope(session, scope, model, obj_id)
    except NotFound:
        return False
    return True


# --- who acts for whose student (SPEC §3) ------------------------------------------------------


def acting_roles(scope: Scope, case: Case, center_id: int | None, class_id: int | None = None,
                 village_id: int | None = None) -> set[str]:
    """The roles the user holds *for this case*: homeroom/subject teacher of the student's class
    (or of `class_id`, e.g. the chosen class of a transfer-in), principal/academic office/team
    member of the case's school, center roles of that school's center school, village liaison of
    the student's village; county supervisor of the school's county, on the processes with county
    review steps only (COUNTY_REVIEWED_PROCESSES). Admins act on no case.
    """
    held: set[str] = set()
    if class_id is None and case.student is not None:
        class_id = case.student.class_id
    if village_id is None and case.student is not None:
        village_id = case.student.village_id
    for role, ids in scope.roles.items():
        if role in CLASS_ROLES and class_id is not None and class_id in ids:
            held.add(role)
        elif role in SCHOOL_ROLES and case.school_id in ids:
            held.add(role)
        elif role in CENTER_ROLES and center_id is not None and center_id in ids:
            held.add(role)
        elif role == "village_liaison" and village_id is not None and village_id in ids:
            held.add(role)
        elif (role == "county_supervisor" and getattr(case, "process", None) in COUNTY_REVIEWED_PROCESSES
              and case.school is not None and case.school.county_id in ids):
            # the county's review steps of a school of its county (SPEC §2, §3.9); which steps
            # is each process's `T.roles` (workflow/access/permissions.py:county_review_steps)
            held.add(role)
    return held
