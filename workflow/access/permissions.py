"""What may this user do: every role rule of Baoxue, each written once (SPEC §1–§5, API.md).

`workflow.access.scope` answers what a user may *see* (out of scope: 404); this module answers what
they may *do* with what they see (refused: 403). The services ask it before they write; the pages,
the JSON API and the 档案管理 screens ask the same functions which menus, buttons and forms to
show, and decide nothing themselves.

Every rule is a function of the user's `Scope` (and of the object it is about) and only reads;
the `require_*` functions raise Forbidden instead of answering. Which transitions a role may fire
is part of each process definition (`T.roles`), applied by `workflow.cases.engine`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import VISIT_KINDS, Case, RoleAssignment, School, SchoolClass, Student, User, Village
from workflow.access.scope import (
    CENTER_ROLES,
    CLASS_ROLES,
    COUNTY_REVIEWED_PROCESSES,
    SCHOOL_ROLES,
    Scope,
    acting_roles,
    bound_ids,
    can_see,
)
from workflow.errors import N_, Forbidden, NotFound

# A school's management: its principal and its academic office.
SCHOOL_OFFICE_ROLES = ("principal", "academic_office")
# Every role but the village liaison, who works from the liaison pages only.
STAFF_ROLES = ("admin", "county_supervisor", *CENTER_ROLES, *SCHOOL_ROLES, *CLASS_ROLES)
OVERSIGHT_ROLES = (*CENTER_ROLES, "county_supervisor")
LIAISON = "village_liaison"
# The only visit a village liaison logs (SPEC §2, §3.1: the joint visit of school and village).
LIAISON_VISIT_KINDS = ("village_joint",)


def _bound(scope: Scope, roles, target_id: int | None) -> bool:
    """Whether the user holds one of `roles` bound to `target_id`."""
    return target_id is not None and any(target_id in scope.roles.get(r, frozenset()) for r in roles)


# --- pages and menus ---------------------------------------------------------------------------


def is_staff(scope: Scope) -> bool:
    """Every role but the village liaison: opens 档案管理 (to read), the figures, the weekly report
    and the status-change notice, each showing the schools of the user's scope."""
    return scope.has_role(*STAFF_ROLES)


def may_use_queue(scope: Scope) -> bool:
    """我的待办: the roles that act on cases, the county supervisor among them (the monthly reports
    waiting for the county's review, SPEC §3.9); not the admin."""
    return scope.has_role(*CENTER_ROLES, *SCHOOL_ROLES, *CLASS_ROLES, LIAISON, "county_supervisor")


def may_oversee(scope: Scope) -> bool:
    """The oversight pages: admin, center head, center office, county supervisor."""
    return scope.is_all or scope.has_role(*OVERSIGHT_ROLES)


def may_open_ledgers(scope: Scope) -> bool:
    """三本台账 cover whole schools: admin, county supervisor, center and school roles."""
    return scope.has_role("admin", "county_supervisor", *CENTER_ROLES, *SCHOOL_ROLES)


def may_open_catchment(scope: Scope) -> bool:
    """适龄儿童登记: whoever sees a village, staff and village liaisons (their own village)."""
    return is_staff(scope) or scope.has_role(LIAISON)


def liaison_village_ids(scope: Scope) -> frozenset[int]:
    """The villages whose liaison the user is: the liaison pages follow their open absence and
    recovery cases. Empty: the liaison pages are not for this user."""
    return scope.roles.get(LIAISON, frozenset())


def transfer_in_school_ids(scope: Scope) -> frozenset[int]:
    """Schools into which the user may receive a transferring child: the receiving school's
    academic office opens a transfer-in (SPEC §3.5). Empty: none."""
    return scope.roles.get("academic_office", frozenset())


# --- attendance, scores, baselines, the ladder, the sweep ---------------------------------------


