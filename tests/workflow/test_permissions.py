"""Who may do what (workflow.access.permissions): each rule as a table of user × target → allowed.

The World's users (tests/factories.py): `principal`, `office` (academic office), `team` of the
branch school; `teacher` (homeroom) and `subject` of its class `klass`; `center_head` and
`center_office` of the center school above it; `supervisor` of the county; `liaison` of `village`;
and `other_*` users of the other center. "In scope" targets are the World's branch side (`branch`,
`klass`, `village`, `center`), "out of scope" ones the other center's (`other_*`).
"""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from models import Case, SchoolClass, Village
from workflow.access import permissions as p
from workflow.access.scope import scope_for
from workflow.errors import Forbidden, NotFound

USERS = ("admin", "supervisor", "center_head", "center_office", "principal", "office", "teacher", "subject",
         "team", "liaison")


def scope(session, world, who):
    return scope_for(session, world[who])


def allowed_users(session, world, rule) -> set[str]:
    return {who for who in USERS if rule(scope(session, world, who))}


# --- pages and menus ---------------------------------------------------------------------------


STAFF = set(USERS) - {"liaison"}


@pytest.mark.parametrize("rule,users", [
    (p.is_staff, STAFF),
    (p.may_use_queue, {"center_head", "center_office", "principal", "office", "teacher", "subject", "team",
                       "liaison", "supervisor"}),
    (p.may_oversee, {"admin", "supervisor", "center_head", "center_office"}),
    (p.may_open_ledgers, {"admin", "supervisor", "center_head", "center_office", "principal", "office", "team"}),
    (p.may_open_catchment, set(USERS)),
    (p.may_record_attendance, {"principal", "office", "teacher", "subject"}),
    (p.may_import_scores, {"admin", "principal", "office", "teacher", "subject"}),
    (p.may_run_sweep, {"admin", "center_head", "center_office"}),
    (p.liaison_village_ids, {"liaison"}),
    (p.transfer_in_school_ids, {"office"}),
], ids=lambda v: getattr(v, "__name__", ""))
def test_who_opens_each_page(session, world, rule, users):
    assert allowed_users(session, world, rule) == users


def test_liaison_pages_follow_the_liaisons_villages(session, world):
    assert p.liaison_village_ids(scope(session, world, "liaison")) == {world.village.id}


def test_transfer_ins_are_received_into_the_offices_school(session, world):
    assert p.transfer_in_school_ids(scope(session, world, "office")) == {world.branch.id}


# --- attendance, scores, baselines, the ladder, the sweep ---------------------------------------


@pytest.mark.parametrize("who,klass,allowed", [
    ("teacher", "klass", True),
    ("teacher", "klass2", False),
    ("subject", "klass", True),
    ("principal", "klass2", True),
    ("office", "klass", True),
    ("office", "center_class", False),
    ("other_teacher", "klass", False),
    ("team", "klass", False),
    ("center_head", "klass", False),
    ("admin", "klass", False),
    ("supervisor", "klass", False),
])
def test_who_takes_a_classs_attendance(session, world, who, klass, allowed):
    assert p.may_record_attendance(scope(session, world, who), getattr(world, klass)) is allowed


@pytest.mark.parametrize("who,klass,allowed", [
    ("admin", "other_class", True),
    ("principal", "klass2", True),
    ("office", "klass", True),
    ("principal", "other_class", False),
    ("teacher", "klass", True),
    ("teacher", "klass2", False),
    ("subject", "klass", True),
    ("center_head", "klass", False),
    ("team", "klass", False),
    ("supervisor", "klass", False),
])
def test_who_imports_a_classs_scores(session, world, who, klass, allowed):
    assert p.may_import_scores(scope(session, world, who), getattr(world, klass)) is allowed


@pytest.mark.parametrize("who,school,allowed", [
    ("admin", "other_branch", True),
    ("principal", "branch", True),
    ("principal", "branch2", False),
    ("office", "branch", True),
    ("center_head", "branch", True),
    ("center_office", "branch2", True),
    ("center_head", "other_branch", False),
    ("teacher", "branch", False),
    ("team", "branch", False),
    ("supervisor", "branch", False),
])
def test_who_freezes_a_schools_baselines(session, world, who, school, allowed):
    assert p.may_freeze_baselines(scope(session, world, who), getattr(world, school)) is allowed


