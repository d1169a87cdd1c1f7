"""The engine's set-based system transitions (used by the daily sweep) write what `fire_system`
writes, leave a case another writer changed alone, and refuse what they cannot write."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import Case, CaseHistory
from workflow.engine import SystemFire, create_case_system, fire_system, fire_system_many
from workflow.errors import Conflict

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