def may_record_attendance(scope: Scope, klass: SchoolClass | None = None) -> bool:
    """Take a class's attendance: its homeroom and subject teachers, the principal and academic
    office of its school (the admin does not). Without `klass`: whether the user takes some
    class's attendance (the menu)."""
    if klass is None:
        return scope.has_role(*CLASS_ROLES, *SCHOOL_OFFICE_ROLES)
    return _bound(scope, CLASS_ROLES, klass.id) or _bound(scope, SCHOOL_OFFICE_ROLES, klass.school_id)


def may_import_scores(scope: Scope, klass: SchoolClass | None = None) -> bool:
    """Import a class's exam scores: admin, the principal and academic office of its school, a
    teacher of the class. Without `klass`: whether the user imports some class's scores."""
    if scope.is_all:
        return True
    if klass is None:
        return scope.has_role(*SCHOOL_OFFICE_ROLES, *CLASS_ROLES)
    return _bound(scope, SCHOOL_OFFICE_ROLES, klass.school_id) or _bound(scope, CLASS_ROLES, klass.id)


def may_freeze_baselines(scope: Scope, school: School) -> bool:
    """Freeze (or re-freeze) the baselines of a school's classes: admin, the school's principal
    and academic office, the center roles of its center school."""
    return (scope.is_all or _bound(scope, SCHOOL_OFFICE_ROLES, school.id)
            or _bound(scope, CENTER_ROLES, school.center_id))


def may_edit_ladder_policy(scope: Scope, center_school_id: int) -> bool:
    """Save a new version of a center school's ladder: admin, that center's head and office."""
    return scope.is_all or _bound(scope, CENTER_ROLES, center_school_id)


def sees_school_figures(scope: Scope, school: School) -> bool:
    """A school's annual figures (dropout rate, retention) for whoever works for the whole school
    or above it (admin, county, center and school roles); a teacher sees only their classes'."""
    return scope.is_all or school.id in scope.school_ids


def may_run_sweep(scope: Scope, school: School | None = None) -> bool:
    """Run the daily sweep for a school: admin any, center roles the schools of their center.
    Without `school`: whether the user may sweep some school."""
    centers = managed_center_ids(scope)
    if centers is None:
        return True
    return bool(centers) if school is None else school.center_id in centers


# --- personal data (SPEC §1) -------------------------------------------------------------------


def sees_full_id_card(scope: Scope, student: Student) -> bool:
    """Admin, the principal and academic office of the student's school and the center office of
    that school's center school see the ID-card number in full; everyone else masked."""
    if scope.is_all or _bound(scope, SCHOOL_OFFICE_ROLES, student.school_id):
        return True
    center_id = student.school.center_id if student.school is not None else None
    return _bound(scope, ("center_office",), center_id)


def _centers_of_schools(session: Session, scope: Scope, roles) -> set[int]:
    """Center schools of the schools where the user holds one of `roles`."""
    ids = bound_ids(scope.roles, roles)
    if not ids:
        return set()
    return {c for c in session.scalars(select(School.center_id).where(School.id.in_(sorted(ids)))) if c}


@dataclass(frozen=True)
class CatchmentRights:
    """What the user may do with the catchment register of one center's villages."""

    may_edit: bool          # import into it: admin, its center office, a school office of that center
    may_crosscheck: bool    # run the cross-check (links children, opens recovery): editors and the center head
    sees_full_ids: bool     # ID-card numbers in full: the editors; everyone else sees them masked


def catchment_rights(session: Session, scope: Scope, center_id: int) -> CatchmentRights:
    """The catchment register rules for `center_id`, all three from at most one query (the
    centers of the user's school-office schools)."""
    edit = (scope.is_all or _bound(scope, ("center_office",), center_id)
            or center_id in _centers_of_schools(session, scope, SCHOOL_OFFICE_ROLES))
    return CatchmentRights(may_edit=edit, may_crosscheck=edit or _bound(scope, ("center_head",), center_id),
                           sees_full_ids=edit)


def may_edit_catchment(session: Session, scope: Scope, center_id: int) -> bool:
    """Import into the catchment register of a village of `center_id` (`catchment_rights`)."""
    return catchment_rights(session, scope, center_id).may_edit


def may_crosscheck_catchment(session: Session, scope: Scope, center_id: int) -> bool:
    """Run the register's cross-check (`catchment_rights`)."""
    return catchment_rights(session, scope, center_id).may_crosscheck