@pytest.mark.parametrize("who,center,allowed", [
    ("admin", "other_center", True),
    ("center_head", "center", True),
    ("center_office", "center", True),
    ("center_head", "other_center", False),
    ("principal", "center", False),
    ("supervisor", "center", False),
])
def test_who_edits_a_centers_ladder(session, world, who, center, allowed):
    assert p.may_edit_ladder_policy(scope(session, world, who), getattr(world, center).id) is allowed


# Rules that follow a school's center: admin any school, center roles the schools of their center.
BY_CENTER = [
    ("admin", "other_branch", True),
    ("center_head", "branch", True),
    ("center_office", "center", True),
    ("center_head", "other_branch", False),
    ("principal", "branch", False),
    ("supervisor", "branch", False),
]


@pytest.mark.parametrize("who,school,allowed", BY_CENTER)
def test_who_sweeps_a_school(session, world, who, school, allowed):
    assert p.may_run_sweep(scope(session, world, who), getattr(world, school)) is allowed


# --- personal data -----------------------------------------------------------------------------


@pytest.mark.parametrize("who,klass,allowed", [
    ("admin", "other_class", True),
    ("principal", "klass", True),
    ("office", "klass", True),
    ("other_office", "klass", False),
    ("center_office", "klass", True),
    ("center_office", "other_class", False),
    ("center_head", "klass", False),
    ("teacher", "klass", False),
    ("team", "klass", False),
    ("supervisor", "klass", False),
    ("liaison", "klass", False),
])
def test_who_sees_a_full_id_card_number(session, world, factory, who, klass, allowed):
    student = factory.student(getattr(world, klass), world.village)
    assert p.sees_full_id_card(scope(session, world, who), student) is allowed


@pytest.mark.parametrize("who,center,edit,crosscheck", [
    ("admin", "other_center", True, True),
    ("center_office", "center", True, True),
    ("center_office", "other_center", False, False),
    ("principal", "center", True, True),
    ("office", "center", True, True),
    ("other_office", "center", False, False),
    ("center_head", "center", False, True),
    ("center_head", "other_center", False, False),
    ("teacher", "center", False, False),
    ("team", "center", False, False),
    ("liaison", "center", False, False),
    ("supervisor", "center", False, False),
])
def test_who_edits_and_crosschecks_a_catchment_register(session, world, who, center, edit, crosscheck):
    s, center_id = scope(session, world, who), getattr(world, center).id
    assert p.may_edit_catchment(session, s, center_id) is edit
    assert p.sees_full_catchment_ids(session, s, center_id) is edit
    assert p.may_crosscheck_catchment(session, s, center_id) is crosscheck
    assert p.catchment_rights(session, s, center_id) == p.CatchmentRights(edit, crosscheck, edit)


def test_the_catchment_page_learns_all_three_rights_from_one_query(session, world):
    s, center_id = scope(session, world, "office"), world.center.id
    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listen)
    try:
        p.catchment_rights(session, s, center_id)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listen)
    assert len(statements) == 1


@pytest.mark.parametrize("who,school,allowed", [
    ("admin", "other_branch", True),
    ("supervisor", "branch", True),
    ("center_head", "branch", True),
    ("center_office", "other_branch", False),
    ("principal", "branch", True),
    ("office", "other_branch", False),
    ("team", "branch", True),
    ("teacher", "branch", False),
    ("subject", "branch", False),
    ("liaison", "branch", False),
])
def test_who_sees_a_schools_annual_figures(session, world, who, school, allowed):
    assert p.sees_school_figures(scope(session, world, who), getattr(world, school)) is allowed


# --- evidence on a case ------------------------------------------------------------------------


def _case(session, factory, world, *, is_open=True, process="absence"):
    student = factory.student(world.klass, world.village)
    case = Case(process=process, state="reported", student_id=student.id, school_id=student.school_id,
                opened_on=dt.date(2026, 10, 14), is_open=is_open, data={})
    session.add(case)
    session.flush()
    return case


