"""SPEC §2: what each role of the World sees, resolved in workflow.scope (the one place)."""
import datetime as dt

import pytest
from sqlalchemy import select

from models import (
    Baseline,
    Case,
    CatchmentChild,
    Enrolment,
    ExamScore,
    LadderPolicy,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Term,
    User,
    Village,
)
from workflow.access.scope import (
    can_see,
    case_staff_filter,
    get_in_scope,
    scope_for,
    scoped,
)
from workflow.errors import NotFound

ALL_SCHOOLS = {"county", "center", "branch", "branch2", "other_center", "other_branch"}
ALL_CLASSES = {"klass", "klass2", "center_class", "other_class"}
ALL_PUPILS = {"p_klass", "p_klass2", "p_center", "p_other", "p_village2"}


@pytest.fixture
def pupils(world, factory):
    """One student per class; p_village2 is in klass but lives in village2."""
    return {
        "p_klass": factory.student(world.klass, world.village),
        "p_klass2": factory.student(world.klass2, world.village),
        "p_center": factory.student(world.center_class, world.village),
        "p_other": factory.student(world.other_class, world.other_village),
        "p_village2": factory.student(world.klass, world.village2),
    }


def open_case(session, student, process="absence", is_open=True, state="reported"):
    case = Case(process=process, state=state, student_id=student.id, school_id=student.school_id,
                opened_on=dt.date(2026, 9, 7), is_open=is_open)
    session.add(case)
    session.flush()
    return case


def visible(session, world, role, model):
    scope = scope_for(session, world[role])
    return set(session.scalars(scoped(scope, model)).all())


def objs(world, names):
    return {getattr(world, n) for n in names}


@pytest.mark.parametrize("role,schools", [
    ("admin", ALL_SCHOOLS),
    ("supervisor", ALL_SCHOOLS),
    ("center_head", {"center", "branch", "branch2"}),
    ("center_office", {"center", "branch", "branch2"}),
    ("other_center_head", {"other_center", "other_branch"}),
    ("principal", {"branch"}),
    ("office", {"branch"}),
    ("team", {"branch"}),
    ("teacher", {"branch"}),
    ("subject", {"branch"}),
    ("other_principal", {"other_branch"}),
    ("liaison", set()),
])
def test_schools_each_role_sees(session, world, role, schools):
    assert visible(session, world, role, School) == objs(world, schools)


@pytest.mark.parametrize("role,classes", [
    ("admin", ALL_CLASSES),
    ("supervisor", ALL_CLASSES),
    ("center_head", {"klass", "klass2", "center_class"}),
    ("center_office", {"klass", "klass2", "center_class"}),
    ("other_center_head", {"other_class"}),
    ("principal", {"klass", "klass2"}),
    ("office", {"klass", "klass2"}),
    ("team", {"klass", "klass2"}),
    ("teacher", {"klass"}),
    ("subject", {"klass"}),
    ("other_teacher", {"other_class"}),
    ("liaison", set()),
])
def test_classes_each_role_sees(session, world, role, classes):
    assert visible(session, world, role, SchoolClass) == objs(world, classes)


@pytest.mark.parametrize("role,names", [
    ("admin", ALL_PUPILS),
    ("supervisor", ALL_PUPILS),
    ("center_head", ALL_PUPILS - {"p_other"}),
    ("center_office", ALL_PUPILS - {"p_other"}),
    ("other_center_head", {"p_other"}),
    ("principal", {"p_klass", "p_klass2", "p_village2"}),
    ("office", {"p_klass", "p_klass2", "p_village2"}),
    ("team", {"p_klass", "p_klass2", "p_village2"}),
    ("teacher", {"p_klass", "p_village2"}),
    ("subject", {"p_klass", "p_village2"}),
    ("other_teacher", {"p_other"}),
    ("liaison", set()),
    ("other_liaison", set()),
])
def test_students_each_role_sees(session, world, pupils, role, names):
    assert visible(session, world, role, Student) == {pupils[n] for n in names}


@pytest.mark.parametrize("role,villages", [
    ("admin", {"village", "village2", "other_village"}),
    ("supervisor", {"village", "village2", "other_village"}),
    ("center_office", {"village", "village2"}),
    ("principal", {"village", "village2"}),
    ("teacher", {"village", "village2"}),
    ("other_teacher", {"other_village"}),
    ("liaison", {"village"}),
    ("other_liaison", {"other_village"}),
])
def test_villages_each_role_sees(session, world, role, villages):
    assert visible(session, world, role, Village) == objs(world, villages)