def sees_full_catchment_ids(session: Session, scope: Scope, center_id: int) -> bool:
    """See the register's ID-card numbers in full (`catchment_rights`)."""
    return catchment_rights(session, scope, center_id).sees_full_ids


# --- evidence on a case (SPEC §3: visits, documents, fees, payments, contacts) ------------------


def evidence_roles(session: Session, scope: Scope, case: Case) -> set[str]:
    """The roles the user holds for the case's student (`scope.acting_roles`), which decide the
    evidence they may record. Raises NotFound when the case is out of scope."""
    if not can_see(session, scope, Case, case.id):
        raise NotFound(N_("案件不存在或不在您的管辖范围内"))
    center_id = case.school.center_id if case.school is not None else None
    return acting_roles(scope, case, center_id=center_id)


def _is_case_staff(roles: set[str]) -> bool:
    return bool(roles - {LIAISON})


def _roles_on_open_case(session: Session, scope: Scope, case: Case) -> set[str]:
    """`evidence_roles` on an open case the user sees; none on a closed or unseen one (a closed
    case takes no evidence: no need to ask the database)."""
    if not case.is_open:
        return set()
    try:
        return evidence_roles(session, scope, case)
    except NotFound:
        return set()


def may_add_evidence(session: Session, scope: Scope, case: Case) -> bool:
    """Add documents, fees, payments and guardian contacts to an open case: the school staff
    acting for its student (a village liaison alone may not)."""
    return _is_case_staff(_roles_on_open_case(session, scope, case))


def require_case_staff(roles: set[str], what: str) -> None:
    """Raise Forbidden unless `roles` (`evidence_roles`) make the user school staff for the case:
    a village liaison alone may not record `what`."""
    if not _is_case_staff(roles):
        raise Forbidden(N_("只有负责该学生的学校工作人员可以登记%(what)s"), what=what)


def visit_kinds(roles: set[str]) -> tuple[str, ...]:
    """The kinds of visit a user with `roles` (`evidence_roles`) may log: school staff every
    kind, a village liaison only the joint village visit, anyone else none."""
    if _is_case_staff(roles):
        return VISIT_KINDS
    return LIAISON_VISIT_KINDS if LIAISON in roles else ()


def require_visit_kind(roles: set[str], kind: str) -> None:
    """Raise Forbidden unless a user with `roles` may log a visit of `kind` (`visit_kinds`)."""
    if kind in visit_kinds(roles):
        return
    if LIAISON in roles:
        raise Forbidden(N_("村委联络员只能登记村校联合家访（village_joint）"))
    raise Forbidden(N_("只有负责该学生的学校工作人员或村委联络员可以登记家访"))


def loggable_visit_kinds(session: Session, scope: Scope, case: Case) -> list[str]:
    """The visit kinds the user may log on the case now (`visit_kinds`); none once it is closed,
    nor on a case whose subject is a class or a school (no child to visit)."""
    if case.student_id is None:
        return []
    return list(visit_kinds(_roles_on_open_case(session, scope, case)))


# --- who may create and grant (SPEC §2, API.md "Organization") ---------------------------------


def managed_school_ids(session: Session, scope: Scope) -> set[int] | None:
    """Schools whose classes, students, staff and calendar the user may create and change
    (None = every school): center roles their center's schools, principal and academic office
    their own school."""
    if scope.is_all:
        return None
    ids: set[int] = set()
    centers = bound_ids(scope.roles, CENTER_ROLES)
    if centers:
        ids |= set(session.scalars(select(School.id).where(School.center_id.in_(centers))))
    return ids | bound_ids(scope.roles, SCHOOL_OFFICE_ROLES)


def managed_center_ids(scope: Scope) -> set[int] | None:
    """Center schools under which the user may add branch schools and villages (None = all)."""
    if scope.is_all:
        return None
    return bound_ids(scope.roles, CENTER_ROLES)