ALL_KINDS = ["home_visit", "in_person_at_school", "phone", "village_joint"]


@pytest.mark.parametrize("who,is_open,evidence,kinds", [
    ("teacher", True, True, ALL_KINDS),
    ("subject", True, True, ALL_KINDS),
    ("team", True, True, ALL_KINDS),
    ("principal", True, True, ALL_KINDS),
    ("office", True, True, ALL_KINDS),
    ("center_office", True, True, ALL_KINDS),
    ("liaison", True, False, ["village_joint"]),
    ("teacher", False, False, []),
    ("liaison", False, False, []),
    ("supervisor", True, False, []),
    ("admin", True, False, []),
    ("other_teacher", True, False, []),
    ("other_liaison", True, False, []),
])
def test_who_adds_evidence_and_which_visits(session, world, factory, who, is_open, evidence, kinds):
    case = _case(session, factory, world, is_open=is_open)
    s = scope(session, world, who)
    assert p.may_add_evidence(session, s, case) is evidence
    assert p.loggable_visit_kinds(session, s, case) == kinds


def test_evidence_roles_are_the_roles_held_for_the_student(session, world, factory):
    case = _case(session, factory, world)
    assert p.evidence_roles(session, scope(session, world, "teacher"), case) == {"homeroom_teacher"}
    assert p.evidence_roles(session, scope(session, world, "center_head"), case) == {"center_head"}
    assert p.evidence_roles(session, scope(session, world, "liaison"), case) == {"village_liaison"}
    assert p.evidence_roles(session, scope(session, world, "supervisor"), case) == set()
    with pytest.raises(NotFound):
        p.evidence_roles(session, scope(session, world, "other_teacher"), case)


@pytest.mark.parametrize("roles,kind,refusal", [
    ({"homeroom_teacher"}, "home_visit", None),
    ({"team_member", "village_liaison"}, "phone", None),
    ({"village_liaison"}, "village_joint", None),
    ({"village_liaison"}, "home_visit", "村委联络员只能登记村校联合家访"),
    (set(), "village_joint", "只有负责该学生的学校工作人员或村委联络员可以登记家访"),
])
def test_which_visit_a_role_may_log(roles, kind, refusal):
    if refusal is None:
        p.require_visit_kind(roles, kind)
    else:
        with pytest.raises(Forbidden, match=refusal):
            p.require_visit_kind(roles, kind)


@pytest.mark.parametrize("roles,allowed", [
    ({"academic_office"}, True),
    ({"village_liaison", "homeroom_teacher"}, True),
    ({"village_liaison"}, False),
    (set(), False),
])
def test_only_school_staff_record_staff_evidence(roles, allowed):
    if allowed:
        p.require_case_staff(roles, "材料")
    else:
        with pytest.raises(Forbidden, match="只有负责该学生的学校工作人员可以登记材料"):
            p.require_case_staff(roles, "材料")


# --- who may create and grant --------------------------------------------------------------


@pytest.mark.parametrize("role,schools", [
    ("center_head", {"center", "branch", "branch2"}),
    ("center_office", {"center", "branch", "branch2"}),
    ("principal", {"branch"}),
    ("office", {"branch"}),
    ("team", set()),
    ("teacher", set()),
    ("supervisor", set()),
    ("liaison", set()),
])
def test_managed_schools(session, world, role, schools):
    assert p.managed_school_ids(session, scope(session, world, role)) == {getattr(world, s).id for s in schools}


def test_admin_manages_everything(session, world):
    s = scope(session, world, "admin")
    assert p.managed_school_ids(session, s) is None
    assert p.managed_center_ids(s) is None


@pytest.mark.parametrize("role,centers", [
    ("center_head", {"center"}), ("center_office", {"center"}), ("principal", set()), ("supervisor", set()),
])
def test_managed_centers(session, world, role, centers):
    assert p.managed_center_ids(scope(session, world, role)) == {getattr(world, c).id for c in centers}