# --- the village liaison -------------------------------------------------------------------


@pytest.mark.parametrize("process", ["absence", "recovery"])
def test_liaison_sees_their_village_students_with_an_open_case(session, world, pupils, process):
    case = open_case(session, pupils["p_klass"], process)
    assert visible(session, world, "liaison", Student) == {pupils["p_klass"]}
    assert visible(session, world, "liaison", Case) == {case}
    assert visible(session, world, "other_liaison", Student) == set()


def test_liaison_sees_students_of_any_school_in_their_village(session, world, pupils):
    open_case(session, pupils["p_klass"])
    open_case(session, pupils["p_center"], "recovery")
    assert visible(session, world, "liaison", Student) == {pupils["p_klass"], pupils["p_center"]}


@pytest.mark.parametrize("pupil,process,is_open", [
    ("p_klass", "absence", False),          # the case is closed
    ("p_klass", "suspension", True),        # not a process a liaison follows
    ("p_klass", "transfer_out", True),
    ("p_village2", "absence", True),        # another village
    ("p_other", "recovery", True),          # another center's village
])
def test_liaison_does_not_see_other_students_or_cases(session, world, pupils, pupil, process, is_open):
    open_case(session, pupils[pupil], process, is_open=is_open)
    assert visible(session, world, "liaison", Student) == set()
    assert visible(session, world, "liaison", Case) == set()


def test_liaison_no_longer_sees_the_student_once_the_case_closes(session, world, pupils):
    case = open_case(session, pupils["p_klass"])
    assert can_see(session, scope_for(session, world["liaison"]), Student, pupils["p_klass"].id)
    case.is_open = False
    session.flush()
    assert not can_see(session, scope_for(session, world["liaison"]), Student, pupils["p_klass"].id)


# --- cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role,names", [
    ("center_head", {"p_klass", "p_center"}),
    ("supervisor", {"p_klass", "p_center", "p_other"}),
    ("principal", {"p_klass"}),
    ("teacher", {"p_klass"}),
    ("other_teacher", {"p_other"}),
    ("other_principal", {"p_other"}),
])
def test_cases_follow_the_students_scope(session, world, pupils, role, names):
    cases = {n: open_case(session, pupils[n]) for n in ("p_klass", "p_center", "p_other")}
    assert visible(session, world, role, Case) == {cases[n] for n in names}


def test_incoming_transfer_is_visible_to_the_receiving_school(session, world, pupils):
    # a student of another center whose open case is held by the branch school
    case = Case(process="transfer_in", state="draft", student_id=pupils["p_other"].id,
                school_id=world.branch.id, opened_on=dt.date(2026, 9, 7))
    session.add(case)
    session.flush()
    assert pupils["p_other"] in visible(session, world, "office", Student)
    assert case in visible(session, world, "office", Case)


# --- users, inactive users, get_in_scope ---------------------------------------------------


def test_teacher_sees_the_staff_of_their_school_but_not_another(session, world):
    names = {u.username for u in visible(session, world, "teacher", User)}
    assert {"teacher", "principal", "office", "team", "subject", "liaison"} <= names
    assert not {"other_principal", "other_teacher", "center_head", "admin"} & names


def test_inactive_user_sees_nothing(session, world, pupils):
    world["center_head"].is_active = False
    session.flush()
    for model in (School, SchoolClass, Student, Village, Case):
        assert visible(session, world, "center_head", model) == set()


def test_get_in_scope_answers_not_found_for_unknown_and_out_of_scope(session, world, pupils):
    scope = scope_for(session, world["principal"])
    assert get_in_scope(session, scope, Student, pupils["p_klass"].id) is pupils["p_klass"]
    for obj_id in (pupils["p_other"].id, 99999, "abc", None):
        with pytest.raises(NotFound):
            get_in_scope(session, scope, Student, obj_id)


# --- who is staff of a case ----------------------------------------------------------------


def _case_staff(session, school, student) -> set[str]:
    return set(session.scalars(select(User.username).join(RoleAssignment, RoleAssignment.user_id == User.id)
                               .where(case_staff_filter(school, student))))