# SPEC §2 "Who may grant what": roles rank, highest (0) first; the teaching and village roles
# share the lowest rank. A user grants, and manages accounts holding, only roles ranked strictly
# below their own highest role.
ROLE_RANK = {
    "admin": 0,
    "county_supervisor": 1,
    "center_head": 2,
    "center_office": 3,
    "principal": 4,
    "academic_office": 5,
    "homeroom_teacher": 6,
    "subject_teacher": 6,
    "team_member": 6,
    "village_liaison": 6,
}
_UNRANKED = len(ROLE_RANK)  # a user without roles ranks below everyone


def highest_rank(scope: Scope) -> int:
    """The rank of the user's highest role (0 = admin; lower is higher)."""
    return min((ROLE_RANK.get(r, _UNRANKED) for r in scope.roles), default=_UNRANKED)


def outranks(scope: Scope, role: str) -> bool:
    """Whether `role` ranks strictly below the user's highest role (SPEC §2)."""
    return ROLE_RANK.get(role, -1) > highest_rank(scope)


def may_grant(session: Session, scope: Scope, role: str, school_id: int | None,
              class_id: int | None, village_id: int | None) -> bool:
    """Whether the user may give someone `role` bound there (SPEC §2 "who may grant what").

    Two conditions, both needed: `role` ranks strictly below the user's own highest role
    (`ROLE_RANK`: an academic office never makes a principal or a second academic office), and
    it is bound within the user's scope: center roles grant within their center, principal and
    academic office within their own school and its classes. Admin grants anything; a county
    supervisor only reads, and grants nothing.
    """
    if scope.is_all:
        return True
    if not outranks(scope, role):
        return False
    if role in ("admin", "county_supervisor"):
        return False
    centers = managed_center_ids(scope) or set()
    if role in CENTER_ROLES:
        return school_id is not None and school_id in centers
    if role == LIAISON:
        if village_id is None or not centers:
            return False
        v = session.get(Village, village_id)
        return v is not None and v.center_school_id in centers
    if role in SCHOOL_ROLES:
        target_school = school_id
    elif role in CLASS_ROLES:
        if class_id is None:
            return False
        k = session.get(SchoolClass, class_id)
        target_school = k.school_id if k else None
    else:
        return False
    if target_school is None:
        return False
    if target_school in bound_ids(scope.roles, SCHOOL_OFFICE_ROLES):
        return True
    s = session.get(School, target_school)
    return s is not None and s.center_id in centers


def may_edit_school(scope: Scope, school: School) -> bool:
    """Rename a school: admin any, center roles the schools of their center."""
    centers = managed_center_ids(scope)
    return centers is None or school.center_id in centers


def may_edit_village(scope: Scope, village: Village) -> bool:
    """Rename or delete a village: admin any, center roles the villages of their center."""
    centers = managed_center_ids(scope)
    return centers is None or village.center_school_id in centers


def may_manage_school(session: Session, scope: Scope, school_id: int) -> bool:
    """Change or delete a class, student or term of this school (`managed_school_ids`)."""
    managed = managed_school_ids(session, scope)
    return managed is None or school_id in managed


def may_edit_user(session: Session, scope: Scope, user: User) -> bool:
    """Change, reset the password of, or deactivate a user account (SPEC §2): only one all of
    whose roles the editor could grant (`may_grant`: ranked strictly below the editor's highest
    role, bound within the editor's scope). Never one's own account, an admin's for a non-admin,
    or a colleague's of the same or a higher rank. A roleless account is the admin's alone."""
    if scope.is_all:
        return True
    if user.id == scope.user_id or not user.roles:
        return False
    return all(may_grant(session, scope, r.role, r.school_id, r.class_id, r.village_id) for r in user.roles)


def require_edit_user(session: Session, scope: Scope, user: User) -> None:
    """Raise Forbidden unless the user may manage this account (`may_edit_user`)."""
    if not may_edit_user(session, scope, user):
        raise Forbidden(N_("您只能管理角色低于您本人最高角色、且在您管辖范围内的用户"))


# --- 档案管理: the record screens ---------------------------------------------------------------