@pytest.mark.parametrize("granter,role,target,allowed", [
    ("admin", "admin", None, True),
    ("admin", "county_supervisor", "county", True),
    ("center_head", "center_office", "center", True),
    ("center_head", "center_office", "other_center", False),
    ("center_head", "principal", "branch", True),
    ("center_head", "homeroom_teacher", "klass", True),
    ("center_head", "homeroom_teacher", "other_class", False),
    ("center_head", "village_liaison", "village", True),
    ("center_head", "village_liaison", "other_village", False),
    ("center_head", "county_supervisor", "county", False),
    ("center_head", "admin", None, False),
    ("principal", "academic_office", "branch", True),
    ("principal", "team_member", "branch2", False),
    ("principal", "subject_teacher", "klass2", True),
    ("principal", "subject_teacher", "center_class", False),
    ("principal", "center_office", "center", False),
    ("principal", "village_liaison", "village", False),
    ("teacher", "subject_teacher", "klass", False),
    ("supervisor", "principal", "branch", False),
])
def test_may_grant_never_wider_than_own_scope(session, world, granter, role, target, allowed):
    ids = {"school_id": None, "class_id": None, "village_id": None}
    if target:
        obj = getattr(world, target)
        key = {SchoolClass: "class_id", Village: "village_id"}.get(type(obj), "school_id")
        ids[key] = obj.id
    assert p.may_grant(session, scope(session, world, granter), role, **ids) is allowed


@pytest.mark.parametrize("who,school,allowed", BY_CENTER)
def test_who_renames_a_school(session, world, who, school, allowed):
    assert p.may_edit_school(scope(session, world, who), getattr(world, school)) is allowed


@pytest.mark.parametrize("who,village,allowed", [
    ("admin", "other_village", True),
    ("center_head", "village", True),
    ("center_office", "village2", True),
    ("center_head", "other_village", False),
    ("principal", "village", False),
    ("liaison", "village", False),
])
def test_who_edits_a_village(session, world, who, village, allowed):
    assert p.may_edit_village(scope(session, world, who), getattr(world, village)) is allowed


@pytest.mark.parametrize("who,school,allowed", [
    ("admin", "other_branch", True),
    ("center_head", "branch2", True),
    ("center_office", "center", True),
    ("center_head", "other_branch", False),
    ("principal", "branch", True),
    ("office", "branch", True),
    ("principal", "branch2", False),
    ("team", "branch", False),
    ("teacher", "branch", False),
    ("supervisor", "branch", False),
])
def test_who_manages_a_schools_classes_students_and_calendar(session, world, who, school, allowed):
    assert p.may_manage_school(session, scope(session, world, who), getattr(world, school).id) is allowed


@pytest.mark.parametrize("editor,user,allowed", [
    ("admin", "center_head", True),
    ("center_head", "principal", True),
    ("center_head", "center_office", True),
    ("center_head", "liaison", True),
    ("center_head", "other_principal", False),
    ("center_head", "supervisor", False),
    ("center_head", "admin", False),
    ("principal", "teacher", True),
    ("principal", "office", True),
    ("office", "principal", False),  # SPEC §2: an academic office never touches its principal
    ("office", "teacher", True),
    ("center_office", "center_head", False),  # ... nor a center office its center head
    ("center_office", "principal", True),
    ("principal", "principal", False),  # nor anyone their own account here
    ("principal", "center_office", False),
    ("principal", "liaison", False),
    ("teacher", "subject", False),
    ("supervisor", "principal", False),
])
def test_who_edits_a_user_account(session, world, editor, user, allowed):
    assert p.may_edit_user(session, scope(session, world, editor), world[user]) is allowed


@pytest.mark.parametrize("granter,role,allowed", [
    ("office", "academic_office", False),
    ("office", "principal", False),
    ("office", "team_member", True),
    ("principal", "principal", False),
    ("principal", "academic_office", True),
    ("center_office", "center_head", False),
    ("center_office", "center_office", False),
    ("center_office", "principal", True),
    ("center_head", "center_office", True),
    ("center_head", "center_head", False),
])
def test_grants_rank_strictly_below_the_granters_highest_role(session, world, granter, role, allowed):
    """Within their own scope, a role may grant only roles ranked below it (SPEC §2)."""
    target = world.branch if role in ("principal", "academic_office", "team_member") else world.center
    assert p.may_grant(session, scope(session, world, granter), role, target.id, None, None) is allowed