def test_case_staff_are_bound_to_its_school_center_class_or_village(session, world, pupils):
    assert _case_staff(session, world.branch, pupils["p_klass"]) == {
        "center_head", "center_office", "principal", "office", "team", "teacher", "subject", "liaison"}
    # a student of the same school living in another village: that village has no liaison
    assert _case_staff(session, world.branch, pupils["p_village2"]) == {
        "center_head", "center_office", "principal", "office", "team", "teacher", "subject"}
    assert _case_staff(session, world.other_branch, pupils["p_other"]) == {
        "other_principal", "other_office", "other_center_head", "other_teacher", "other_liaison"}


def test_without_school_or_student_nobody_is_case_staff(session, world):
    assert _case_staff(session, None, None) == set()


# --- records seen with their school, class, village or student ---------------------------------


def named(rows: dict, names) -> set:
    return {rows[n] for n in names}


@pytest.fixture
def terms(world, factory):
    return {"branch": factory.term(world.branch), "center": factory.term(world.center),
            "other_branch": factory.term(world.other_branch)}


@pytest.mark.parametrize("role,names", [
    ("admin", {"branch", "center", "other_branch"}),
    ("center_office", {"branch", "center"}),
    ("office", {"branch"}),
    ("teacher", {"branch"}),            # the school of the class they teach
    ("other_teacher", {"other_branch"}),
    ("liaison", set()),
])
def test_terms_follow_the_schools_scope(session, world, terms, role, names):
    assert visible(session, world, role, Term) == named(terms, names)


@pytest.fixture
def enrolments(session, world, pupils):
    """Each pupil's enrolment, and an earlier period of p_klass at the other center's branch."""
    rows = {n: session.scalars(select(Enrolment).where(Enrolment.student_id == p.id)).one()
            for n, p in pupils.items()}
    rows["p_klass_before"] = Enrolment(student_id=pupils["p_klass"].id, school_id=world.other_branch.id,
                                       class_id=world.other_class.id, start_date=dt.date(2025, 9, 1),
                                       start_reason="enrol", end_date=dt.date(2026, 6, 30),
                                       end_reason="transfer_out")
    session.add(rows["p_klass_before"])
    session.flush()
    return rows


@pytest.mark.parametrize("role,names", [
    ("admin", {"p_klass", "p_klass_before", "p_klass2", "p_center", "p_other", "p_village2"}),
    ("center_office", {"p_klass", "p_klass_before", "p_klass2", "p_center", "p_village2"}),
    ("office", {"p_klass", "p_klass_before", "p_klass2", "p_village2"}),
    # a student's periods at other schools come with the student
    ("teacher", {"p_klass", "p_klass_before", "p_village2"}),
    ("other_teacher", {"p_other"}),
    ("other_principal", {"p_other"}),
    ("liaison", set()),
])
def test_enrolments_follow_the_students_scope(session, world, enrolments, role, names):
    assert visible(session, world, role, Enrolment) == named(enrolments, names)


def test_liaison_sees_the_enrolments_of_a_student_with_an_open_case(session, world, pupils, enrolments):
    open_case(session, pupils["p_klass"])
    assert visible(session, world, "liaison", Enrolment) == named(enrolments, {"p_klass", "p_klass_before"})


@pytest.fixture
def register(session, world):
    rows = {v: CatchmentChild(village_id=getattr(world, v).id, name=f"{v}童", gender="F",
                              birth_date=dt.date(2016, 3, 1), household_status="local", status="not_enrolled")
            for v in ("village", "village2", "other_village")}
    session.add_all(rows.values())
    session.flush()
    return rows


@pytest.mark.parametrize("role,names", [
    ("admin", {"village", "village2", "other_village"}),
    ("center_office", {"village", "village2"}),
    ("office", {"village", "village2"}),
    ("teacher", {"village", "village2"}),
    ("other_teacher", {"other_village"}),
    ("liaison", {"village"}),
    ("other_liaison", {"other_village"}),
])
def test_catchment_register_follows_the_villages_scope(session, world, register, role, names):
    assert visible(session, world, role, CatchmentChild) == named(register, names)


@pytest.fixture
def baselines(session, world):
    rows = {k: Baseline(class_id=getattr(world, k).id, school_id=getattr(world, k).school_id,
                        school_year="2026-2027", term=1, count=30, rule="term_start",
                        counted_on=dt.date(2026, 9, 1))
            for k in ("klass", "klass2", "center_class", "other_class")}
    session.add_all(rows.values())
    session.flush()
    return rows