ORG_WRITERS = ("admin", *CENTER_ROLES)
SCHOOL_WRITERS = (*ORG_WRITERS, *SCHOOL_OFFICE_ROLES)
USER_READERS = ("admin", "county_supervisor", *CENTER_ROLES, *SCHOOL_OFFICE_ROLES)
RECORD_ACTIONS = ("read", "create", "edit", "delete")


def _admin_only(session: Session, scope: Scope, obj: Any) -> bool:
    return scope.is_all


@dataclass(frozen=True)
class RecordRule:
    """Who opens one kind of record screen and may create, edit and delete its records at all
    (by role), and `write`: whether they may edit or delete one record they can see."""

    read: tuple[str, ...] = STAFF_ROLES
    create: tuple[str, ...] = ()
    edit: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    write: Callable[[Session, Scope, Any], bool] = _admin_only


RECORDS: dict[str, RecordRule] = {
    "school": RecordRule(create=ORG_WRITERS, edit=ORG_WRITERS, delete=("admin",),
                         write=lambda session, scope, school: may_edit_school(scope, school)),
    "village": RecordRule(create=ORG_WRITERS, edit=ORG_WRITERS, delete=ORG_WRITERS,
                          write=lambda session, scope, village: may_edit_village(scope, village)),
    "class": RecordRule(create=SCHOOL_WRITERS, edit=SCHOOL_WRITERS, delete=SCHOOL_WRITERS,
                        write=lambda session, scope, klass: may_manage_school(session, scope, klass.school_id)),
    # users are deactivated, never deleted: history rows keep pointing at them
    "user": RecordRule(read=USER_READERS, create=SCHOOL_WRITERS, edit=SCHOOL_WRITERS, write=may_edit_user),
    # students leave through the workflow processes, never by deletion
    "student": RecordRule(create=SCHOOL_WRITERS, edit=SCHOOL_WRITERS,
                          write=lambda session, scope, student: may_manage_school(session, scope, student.school_id)),
    "term": RecordRule(create=SCHOOL_WRITERS, edit=SCHOOL_WRITERS, delete=SCHOOL_WRITERS,
                       write=lambda session, scope, term: may_manage_school(session, scope, term.school_id)),
    # saving writes a new version (workflow.absence.ladder.save_policy), never changes a row
    "ladder_policy": RecordRule(create=ORG_WRITERS, edit=ORG_WRITERS,
                                write=lambda session, scope, policy: may_edit_ladder_policy(
                                    scope, policy.center_school_id)),
    # written only by the workflow: read-only screens
    "enrolment": RecordRule(),
    "case": RecordRule(),
    "baseline": RecordRule(),
    "exam_score": RecordRule(),
    "catchment_child": RecordRule(),
}


def may_use_records(scope: Scope, record: str, action: str) -> bool:
    """Whether the user may `action` ("read", "create", "edit", "delete") records of the kind
    `record` (a key of RECORDS) at all: the screen and its buttons. Raises KeyError for an
    unknown kind or action."""
    if action not in RECORD_ACTIONS:
        raise KeyError(action)
    return scope.has_role(*getattr(RECORDS[record], action))


def may_write_record(session: Session, scope: Scope, record: str, obj: Any) -> bool:
    """Whether the user may edit or delete this record, one they can see, of the kind `record`."""
    return RECORDS[record].write(session, scope, obj)


# --- keeping children in school: learning files, aid, survey, fee schedule (SPEC §5, issue 15) ---


def _center_of(school: School | None) -> int | None:
    return school.center_id if school is not None else None


def may_keep_learning_file(scope: Scope, student: Student) -> bool:
    """Open a child's learning-difficulty file, name its helping teacher and set its goals: admin,
    the principal and academic office of the child's school, the child's homeroom teacher, the
    center roles of the school's center."""
    return (scope.is_all or _bound(scope, SCHOOL_OFFICE_ROLES, student.school_id)
            or _bound(scope, ("homeroom_teacher",), student.class_id)
            or _bound(scope, CENTER_ROLES, _center_of(student.school)))


