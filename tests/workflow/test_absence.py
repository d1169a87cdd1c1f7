"""The `absence` process (SPEC §3.1): opening by attendance and by hand, the ladder policy a case
keeps, returning, confirming a dropout (which opens a recovery), converting, and the duties the
queues show."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import Case, Enrolment
from workflow.absence import ladder
from workflow.access.scope import scope_for
from workflow.cases import engine, evidence
from workflow.clock import SCHOOL_TZ
from workflow.errors import Conflict, Forbidden, Invalid

from .ladder_helpers import (  # noqa: F401  (fixtures)
    absence_cases,
    day,
    fixed_clock_fixture,
    log_visit,
    marks_fixture,
    sweep,
    term_fixture,
)

U, P = "unexcused", "present"


def fire(session, user, case, name, data=None, comment=None):
    try:
        out = engine.fire(session, scope_for(session, user), user, case.id, name, version=case.version,
                          data=data, comment=comment)
    except Exception:
        session.rollback()
        raise
    session.commit()
    return out


def create(session, user, student, data, today=None):
    try:
        out = engine.create_case(session, scope_for(session, user), user, "absence", student.id, data,
                                 today=today or day(0))
    except Exception:
        session.rollback()
        raise
    session.commit()
    return out


@pytest.fixture
def pupil(session, factory, world, term):
    st = factory.student(world.klass, world.village)
    session.commit()
    return st


def absent_days(marks, session, pupil, n):
    """The pupil absent for `n` school days from Monday, swept each day; returns the case."""
    offsets = [0, 1, 2, 3, 4, 7, 8][:n]
    for offset in offsets:
        marks.mark(pupil, day(offset), U)
        sweep(session, day(offset))
    return absence_cases(session, pupil)[-1]


# --- opening -----------------------------------------------------------------------------------


def test_unexcused_mark_opens_a_reported_case_once(session, world, marks, pupil):
    result = marks.mark(pupil, day(0), U)
    [case] = absence_cases(session, pupil)
    assert result.opened_case_ids == [case.id]
    assert (case.state, case.opened_on, case.created_by_id, case.ladder_policy_id) == ("reported", day(0), None, None)
    assert case.history[0].role == "system"
    again = marks.mark(pupil, day(0), U)  # the list sent twice
    assert again.opened_case_ids == []
    assert len(absence_cases(session, pupil)) == 1


def test_resending_an_old_day_after_the_child_returned_opens_nothing(session, marks, pupil):
    marks.mark(pupil, day(0), U)
    marks.mark(pupil, day(1), P)
    sweep(session, day(1))
    assert absence_cases(session, pupil)[0].state == "returned"
    assert marks.mark(pupil, day(0), U).opened_case_ids == []


def test_homeroom_teacher_opens_a_case_by_hand_and_its_opening_day_counts(session, world, marks, pupil):
    marks.mark(pupil, day(0), P)  # at roll call, then left without permission
    case = create(session, world["teacher"], pupil, {"reason": "午饭后擅自离校"})
    assert (case.state, case.created_by_id) == ("reported", world["teacher"].id)
    sweep(session, day(0))
    assert absence_cases(session, pupil)[0].state == "visit_1"
    marks.mark(pupil, day(1), P)
    sweep(session, day(1))
    assert absence_cases(session, pupil)[0].state == "returned"


def test_opening_by_hand_needs_a_reason_the_role_and_no_open_case(session, world, marks, pupil):
    with pytest.raises(Invalid):
        create(session, world["teacher"], pupil, {})
    with pytest.raises(Forbidden):
        create(session, world["subject"], pupil, {"reason": "擅自离校"})
    create(session, world["office"], pupil, {"reason": "擅自离校"})
    with pytest.raises(Conflict) as err:
        create(session, world["teacher"], pupil, {"reason": "擅自离校"})
    assert err.value.code == "duplicate"


# --- policy -------------------------------------------------------------------------------------


SLOW_LADDER = [
    {"state": "visit_1", "day": 1, "visit_kind": "home_visit", "roles": ["homeroom_teacher"]},
    {"state": "visit_2", "day": 3, "visit_kind": "phone", "roles": ["homeroom_teacher", "village_liaison"]},
    {"state": "visit_3", "day": 5, "visit_kind": "home_visit", "roles": ["principal"]},
    {"state": "village_joint", "day": 7, "visit_kind": "village_joint", "roles": ["village_liaison"]},
]


def test_a_case_keeps_the_ladder_it_was_opened_under(session, factory, world, marks, pupil):
    marks.mark(pupil, day(0), U)
    old = absence_cases(session, pupil)[0]
    policy = ladder.save_policy(session, scope_for(session, world["center_office"]), world["center_office"],
                                world.center.id, SLOW_LADDER)
    session.commit()
    newcomer = factory.student(world.klass, world.village)
    session.commit()
    marks.record(world.klass, day(0), {pupil: U, newcomer: U})
    new = absence_cases(session, newcomer)[0]
    assert (old.ladder_policy_id, new.ladder_policy_id, policy.version) == (None, policy.id, 1)
    marks.record(world.klass, day(1), {pupil: U, newcomer: U})
    sweep(session, day(1))
    assert absence_cases(session, pupil)[0].state == "visit_2"   # default: day 2
    assert absence_cases(session, newcomer)[0].state == "visit_1"  # saved: visit_2 on day 3


@pytest.mark.parametrize("change,field", [
    (lambda r: r.reverse(), "rungs[0].state"),
    (lambda r: r[1].update(day=1), "rungs[1].day"),
    (lambda r: r[2].update(roles=["janitor"]), "rungs[2].roles"),
    (lambda r: r[2].update(roles=[]), "rungs[2].roles"),
    (lambda r: r[3].update(visit_kind="letter"), "rungs[3].visit_kind"),
    (lambda r: r.pop(), "rungs"),
])
def test_invalid_ladders_are_refused_naming_the_field(session, world, change, field):
    rungs = [dict(r) for r in ladder.DEFAULT_RUNGS]
    change(rungs)
    with pytest.raises(Invalid) as err:
        ladder.save_policy(session, scope_for(session, world["center_head"]), world["center_head"],
                           world.center.id, rungs)
    assert err.value.details["field"] == field


# --- transitions --------------------------------------------------------------------------------


def test_no_user_may_escalate(session, world, marks, pupil):
    marks.mark(pupil, day(0), U)
    case = absence_cases(session, pupil)[0]
    for who in ("teacher", "office", "principal"):
        with pytest.raises(Forbidden) as err:
            fire(session, world[who], case, "escalate")
        assert err.value.code == "role_forbidden"


def test_mark_returned_by_hand_needs_a_present_mark_after_the_last_absence(session, world, marks, pupil):
    case = absent_days(marks, session, pupil, 2)
    with pytest.raises(Conflict) as err:
        fire(session, world["teacher"], case, "mark_returned")
    assert err.value.code == "guard_failed" and "出勤" in err.value.message
    marks.mark(pupil, day(2), P)
    case = fire(session, world["office"], absence_cases(session, pupil)[0], "mark_returned")
    assert (case.state, case.is_open) == ("returned", False)


def _at_village_joint(session, marks, pupil):
    case = absent_days(marks, session, pupil, 4)
    assert case.state == "village_joint"
    return case


def test_confirm_dropout_needs_a_joint_visit_with_the_village_liaison(session, world, marks, pupil):
    case = _at_village_joint(session, marks, pupil)
    with pytest.raises(Conflict) as err:
        fire(session, world["principal"], case, "confirm_dropout", {"reason_category": "厌学"})
    assert err.value.code == "guard_failed" and "村委联络员" in err.value.message
    # a joint visit the school logged without the liaison does not count
    log_visit(session, world, case, day(3), kind="village_joint", recorder="teacher", participants=("team",))
    with pytest.raises(Conflict):
        fire(session, world["principal"], absence_cases(session, pupil)[0], "confirm_dropout",
             {"reason_category": "厌学"})
    log_visit(session, world, case, day(4), kind="village_joint", recorder="teacher", participants=("liaison",))
    case = fire(session, world["principal"], absence_cases(session, pupil)[0], "confirm_dropout",
                {"reason_category": "外出务工", "date": day(4).isoformat()})
    assert case.state == "dropout_confirmed"


def test_confirmed_dropout_sets_the_student_dropped_out_and_opens_a_recovery(session, world, marks, pupil):
    case = _at_village_joint(session, marks, pupil)
    log_visit(session, world, case, day(3), kind="village_joint", recorder="liaison", participants=("liaison",))
    fire(session, world["principal"], case, "confirm_dropout", {"reason_category": "厌学", "date": day(3).isoformat()})
    session.expire_all()
    assert pupil.status == "dropped_out"
    period = session.scalars(select(Enrolment).where(Enrolment.student_id == pupil.id)).one()
    assert (period.end_date, period.end_reason) == (day(3), "dropout")
    recovery = session.scalars(select(Case).where(Case.student_id == pupil.id, Case.process == "recovery")).one()
    assert (recovery.state, recovery.data["reason_category"], recovery.parent_case_id) == ("open", "厌学", case.id)


def test_confirm_dropout_only_from_village_joint_by_the_principal_with_a_reason(session, world, marks, pupil):
    case = absent_days(marks, session, pupil, 3)
    with pytest.raises(Conflict) as err:
        fire(session, world["principal"], case, "confirm_dropout", {"reason_category": "厌学"})
    assert err.value.code == "invalid_state"
    case = absent_days(marks, session, pupil, 4)
    with pytest.raises(Invalid):
        fire(session, world["principal"], case, "confirm_dropout", {})
    with pytest.raises(Invalid):
        fire(session, world["principal"], case, "confirm_dropout", {"reason_category": "不想读"})
    with pytest.raises(Forbidden):
        fire(session, world["office"], case, "confirm_dropout", {"reason_category": "厌学"})


def _suspension(session, world, student):
    user = world["office"]
    out = engine.create_case(session, scope_for(session, user), user, "suspension", student.id,
                             {"start": "2026-11-10", "end": "2027-03-01", "reason": "住院"})
    session.commit()
    return out


def test_convert_links_a_suspension_of_the_same_student(session, factory, world, marks, pupil):
    case = absent_days(marks, session, pupil, 2)
    other = factory.student(world.klass, world.village)
    session.commit()
    with pytest.raises(Invalid) as err:
        fire(session, world["office"], case, "convert", {"case_id": _suspension(session, world, other).id})
    assert err.value.details["field"] == "data.case_id"
    suspension = _suspension(session, world, pupil)
    with pytest.raises(Forbidden):
        fire(session, world["teacher"], case, "convert", {"case_id": suspension.id})
    case = fire(session, world["office"], case, "convert", {"case_id": suspension.id, "date": day(1).isoformat()})
    assert (case.state, case.data["converted_case_id"]) == ("converted", suspension.id)
    # while the suspension is open the child's absence is its business, not a new absence case's
    assert marks.mark(pupil, day(3), U).opened_case_ids == []
    fire(session, world["office"], suspension, "withdraw")
    assert len(marks.mark(pupil, day(4), U).opened_case_ids) == 1


# --- duties -------------------------------------------------------------------------------------


def test_duties_follow_contact_and_the_current_rungs_visit(session, world, marks, pupil):
    marks.mark(pupil, day(0), U)
    case = absence_cases(session, pupil)[0]
    assert ladder.duties(case) == {"homeroom_teacher"}
    assert any("尚未联系家长" in n for n in ladder.duty_notes(session, case))
    teacher = world["teacher"]
    evidence.add_contact(session, scope_for(session, teacher), teacher, case,
                         contacted_at=dt.datetime.combine(day(0), dt.time(9, 0), SCHOOL_TZ), channel="phone")
    session.commit()
    assert ladder.duties(case) == set()
    assert any("晚于30分钟" in n for n in ladder.duty_notes(session, case))  # 55 minutes after the report
    sweep(session, day(0))
    case = absence_cases(session, pupil)[0]
    assert ladder.duties(case) == {"homeroom_teacher", "team_member"}
    log_visit(session, world, case, day(0))
    assert ladder.duties(case) == set()
    for offset in (1, 2, 3):
        marks.mark(pupil, day(offset), U)
    sweep(session, day(3))
    case = absence_cases(session, pupil)[0]
    assert (case.state, ladder.duties(case)) == ("village_joint", {"village_liaison"})