def test_the_highest_of_several_roles_decides(session, world, factory):
    both = factory.user("both", "academic_office", school=world.branch)
    factory.grant(both, "principal", school=world.branch)
    s = scope_for(session, both)
    assert p.highest_rank(s) == p.ROLE_RANK["principal"]
    assert p.may_grant(session, s, "academic_office", world.branch.id, None, None)


# --- 档案管理: the record screens ---------------------------------------------------------------


@pytest.mark.parametrize("who,record,action,allowed", [
    ("teacher", "student", "read", True),
    ("liaison", "student", "read", False),
    ("team", "user", "read", False),
    ("supervisor", "user", "read", True),
    ("office", "user", "read", True),
    ("teacher", "student", "create", False),
    ("principal", "student", "create", True),
    ("office", "class", "delete", True),
    ("office", "term", "edit", True),
    ("admin", "student", "delete", False),
    ("admin", "user", "delete", False),
    ("principal", "user", "create", True),
    ("principal", "school", "create", False),
    ("center_head", "school", "create", True),
    ("center_office", "school", "edit", True),
    ("center_head", "school", "delete", False),
    ("admin", "school", "delete", True),
    ("center_office", "village", "delete", True),
    ("principal", "village", "create", False),
    ("admin", "ladder_policy", "create", True),
    ("center_head", "ladder_policy", "edit", True),
    ("center_head", "ladder_policy", "delete", False),
    ("principal", "ladder_policy", "read", True),
    ("principal", "ladder_policy", "create", False),
    ("admin", "case", "edit", False),
    ("admin", "enrolment", "create", False),
    ("admin", "baseline", "delete", False),
    ("office", "exam_score", "read", True),
    ("center_office", "catchment_child", "create", False),
    ("liaison", "catchment_child", "read", False),
])
def test_who_opens_and_writes_each_record_screen(session, world, who, record, action, allowed):
    assert p.may_use_records(scope(session, world, who), record, action) is allowed


def test_every_record_screen_has_a_rule_for_every_action(session, world):
    s = scope(session, world, "admin")
    for record in p.RECORDS:
        for action in p.RECORD_ACTIONS:
            assert isinstance(p.may_use_records(s, record, action), bool)
    with pytest.raises(KeyError):
        p.may_use_records(s, "student", "write")
    with pytest.raises(KeyError):
        p.may_use_records(s, "password", "read")


@pytest.mark.parametrize("who,record,target,allowed", [
    ("center_head", "school", "branch", True),
    ("center_head", "school", "other_branch", False),
    ("center_office", "village", "village", True),
    ("principal", "village", "village", False),
    ("principal", "class", "klass", True),
    ("principal", "class", "other_class", False),
    ("center_head", "class", "center_class", True),
    ("teacher", "class", "klass", False),
    ("admin", "class", "other_class", True),
    ("center_head", "case", "klass", False),
    ("admin", "case", "klass", True),
])
def test_who_writes_one_record(session, world, who, record, target, allowed):
    assert p.may_write_record(session, scope(session, world, who), record, getattr(world, target)) is allowed


@pytest.mark.parametrize("who,pupil_class,allowed", [
    ("office", "klass", True),
    ("center_office", "klass", True),
    ("office", "other_class", False),
    ("teacher", "klass", False),
])
def test_who_writes_a_student_record(session, world, factory, who, pupil_class, allowed):
    pupil = factory.student(getattr(world, pupil_class), world.village)
    assert p.may_write_record(session, scope(session, world, who), "student", pupil) is allowed


@pytest.mark.parametrize("who,user,allowed", [
    ("center_head", "principal", True),
    ("principal", "center_head", False),
])
def test_who_writes_a_user_record(session, world, who, user, allowed):
    assert p.may_write_record(session, scope(session, world, who), "user", world[user]) is allowed