def may_write_learning_file(scope: Scope, student: Student, helper_id: int | None) -> bool:
    """Log help sessions and record goal results: whoever keeps the file
    (`may_keep_learning_file`) and the helping teacher (一帮一) named on it."""
    return (helper_id is not None and scope.user_id == helper_id) or may_keep_learning_file(scope, student)


def may_grant_aid(scope: Scope, student: Student) -> bool:
    """Record aid (免杂费, 免书费, 生活补助) for a child of a poor family: admin, the principal and
    academic office of the child's school (fees and paperwork), the center roles of its center."""
    return (scope.is_all or _bound(scope, SCHOOL_OFFICE_ROLES, student.school_id)
            or _bound(scope, CENTER_ROLES, _center_of(student.school)))


def sees_school_support(scope: Scope, school: School) -> bool:
    """A school's support totals (aid per term, learning goals met): whoever works for the whole
    school or above it, as for its annual figures (`sees_school_figures`)."""
    return sees_school_figures(scope, school)


def may_open_survey(scope: Scope, klass: SchoolClass) -> bool:
    """Open, close and reissue the codes of a class's anonymous survey: the academic office of
    the class's school (SPEC §5), and admin."""
    return scope.is_all or _bound(scope, ("academic_office",), klass.school_id)


def sees_teacher_evaluation(scope: Scope, teacher_id: int, school_ids: set[int],
                            center_ids: set[int]) -> bool:
    """A teacher's evaluation (survey results, classes' loss rates, 评优评先): the teacher, the
    principal and academic office of a school they teach at, that school's center roles, the
    county supervisor above it, admin. `school_ids` / `center_ids`: the teacher's schools and
    their centers."""
    if scope.is_all or scope.user_id == teacher_id:
        return True
    return (any(_bound(scope, SCHOOL_OFFICE_ROLES, s) for s in school_ids)
            or any(_bound(scope, CENTER_ROLES, c) for c in center_ids)
            or (scope.has_role("county_supervisor") and bool(school_ids & scope.school_ids)))


def may_edit_fee_schedule(scope: Scope, school: School) -> bool:
    """Draft a school's fee schedule (一费制) for a year: admin, the school's principal and
    academic office, the center roles of its center."""
    return (scope.is_all or _bound(scope, SCHOOL_OFFICE_ROLES, school.id)
            or _bound(scope, CENTER_ROLES, school.center_id))


def may_approve_fee_schedule(scope: Scope, school: School) -> bool:
    """Approve a school's fee schedule: the center head and center office of its center school
    only (SPEC §5: approved by the center school; the admin configures, it does not approve)."""
    return _bound(scope, CENTER_ROLES, school.center_id)


def may_view_instance_settings(scope: Scope) -> bool:
    """The settings page (thresholds, ledger amounts, upload limit, store in force): admin only."""
    return scope.has_role("admin")


def may_manage_school_year(scope: Scope) -> bool:
    """The school-year pages (roster import, rollover, placement lists): admin, center roles,
    principal and academic office; which schools each may change is `may_manage_school`."""
    return scope.is_all or scope.has_role(*CENTER_ROLES, *SCHOOL_OFFICE_ROLES)


# --- monthly reports (SPEC §2, §3.9) ------------------------------------------------------------


def county_review_steps(proc) -> tuple[str, ...]:
    """The transitions of process definition `proc` a county supervisor may fire: those naming
    the role, and only on the processes `COUNTY_REVIEWED_PROCESSES` lists (the engine acts on
    that list through `acting_roles`). SPEC §2: the county fires only its review steps, never a
    school's step; tests/workflow/test_monthly_report.py holds every process to it."""
    if proc.name not in COUNTY_REVIEWED_PROCESSES:
        return ()
    return tuple(dict.fromkeys(t.name for t in proc.transitions if "county_supervisor" in t.roles))


def may_open_monthly_reports(scope: Scope) -> bool:
    """The monthly-report pages (一月一报告): admin, county supervisor, center and school roles
    (each sees the reports of the schools of their scope); teachers and liaisons do not."""
    return scope.is_all or scope.has_role("county_supervisor", *CENTER_ROLES, *SCHOOL_OFFICE_ROLES)


