"""The engine's set-based half (`workflow.cases.bulk`, used by the daily sweep) writes what
`fire_system` and `create_case_system` write, leaves a case another writer changed alone, and
refuses what it cannot write."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from models import Case, CaseHistory, LadderPolicy
from workflow.absence import ladder
from workflow.cases.bulk import SystemFire, SystemOpen, create_cases_system, fire_system_many
from workflow.cases.engine import create_case_system, fire_system
from workflow.errors import Conflict, Invalid

DAY = dt.date(2026, 11, 2)
STEPS = [("escalate", DAY, "第 1 天"), ("escalate", DAY + dt.timedelta(days=1), "第 2 天")]


def _open(session, factory, world) -> Case:
    student = factory.student(world.klass, world.village)
    session.flush()
    return create_case_system(session, "absence", student.id, {"reason": "旷课"}, effective_date=DAY)


def _history(session, case_id):
    return [(h.transition, h.from_state, h.to_state, h.user_id, h.role, h.effective_date, h.comment, h.data)
            for h in session.scalars(select(CaseHistory).where(CaseHistory.case_id == case_id)
                                     .order_by(CaseHistory.id))]


def test_many_cases_at_once_get_the_same_rows_as_one_by_one(session, factory, world):
    one, many = _open(session, factory, world), _open(session, factory, world)
    for name, day, comment in STEPS:
        fire_system(session, one, name, effective_date=day, comment=comment, version=one.version)
    fire = SystemFire(case_id=many.id, process="absence", state=many.state, version=many.version, steps=STEPS)
    assert fire_system_many(session, [fire]) == {many.id}
    session.commit()
    assert (many.state, many.version, many.is_open) == (one.state, one.version, one.is_open) == ("visit_2", 3, True)
    assert _history(session, many.id) == _history(session, one.id)


def test_columns_written_with_the_steps_count_as_one_more_write(session, factory, world):
    case = _open(session, factory, world)
    fire = SystemFire(case_id=case.id, process="absence", state="reported", version=1, steps=STEPS[:1],
                      columns={"due_on": DAY, "is_overdue": True})
    fire_system_many(session, [fire])
    session.commit()
    assert (case.state, case.version, case.due_on, case.is_overdue) == ("visit_1", 3, DAY, True)


def test_a_case_changed_by_someone_else_is_left_alone(session, factory, world):
    stale, fresh = _open(session, factory, world), _open(session, factory, world)
    fires = [SystemFire(case_id=stale.id, process="absence", state="reported", version=stale.version - 1,
                        steps=STEPS[:1]),
             SystemFire(case_id=fresh.id, process="absence", state="reported", version=fresh.version,
                        steps=STEPS[:1])]
    assert fire_system_many(session, fires) == {fresh.id}
    session.commit()
    assert (stale.state, stale.version) == ("reported", 1)
    assert [h[0] for h in _history(session, stale.id)] == ["create"]
    assert fresh.state == "visit_1"


def test_a_step_not_allowed_from_the_state_is_refused_before_anything_is_written(session, factory, world):
    ok, bad = _open(session, factory, world), _open(session, factory, world)
    fires = [SystemFire(case_id=ok.id, process="absence", state="reported", version=1, steps=STEPS[:1]),
             SystemFire(case_id=bad.id, process="absence", state="returned", version=1, steps=STEPS[:1])]
    with pytest.raises(Conflict) as exc:
        fire_system_many(session, fires)
    assert exc.value.code == "invalid_state"
    session.commit()
    assert ok.state == "reported"


def test_a_transition_with_effects_must_go_through_fire_system(session, factory, world):
    case = _open(session, factory, world)
    fire = SystemFire(case_id=case.id, process="absence", state="village_joint", version=1,
                      steps=[("confirm_dropout", DAY, None)])
    with pytest.raises(ValueError):
        fire_system_many(session, [fire])


# --- set-based openings ------------------------------------------------------------------------

CASE_COLUMNS = ("process", "state", "version", "school_id", "is_open", "data", "opened_on", "due_on", "is_overdue",
                "ladder_policy_id", "parent_case_id", "created_by_id")


def _case(session, case_id):
    case = session.get(Case, case_id)
    session.refresh(case)
    return tuple(getattr(case, c) for c in CASE_COLUMNS)


def test_many_openings_write_the_same_case_and_history_rows_as_one_by_one(session, factory, world):
    # the center has a saved ladder (two versions): both paths pin the latest one
    for version in (1, 2):
        session.add(LadderPolicy(center_school_id=world.center.id, version=version, rungs=ladder.DEFAULT_RUNGS))
    students = [factory.student(world.klass, world.village) for _ in range(4)]
    session.flush()
    one = [create_case_system(session, "absence", s.id, {"reason": "旷课"}, effective_date=DAY).id
           for s in students[:2]]
    made = create_cases_system(session, "absence", [SystemOpen(s.id, {"reason": "旷课"}, DAY) for s in students[2:]])
    session.commit()
    latest = session.scalars(select(LadderPolicy.id).where(LadderPolicy.center_school_id == world.center.id)
                             .order_by(LadderPolicy.version.desc())).first()
    assert [m.ladder_policy_id for m in made] == [latest, latest]
    for by_one, by_many in zip(one, [m.id for m in made], strict=True):
        assert _case(session, by_many) == _case(session, by_one)
        assert _history(session, by_many) == _history(session, by_one)
    assert [session.get(Case, m.id).student_id for m in made] == [s.id for s in students[2:]]
    assert _history(session, made[0].id) == [("create", None, "reported", None, "system", DAY, None,
                                              {"reason": "旷课"})]


def test_an_opening_for_a_child_with_an_open_case_is_refused_before_anything_is_written(session, factory, world):
    busy = _open(session, factory, world)
    free = factory.student(world.klass, world.village)
    session.flush()
    before = session.scalar(select(func.count()).select_from(Case))
    with pytest.raises(Conflict) as exc:
        create_cases_system(session, "absence", [SystemOpen(free.id, {"reason": "旷课"}, DAY),
                                                 SystemOpen(busy.student_id, {"reason": "旷课"}, DAY)])
    assert exc.value.code == "duplicate"
    assert session.scalar(select(func.count()).select_from(Case)) == before
    made = create_cases_system(session, "absence", [SystemOpen(free.id, {"reason": "旷课"}, DAY),
                                                    SystemOpen(busy.student_id, {"reason": "旷课"}, DAY)],
                               existing_ok=True)
    assert made[1] is None and made[0].student_id == free.id


def test_an_opening_without_its_required_data_is_refused(session, factory, world):
    student = factory.student(world.klass, world.village)
    session.flush()
    with pytest.raises(Invalid):
        create_cases_system(session, "absence", [SystemOpen(student.id, {}, DAY)])