@pytest.mark.parametrize("role,names", [
    ("admin", {"klass", "klass2", "center_class", "other_class"}),
    ("center_office", {"klass", "klass2", "center_class"}),
    ("office", {"klass", "klass2"}),
    ("teacher", {"klass"}),
    ("other_teacher", {"other_class"}),
    ("liaison", set()),
])
def test_baselines_follow_the_classes_scope(session, world, baselines, role, names):
    assert visible(session, world, role, Baseline) == named(baselines, names)


@pytest.fixture
def scores(session, world, pupils):
    """A score per class; `moved` is p_klass2's score recorded in klass (the class they sat it in)."""
    sat = {"klass": "p_klass", "klass2": "p_klass2", "center_class": "p_center", "other_class": "p_other"}
    rows = {k: ExamScore(student_id=pupils[p].id, class_id=getattr(world, k).id, school_year="2026-2027",
                         term=1, exam="final", subject="语文", score=80) for k, p in sat.items()}
    rows["moved"] = ExamScore(student_id=pupils["p_klass2"].id, class_id=world.klass.id, school_year="2025-2026",
                              term=2, exam="final", subject="语文", score=75)
    session.add_all(rows.values())
    session.flush()
    return rows


@pytest.mark.parametrize("role,names", [
    ("admin", {"klass", "moved", "klass2", "center_class", "other_class"}),
    ("center_office", {"klass", "moved", "klass2", "center_class"}),
    ("office", {"klass", "moved", "klass2"}),
    ("teacher", {"klass", "moved"}),    # the class the score was recorded in, not the student's now
    ("other_teacher", {"other_class"}),
    ("liaison", set()),
])
def test_exam_scores_follow_the_class_they_were_recorded_in(session, world, scores, role, names):
    assert visible(session, world, role, ExamScore) == named(scores, names)


@pytest.fixture
def ladders(session, world):
    """Two saved versions of the center's ladder, one of the other center's."""
    rows = {"center_v1": LadderPolicy(center_school_id=world.center.id, version=1, rungs=[]),
            "center_v2": LadderPolicy(center_school_id=world.center.id, version=2, rungs=[]),
            "other_v1": LadderPolicy(center_school_id=world.other_center.id, version=1, rungs=[])}
    session.add_all(rows.values())
    session.flush()
    return rows


@pytest.mark.parametrize("role,names", [
    ("admin", {"center_v1", "center_v2", "other_v1"}),
    ("supervisor", {"center_v2", "other_v1"}),
    # center roles edit their center's ladder: every version of it
    ("center_head", {"center_v1", "center_v2"}),
    ("center_office", {"center_v1", "center_v2"}),
    ("other_center_head", {"other_v1"}),
    # school staff: their center's current version only
    ("principal", {"center_v2"}),
    ("office", {"center_v2"}),
    ("teacher", {"center_v2"}),
    ("other_teacher", {"other_v1"}),
    ("liaison", set()),
])
def test_ladder_versions_each_role_sees(session, world, ladders, role, names):
    assert visible(session, world, role, LadderPolicy) == named(ladders, names)


def test_a_new_ladder_version_replaces_the_current_one_for_school_staff(session, world, ladders):
    newer = LadderPolicy(center_school_id=world.center.id, version=3, rungs=[])
    session.add(newer)
    session.flush()
    assert visible(session, world, "office", LadderPolicy) == {newer}
    assert visible(session, world, "center_office", LadderPolicy) == {newer, *named(ladders, {"center_v1", "center_v2"})}


@pytest.mark.parametrize("model", [Term, Enrolment, CatchmentChild, Baseline, ExamScore, LadderPolicy])
def test_derived_records_out_of_scope_answer_not_found(session, world, terms, enrolments, register, baselines,
                                                       scores, ladders, model):
    rows = {Term: terms["other_branch"], Enrolment: enrolments["p_other"], CatchmentChild: register["other_village"],
            Baseline: baselines["other_class"], ExamScore: scores["other_class"], LadderPolicy: ladders["other_v1"]}
    with pytest.raises(NotFound):
        get_in_scope(session, scope_for(session, world["office"]), model, rows[model].id)
    assert get_in_scope(session, scope_for(session, world["admin"]), model, rows[model].id) is rows[model]