def may_open_monthly_report_for(scope: Scope, school: School) -> bool:
    """Open (draft) a school's monthly report: its academic office (SPEC §3.9); the same rule as
    the process's `create_roles`, asked by the pages to show the button."""
    return _bound(scope, ("academic_office",), school.id)


# --- the stand-in for a blocked approval (SPEC §3 "Separation of duties") ------------------------

# The approval step -> the role of the next approver, who fires it in place of the step's own
# role when separation of duties leaves nobody to fire it (a village school's only academic
# office submitted the case; a teaching point's principal who is also its office submitted the
# monthly report). `center_file` has no stand-in: a center school always has its two roles.
STAND_IN_ROLES = {"office_approve": ("principal",), "principal_approve": ("center_office",)}


def school_role_holders(session: Session, school_ids, roles) -> dict[tuple[int, str], frozenset[int]]:
    """(school id, role) -> ids of the active users holding `role` bound to that school, for
    every pair with at least one holder (one query, for a page's one school or a whole queue)."""
    ids, roles = sorted({i for i in school_ids if i is not None}), sorted(set(roles))
    if not ids or not roles:
        return {}
    out: dict[tuple[int, str], set[int]] = {}
    for school_id, role, user_id in session.execute(
            select(RoleAssignment.school_id, RoleAssignment.role, RoleAssignment.user_id)
            .join(User, User.id == RoleAssignment.user_id)
            .where(RoleAssignment.school_id.in_(ids), RoleAssignment.role.in_(roles), User.is_active.is_(True))):
        out.setdefault((school_id, role), set()).add(user_id)
    return {key: frozenset(users) for key, users in out.items()}


def stand_in_role(step: str, step_roles, held: set[str], school_id: int, submitter_id: int | None,
                  holders: dict[tuple[int, str], frozenset[int]]) -> str | None:
    """The role in which a user holding `held` (their roles for the case) fires the approval
    `step` for its own approvers, or None (SPEC §3).

    Only for a step separation of duties bars its submitter from (the caller has checked that),
    and only when that leaves nobody: no active user but the submitter holds any of the step's
    own roles (`step_roles`) at the case's school (`holders`: `school_role_holders`). Then the
    holder of the next approval role (`STAND_IN_ROLES`) may fire it; the engine records the
    acting role and the role it stood in for."""
    stand_ins = STAND_IN_ROLES.get(step)
    if not stand_ins or submitter_id is None:
        return None
    others = set()
    for role in step_roles:
        others |= holders.get((school_id, role), frozenset())
    if others - {submitter_id}:
        return None
    return next((r for r in stand_ins if r in held), None)


# --- suspected-dropout checks, the comparisons, close-watch groups (SPEC §3.10, §5) -------------

# Who brings suspected-dropout lists in and runs the comparisons: the county, the center school,
# and a school's own office (each only over the schools and students they see).
DROPOUT_LIST_ROLES = ("county_supervisor", *CENTER_ROLES, *SCHOOL_OFFICE_ROLES)


def may_import_dropout_list(scope: Scope) -> bool:
    """Import an outside suspected-dropout list (.xlsx): admin, county supervisor, center roles,
    principal, academic office; each list row is matched only among the students they see."""
    return scope.is_all or scope.has_role(*DROPOUT_LIST_ROLES)


def may_run_comparisons(scope: Scope, center: School) -> bool:
    """Run the comparisons (四查三比对) for a center school's area and import its list of formerly
    poor households: admin, the center's own center roles, the supervisor of its county."""
    return (scope.is_all or _bound(scope, CENTER_ROLES, center.id)
            or _bound(scope, ("county_supervisor",), center.county_id))


def sees_close_watch(scope: Scope) -> bool:
    """The close-watch panel (counts per group and school, and who the children with an open case
    are): admin, county supervisor, center roles, principal and academic office, for the schools
    they see (SPEC §5: the center school and the county see them by name)."""
    return scope.is_all or scope.has_role("county_supervisor", *CENTER_ROLES, *SCHOOL_OFFICE_ROLES)
