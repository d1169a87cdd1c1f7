"""Attendance API: POST a class's day, GET it back."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from models import AttendanceDay, AttendanceRecord, CalendarDay
from workflow import clock
from workflow.absence import attendance

NOW = dt.datetime(2026, 10, 14, 10, 0, tzinfo=clock.SCHOOL_TZ)  # Wednesday
DAY = "2026-10-13"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))


@pytest.fixture
def pupils(world, factory, session):
    term = factory.term(world.center, start=dt.date(2026, 9, 1), end=dt.date(2027, 1, 22))
    session.add(CalendarDay(term_id=term.id, date=dt.date(2026, 10, 1), kind="holiday"))
    return [factory.student(world.klass, world.village) for _ in range(3)]


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_no_token_is_401(api, world):
    assert api.anonymous().post("/attendance", json={}).status_code == 401
    assert api.anonymous().get("/attendance?class_id=1&date=2026-10-13").status_code == 401


def test_teacher_records_a_day_and_reads_it_back(api, world, pupils):
    a, b, c = pupils
    client = api.as_user(world["teacher"])
    resp = client.post("/attendance", json={"class_id": world.klass.id, "date": DAY,
                                            "reported_at": "2026-10-13T08:05:00+08:00",
                                            "records": [{"student_id": a.id, "status": "unexcused"}]})
    assert resp.status_code == 200, resp.json
    assert len(resp.json["opened_case_ids"]) == 1
    assert resp.json["unexcused_student_ids"] == [a.id]
    case = client.get(f"/cases/{resp.json['opened_case_ids'][0]}").json
    assert (case["process"], case["student_id"], case["state"]) == ("absence", a.id, "reported")
    got = client.get(f"/attendance?class_id={world.klass.id}&date={DAY}")
    assert got.status_code == 200
    assert got.json["taken"] is True and got.json["total"] == 3
    statuses = {i["student_id"]: i["status"] for i in got.json["items"]}
    assert statuses == {a.id: "unexcused", b.id: "present", c.id: "present"}
    assert {i["reported_at"] for i in got.json["items"]} == {"2026-10-13T08:05:00+08:00"}


def test_day_not_taken_reads_as_not_taken(api, world, pupils):
    got = api.as_user(world["office"]).get(f"/attendance?class_id={world.klass.id}&date={DAY}")
    assert got.status_code == 200
    assert got.json == {"class_id": world.klass.id, "date": DAY, "taken": False, "taken_at": None,
                        "taken_by_id": None, "items": [], "total": 0}


def test_recording_a_holiday_is_422_and_writes_nothing(api, world, pupils, session):
    resp = api.as_user(world["teacher"]).post("/attendance", json={
        "class_id": world.klass.id, "date": "2026-10-01",
        "records": [{"student_id": pupils[0].id, "status": "unexcused"}]})
    assert resp.status_code == 422
    assert "不是上课日" in resp.json["error"]["message"] and resp.json["error"]["details"]["field"] == "date"
    assert count(session, AttendanceRecord) == 0 and count(session, AttendanceDay) == 0


def test_bad_status_is_422_naming_the_record(api, world, pupils, session):
    resp = api.as_user(world["teacher"]).post("/attendance", json={
        "class_id": world.klass.id, "date": DAY, "records": [{"student_id": pupils[0].id, "status": "迟到"}]})
    assert resp.status_code == 422
    assert "records[0].status" in resp.json["error"]["message"]
    assert count(session, AttendanceRecord) == 0


def test_malformed_date_is_422_naming_date(api, world, pupils):
    resp = api.as_user(world["teacher"]).post("/attendance", json={
        "class_id": world.klass.id, "date": "2026/10/13", "records": []})
    assert resp.status_code == 422 and "date" in resp.json["error"]["message"]


def test_student_of_another_class_is_422(api, world, pupils, factory, session):
    stranger = factory.student(world.klass2, world.village)
    resp = api.as_user(world["teacher"]).post("/attendance", json={
        "class_id": world.klass.id, "date": DAY, "records": [{"student_id": stranger.id, "status": "unexcused"}]})
    assert resp.status_code == 422
    assert resp.json["error"]["details"]["field"] == "records[0].student_id"
    assert count(session, AttendanceRecord) == 0


@pytest.mark.parametrize("who", ["other_teacher", "liaison", "other_principal"])
def test_users_who_do_not_see_the_class_get_404(api, world, pupils, who):
    client = api.as_user(world[who])
    resp = client.post("/attendance", json={"class_id": world.klass.id, "date": DAY, "records": []})
    assert resp.status_code == 404
    assert client.get(f"/attendance?class_id={world.klass.id}&date={DAY}").status_code == 404


def test_subject_teacher_may_record(api, world, pupils):
    resp = api.as_user(world["subject"]).post("/attendance", json={"class_id": world.klass.id, "date": DAY,
                                                                    "records": []})
    assert resp.status_code == 200


def test_team_member_sees_but_may_not_record(api, world, pupils, session):
    client = api.as_user(world["team"])
    resp = client.post("/attendance", json={"class_id": world.klass.id, "date": DAY, "records": []})
    assert resp.status_code == 403
    assert client.get(f"/attendance?class_id={world.klass.id}&date={DAY}").status_code == 200
    assert count(session, AttendanceDay) == 0


def test_get_without_date_is_422(api, world, pupils):
    resp = api.as_user(world["teacher"]).get(f"/attendance?class_id={world.klass.id}")
    assert resp.status_code == 422 and resp.json["error"]["details"]["field"] == "date"


def test_registered_hook_opens_cases_and_they_are_returned(api, world, pupils, monkeypatch):
    monkeypatch.setattr(attendance, "on_unexcused", [lambda s, sc, u, sid, d, at: 500 + sid])
    resp = api.as_user(world["teacher"]).post("/attendance", json={
        "class_id": world.klass.id, "date": DAY, "records": [{"student_id": pupils[1].id, "status": "unexcused"}]})
    assert resp.json["opened_case_ids"] == [500 + pupils[1].id]
