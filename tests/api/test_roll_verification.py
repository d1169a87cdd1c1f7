"""roll_verification (SPEC §3.8): a case whose subject is a class, on the one engine — opened by
the academic office, submitted by the homeroom teacher, approved once every difference is
resolved; one per class; seen by who sees the class; in the queue and on the case page."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Case, CaseHistory


def open_for(api, user, klass):
    return api.as_user(user).post("/cases", json={"process": "roll_verification",
                                                  "data": {"class_id": klass.id}})


def fire(api, user, case_id, name, **body):
    version = api.session.get(Case, case_id).version
    return api.as_user(user).post(f"/cases/{case_id}/transitions/{name}", json={"version": version, **body})


def test_a_class_case_runs_through_the_engine(api, world, factory):
    child = factory.student(world.klass, world.village)
    r = open_for(api, world["office"], world.klass)
    assert r.status_code == 201, r.json
    case_id = r.json["id"]
    assert (r.json["student_id"], r.json["class_id"], r.json["school_id"]) == (None, world.klass.id, world.branch.id)

    # the homeroom teacher sees it in the queue, named by the class
    queue = api.as_user(world["teacher"]).get("/queue").json["items"]
    item = next(i for i in queue if i["id"] == case_id)
    assert item["student"] is None and item["class"]["name"] == world.klass.name and item["actions"] == ["submit"]

    diffs = [{"student_id": child.id, "kind": "absent_from_class", "note": "随父母外出"},
             {"name": "张三", "kind": "not_on_roll", "note": "借读未登记"}]
    assert fire(api, world["teacher"], case_id, "submit", data={"differences": diffs}).status_code == 200
    # not resolved yet: the guard names who is missing
    r = fire(api, world["office"], case_id, "office_approve", data={"resolutions": [
        {"difference": 0, "corrected": True, "note": "已更正"}]})
    assert r.status_code == 409 and r.json["error"]["code"] == "guard_failed"
    assert "张三" in r.json["error"]["message"]
    r = fire(api, world["office"], case_id, "office_approve", data={"resolutions": [
        {"difference": 0, "corrected": True, "note": "已更正"},
        {"difference": 1, "corrected": True, "note": "已补录学籍"}]})
    assert r.status_code == 200, r.json
    assert r.json["state"] == "verified"

    detail = api.as_user(world["office"]).get(f"/cases/{case_id}").json
    assert [h["transition"] for h in detail["history"]] == ["create", "submit", "office_approve"]
    assert detail["data"]["differences"] == diffs and detail["is_open"] is False


def test_resolution_by_a_case_of_the_child(api, world, factory):
    child = factory.student(world.klass, world.village)
    case_id = open_for(api, world["office"], world.klass).json["id"]
    fire(api, world["teacher"], case_id, "submit",
         data={"differences": [{"student_id": child.id, "kind": "absent_from_class", "note": "两周未到"}]})
    absence = api.as_user(world["office"]).post("/cases", json={"process": "absence", "student_id": child.id,
                                                                "data": {"reason": "未到校"}})
    assert absence.status_code == 201, absence.json
    r = fire(api, world["office"], case_id, "office_approve",
             data={"resolutions": [{"difference": 0, "case_id": absence.json["id"]}]})
    assert r.status_code == 200, r.json


def test_one_per_class(api, world, session):
    assert open_for(api, world["office"], world.klass).status_code == 201
    r = open_for(api, world["office"], world.klass)
    assert r.status_code == 409 and r.json["error"]["code"] == "duplicate"
    assert session.scalar(select(func.count()).select_from(Case)) == 1


@pytest.mark.parametrize("role,klass,status", [
    ("teacher", "klass", 403),            # the office opens it
    ("other_office", "klass", 404),       # another school's class
    ("office", "other_class", 404),
])
def test_who_may_open(api, world, session, role, klass, status):
    r = open_for(api, world[role], getattr(world, klass))
    assert r.status_code == status, r.json
    assert session.scalar(select(func.count()).select_from(CaseHistory)) == 0


def test_bad_differences_are_422(api, world):
    case_id = open_for(api, world["office"], world.klass).json["id"]
    for bad in ([{"kind": "lost", "note": "x", "name": "a"}], [{"kind": "not_on_roll", "note": "x"}],
                [{"kind": "details_wrong", "note": ""}], "none"):
        r = fire(api, world["teacher"], case_id, "submit", data={"differences": bad})
        assert r.status_code == 422, (bad, r.json)
    assert api.get(f"/cases/{case_id}").json["state"] == "draft"


def test_scope_of_a_class_case(api, world):
    case_id = open_for(api, world["office"], world.klass).json["id"]
    assert api.as_user(world["teacher"]).get(f"/cases/{case_id}").status_code == 200
    assert api.as_user(world["center_office"]).get(f"/cases/{case_id}").status_code == 200
    for role in ("other_teacher", "other_office", "liaison"):
        assert api.as_user(world[role]).get(f"/cases/{case_id}").status_code == 404
    # a teacher of another class of the same school does not see it
    assert api.as_user(world["teacher"]).get(f"/cases?class_id={world.klass.id}").json["total"] == 1


def test_send_back_needs_a_comment_and_the_page_renders(api, world, login, client):
    case_id = open_for(api, world["office"], world.klass).json["id"]
    assert fire(api, world["teacher"], case_id, "submit", data={"differences": []}).status_code == 200
    assert fire(api, world["office"], case_id, "send_back").status_code == 422
    assert fire(api, world["office"], case_id, "send_back", comment="再核一遍").status_code == 200
    login(world["teacher"])
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert world.klass.name in page.get_data(as_text=True)


def test_no_home_visit_on_a_class_case(api, world, session, login, client):
    """A visit needs a child: on a class's verification it would count for nobody."""
    from models import Visit

    case_id = open_for(api, world["office"], world.klass).json["id"]
    r = api.as_user(world["teacher"]).post(f"/cases/{case_id}/visits", json={
        "date": "2026-10-14", "kind": "home_visit", "participant_ids": [world["teacher"].id],
        "guardian_present": True, "notes": "上门"})
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "case"
    assert "不是某个学生" in r.json["error"]["message"]
    assert session.scalar(select(func.count()).select_from(Visit)) == 0
    # the page offers no visit form (nor the empty visits card), the documents still
    login(world["teacher"])
    html = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="visits"' not in html and "登记家访" not in html and 'id="documents"' in html
