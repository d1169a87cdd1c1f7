"""SPEC §3 "Classes and visits that make sense": a transition names only a class of the school
year of its effective date; a visit needs participants (staff of the student's school or the
village's liaison) and an outcome."""
from __future__ import annotations

import pytest

from models import Case, Visit
from workflow.access.scope import scope_for
from workflow.cases import evidence
from workflow.errors import Conflict, Invalid

from .conftest import TODAY

PAST_YEAR = "所选班级“旧三年级”属于 2025-2026 学年，不是 2026-2027 学年的班级，请改选本学年的班级"


@pytest.fixture
def old_class(flow):
    k = flow.f.klass(flow.w.branch, name="旧三年级", school_year="2025-2026")
    flow.s.commit()
    return k


def unmet(err) -> list[str]:
    assert err.value.code == "guard_failed"
    return err.value.details["unmet"]


def test_resume_into_last_years_class_is_refused_and_this_years_accepted(flow, old_class):
    case = flow.bring("suspension", "suspended")
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "resume", data={"class_id": old_class.id})
    assert PAST_YEAR in unmet(err)
    assert case.student.status == "suspended"
    assert flow.fire("office", case, "resume", data={"class_id": flow.w.klass2.id}).state == "resumed"


def test_change_class_and_accept_refuse_a_past_years_class(flow, old_class):
    case = flow.create("office", "transfer_in", None)
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "change_class", data={"class_id": old_class.id})
    assert unmet(err) == [PAST_YEAR]
    # a transfer-in opened (before the guard) into last year's class cannot be accepted into it
    case.data = {**case.data, "class_id": old_class.id}
    flow.s.commit()
    with pytest.raises(Conflict) as err:
        flow.fire("principal", case, "accept")
    assert PAST_YEAR in unmet(err)


def test_transfer_in_cannot_be_opened_into_a_past_years_class(flow, old_class):
    data = {"origin_school": "外县小学", "class_id": old_class.id,
            "student": {"name": "新同学", "gender": "F", "birth_date": "2017-03-01"}}
    with pytest.raises(Invalid) as err:
        flow.create("office", "transfer_in", None, data)
    assert err.value.message == PAST_YEAR and err.value.details["field"] == "data.class_id"


def test_the_year_is_the_effective_dates(flow, old_class):
    """A resume back-dated into last school year may name last year's class."""
    case = flow.bring("suspension", "suspended")
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "resume", data={"class_id": flow.w.klass2.id, "date": "2026-07-01"})
    assert "不是 2025-2026 学年的班级" in " ".join(unmet(err))


# --- visits -----------------------------------------------------------------------------------


def _visit(session, user, case, **kw):
    args = {"date": TODAY, "kind": "home_visit", "participant_ids": [user.id], "guardian_present": True,
            "notes": "家长答应送回"}
    args.update(kw)
    return evidence.add_visit(session, scope_for(session, user), user, case, **args)


@pytest.fixture
def absence(flow):
    student = flow.f.student(flow.w.klass, flow.w.village)
    case = Case(process="absence", state="visit_1", student_id=student.id, school_id=student.school_id,
                opened_on=TODAY, is_open=True, data={})
    flow.s.add(case)
    flow.s.commit()
    return case


@pytest.mark.parametrize("who", ["teacher", "liaison"])
def test_visit_without_participants_is_refused_for_teachers_and_liaisons(flow, absence, who):
    kind = "village_joint" if who == "liaison" else "home_visit"
    with pytest.raises(Invalid) as err:
        _visit(flow.s, flow.w[who], absence, kind=kind, participant_ids=[])
    assert err.value.message == "家访记录至少需要一名参与人（本校教职工或本村联络员）"
    assert flow.s.query(Visit).count() == 0


@pytest.mark.parametrize("notes", [None, "", "   "])
def test_visit_without_outcome_is_refused(flow, absence, notes):
    with pytest.raises(Invalid) as err:
        _visit(flow.s, flow.w["teacher"], absence, notes=notes)
    assert err.value.message == "请填写家访结果（家长的答复、学生情况等）"
    assert err.value.details["field"] == "notes"


def test_outcome_alone_is_enough(flow, absence):
    v = _visit(flow.s, flow.w["teacher"], absence, notes=None, outcome="家长同意明天送来")
    assert v.outcome == "家长同意明天送来"


def test_participants_must_be_staff_of_the_students_school_or_its_village(flow, absence):
    """The center office sees the staff of every school of its center, but a teacher of a sister
    school (or the liaison of another village) did not visit for this school."""
    sister = flow.f.user("sister_teacher", "team_member", school=flow.w.branch2)
    other_liaison = flow.f.user("west_liaison", "village_liaison", village=flow.w.village2)
    flow.s.commit()
    for outsider in (sister, other_liaison):
        with pytest.raises(Invalid) as err:
            _visit(flow.s, flow.w["center_office"], absence, participant_ids=[flow.w["teacher"].id, outsider.id])
        assert err.value.message == f"参加人员中的用户 {outsider.id} 不是该学生学校的教职工或本村联络员"
    assert flow.s.query(Visit).count() == 0
    v = _visit(flow.s, flow.w["center_office"], absence,
               participant_ids=[flow.w["center_office"].id, flow.w["teacher"].id, flow.w["liaison"].id])
    assert len(v.participants) == 3
