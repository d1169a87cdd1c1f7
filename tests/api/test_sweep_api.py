"""API: POST /sweep, GET/PUT /ladder/<center>, attendance opening absence cases, and what a
village liaison may reach (own village 201, another village 404)."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import func, select

from models import Case, LadderPolicy, Visit
from tests.workflow.ladder_helpers import (  # noqa: F401  (fixtures)
    NOW,
    absence_cases,
    day,
    fixed_clock_fixture,
    marks_fixture,
    term_fixture,
)
from workflow.absence.ladder import DEFAULT_RUNGS

U = "unexcused"


@pytest.fixture
def absent(session, factory, world, marks):
    """A pupil of each center school, absent without leave on Monday."""
    factory.term(world.other_center)
    mine = factory.student(world.klass, world.village)
    theirs = factory.student(world.other_class, world.other_village)
    session.commit()
    marks.mark(mine, day(0), U)
    marks.mark(theirs, day(0), U)
    return mine, theirs


# --- POST /sweep ----------------------------------------------------------------------------------


def test_admin_sweeps_every_school(api, world, absent, session):
    resp = api.as_user(world["admin"]).post("/sweep", json={"date": day(0).isoformat()})
    assert resp.status_code == 200, resp.json
    assert {k: resp.json[k] for k in ("opened", "escalated", "closed", "overdue")} == {
        "opened": 0, "escalated": 2, "closed": 0, "overdue": 0}
    assert [absence_cases(session, p)[0].state for p in absent] == ["visit_1", "visit_1"]
    again = api.post("/sweep", json={"date": day(0).isoformat()})
    assert again.json["escalated"] == 0


def test_center_roles_sweep_only_their_own_schools(api, world, absent, session):
    mine, theirs = absent
    client = api.as_user(world["center_office"])
    assert client.post("/sweep", json={"date": day(0).isoformat(),
                                       "school_id": world.other_branch.id}).status_code == 404
    resp = client.post("/sweep", json={"date": day(0).isoformat()})
    assert resp.status_code == 200 and resp.json["escalated"] == 1
    assert (absence_cases(session, mine)[0].state, absence_cases(session, theirs)[0].state) == ("visit_1", "reported")
    one = api.as_user(world["other_center_head"]).post(
        "/sweep", json={"date": day(0).isoformat(), "school_id": world.other_branch.id})
    assert one.status_code == 200 and one.json["escalated"] == 1 and one.json["schools"] == 1


@pytest.mark.parametrize("who", ["principal", "office", "teacher", "supervisor", "liaison"])
def test_school_staff_may_not_run_the_sweep(api, world, absent, who):
    resp = api.as_user(world[who]).post("/sweep", json={"date": day(0).isoformat()})
    assert resp.status_code == 403


@pytest.mark.parametrize("body,field", [
    ({}, "date"),
    ({"date": "2026-02-30"}, "date"),
    ({"date": "2026-11-02", "extra": 1}, "extra"),
    ({"date": "2027-06-01"}, "date"),  # in the future
])
def test_bad_sweep_requests_are_422_naming_the_field(api, world, term, body, field):
    resp = api.as_user(world["admin"]).post("/sweep", json=body)
    assert resp.status_code == 422
    assert resp.json["error"]["details"]["field"] == field


def test_sweep_needs_a_token(api, world):
    assert api.anonymous().post("/sweep", json={"date": "2026-11-02"}).status_code == 401


# --- ladder policy --------------------------------------------------------------------------------


def test_everyone_under_a_center_reads_its_ladder_and_others_get_404(api, world):
    resp = api.as_user(world["teacher"]).get(f"/ladder/{world.center.id}")
    assert resp.status_code == 200
    assert (resp.json["is_default"], resp.json["version"], resp.json["rungs"]) == (True, 0, DEFAULT_RUNGS)
    assert api.as_user(world["other_center_head"]).get(f"/ladder/{world.center.id}").status_code == 404
    assert api.as_user(world["admin"]).get(f"/ladder/{world.branch.id}").status_code == 404  # not a center


def test_center_office_saves_a_new_version_and_editors_are_checked(api, world, session):
    rungs = copy.deepcopy(DEFAULT_RUNGS)
    rungs[0]["roles"] = ["homeroom_teacher", "team_member", "principal"]  # the vice principal comes on day 1
    client = api.as_user(world["center_office"])
    resp = client.put(f"/ladder/{world.center.id}", json={"rungs": rungs, "version": 0})
    assert resp.status_code == 200, resp.json
    assert (resp.json["version"], resp.json["is_default"]) == (1, False)
    assert client.get(f"/ladder/{world.center.id}").json["rungs"][0]["roles"][-1] == "principal"
    stale = client.put(f"/ladder/{world.center.id}", json={"rungs": rungs, "version": 0})
    assert stale.status_code == 409 and stale.json["error"]["code"] == "stale_version"
    assert api.as_user(world["principal"]).put(f"/ladder/{world.center.id}", json={"rungs": rungs}).status_code == 403
    assert api.as_user(world["other_center_head"]).put(
        f"/ladder/{world.center.id}", json={"rungs": rungs}).status_code == 404
    assert api.as_user(world["admin"]).put(f"/ladder/{world.center.id}", json={"rungs": rungs}).json["version"] == 2
    assert session.scalar(select(func.count(LadderPolicy.id))) == 2


def test_an_invalid_ladder_is_422_and_writes_nothing(api, world, session):
    rungs = copy.deepcopy(DEFAULT_RUNGS)
    rungs[2]["day"] = 2
    resp = api.as_user(world["center_head"]).put(f"/ladder/{world.center.id}", json={"rungs": rungs})
    assert resp.status_code == 422
    assert resp.json["error"]["details"]["field"] == "rungs[2].day"
    assert session.scalar(select(func.count(LadderPolicy.id))) == 0


# --- attendance opens cases -------------------------------------------------------------------------


def test_attendance_post_returns_the_opened_absence_case_ids(api, world, factory, session, term):
    a, b = factory.student(world.klass, world.village), factory.student(world.klass, world.village)
    client = api.as_user(world["teacher"])
    body = {"class_id": world.klass.id, "date": day(0).isoformat(),
            "records": [{"student_id": a.id, "status": U}, {"student_id": b.id, "status": "sick_leave"}]}
    resp = client.post("/attendance", json=body)
    assert resp.status_code == 200, resp.json
    [case] = absence_cases(session, a)
    assert resp.json["opened_case_ids"] == [case.id]
    assert (case.process, case.state) == ("absence", "reported")
    assert absence_cases(session, b) == []
    assert client.post("/attendance", json=body).json["opened_case_ids"] == []


# --- the village liaison through the API -----------------------------------------------------------


def test_liaison_logs_a_joint_visit_on_own_village_case_only(api, world, absent, session):
    mine, theirs = absent
    client = api.as_user(world["liaison"])
    visit = {"date": day(0).isoformat(), "kind": "village_joint", "participant_ids": [world["teacher"].id],
             "guardian_present": True, "notes": "村干部一同前往"}
    ok = client.post(f"/cases/{absence_cases(session, mine)[0].id}/visits", json=visit)
    assert ok.status_code == 201, ok.json
    other = client.post(f"/cases/{absence_cases(session, theirs)[0].id}/visits", json=visit)
    assert other.status_code == 404
    assert session.scalar(select(func.count(Visit.id))) == 1
    assert session.get(Case, absence_cases(session, mine)[0].id).visits[0].created_by_id == world["liaison"].id
