"""Cases API: open, list, read and move cases through their processes (SPEC §3, API.md "Cases")."""
from __future__ import annotations

import datetime as dt
import io
import os

import pytest
from sqlalchemy import func, select

from models import Case, CaseHistory, Document, Student
from workflow import clock
from workflow.access.scope import scope_for
from workflow.cases import engine
from workflow.org import enrolment

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TODAY = clock.today()


def iso(day: dt.date) -> str:
    return day.isoformat()


SUSPENSION = {"start": iso(TODAY), "end": iso(TODAY + dt.timedelta(days=120)), "reason": "住院治疗"}


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def student(world, factory):
    return factory.student(world.klass, world.village)


@pytest.fixture
def office2(world, factory, session):
    user = factory.user("office2", "academic_office", school=world.branch, name="第二教务员")
    session.commit()
    return user


def create(api, user, process, student_id, data):
    r = api.as_user(user).post("/cases", json={"process": process, "student_id": student_id, "data": data})
    assert r.status_code == 201, r.json
    return r.json


def fire(api, user, case_id, name, version=None, **body):
    if version is None:
        version = api.session.get(Case, case_id).version
    return api.as_user(user).post(f"/cases/{case_id}/transitions/{name}", json={"version": version, **body})


def detail(api, user, case_id):
    r = api.as_user(user).get(f"/cases/{case_id}")
    assert r.status_code == 200, r.json
    return r.json


def add_grounds(api, user, case_id):
    """What suspension's submit needs: the guardian in person at school, and the grounds."""
    r = api.as_user(user).post(f"/cases/{case_id}/visits", json={
        "date": iso(TODAY), "kind": "in_person_at_school", "participant_ids": [user.id],
        "guardian_present": True, "notes": "家长持医院证明到校"})
    assert r.status_code == 201, r.json
    r = api.post(f"/cases/{case_id}/documents", data={
        "kind": "suspension_grounds", "file": (io.BytesIO(PDF), "诊断证明.pdf")}, content_type="multipart/form-data")
    assert r.status_code == 201, r.json


def snapshot(session, case_id):
    """What a failed call must leave untouched."""
    session.expire_all()
    case = session.get(Case, case_id)
    rows = session.scalar(select(func.count()).select_from(CaseHistory).where(CaseHistory.case_id == case_id))
    return case.state, case.version, rows, case.student.status, dict(case.data or {})


def submitted_suspension(api, world, student):
    case = create(api, world["teacher"], "suspension", student.id, SUSPENSION)
    add_grounds(api, world["teacher"], case["id"])
    r = fire(api, world["teacher"], case["id"], "submit")
    assert r.status_code == 200, r.json
    return case["id"]


# --- the whole suspension path -----------------------------------------------------------------


def test_suspension_goes_through_four_people_and_suspends_the_student(api, world, student, session):
    teacher, office, principal = world["teacher"], world["office"], world["principal"]
    center_office = world["center_office"]

    case = create(api, teacher, "suspension", student.id, SUSPENSION)
    assert (case["state"], case["version"]) == ("draft", 1)
    d = detail(api, teacher, case["id"])
    assert "submit" in d["available_transitions"]
    assert "需要家长本人到校的记录（电话不算）" in d["blocked"]["submit"]
    assert d["student"]["name"] == student.name and d["student"]["class_name"] == world.klass.name

    add_grounds(api, teacher, case["id"])
    d = detail(api, teacher, case["id"])
    assert "submit" not in d["blocked"]
    assert [v["kind"] for v in d["visits"]] == ["in_person_at_school"]
    assert d["documents"][0]["kind"] == "suspension_grounds"
    assert d["documents"][0]["url"] == f"/api/v1/documents/{d['documents'][0]['id']}"

    r = fire(api, teacher, case["id"], "submit", version=d["version"], comment="家长申请休学")
    assert r.status_code == 200, r.json
    assert r.json["state"] == "submitted"
    assert detail(api, teacher, case["id"])["available_transitions"] == ["withdraw"]
    assert detail(api, principal, case["id"])["available_transitions"] == []
    assert "office_approve" in detail(api, office, case["id"])["available_transitions"]

    r = fire(api, office, case["id"], "office_approve", version=r.json["version"])
    assert (r.status_code, r.json["state"]) == (200, "office_approved")
    assert detail(api, office, case["id"])["available_transitions"] == []
    assert sorted(detail(api, principal, case["id"])["available_transitions"]) == sorted(["principal_approve", "send_back"])

    r = fire(api, principal, case["id"], "principal_approve", version=r.json["version"])
    assert (r.status_code, r.json["state"]) == (200, "approved")
    r = fire(api, center_office, case["id"], "center_file", version=r.json["version"])
    assert (r.status_code, r.json["state"]) == (200, "suspended")

    session.expire_all()
    assert session.get(Student, student.id).status == "suspended"
    d = detail(api, office, case["id"])
    assert [(h["transition"], h["from"], h["to"]) for h in d["history"]] == [
        ("create", None, "draft"), ("submit", "draft", "submitted"),
        ("office_approve", "submitted", "office_approved"), ("principal_approve", "office_approved", "approved"),
        ("center_file", "approved", "suspended")]
    assert [h["by"]["name"] for h in d["history"]] == [
        teacher.name, teacher.name, office.name, principal.name, center_office.name]
    assert [h["role"] for h in d["history"]] == [
        "homeroom_teacher", "homeroom_teacher", "academic_office", "principal", "center_office"]
    assert d["history"][1]["comment"] == "家长申请休学"
    assert d["history"][1]["at"].endswith("+08:00")
    assert d["history"][-1]["effective_date"] == iso(TODAY)
    assert sorted(d["available_transitions"]) == ["extend", "resume"]
    assert d["due"] == SUSPENSION["end"] and d["overdue"] is False
    assert "stateDiagram-v2" in d["diagram"] and "class suspended current" in d["diagram"]


def test_effective_date_in_the_past_is_recorded_and_a_future_one_is_422(api, world, student, session):
    case_id = submitted_suspension(api, world, student)
    before = snapshot(session, case_id)
    r = fire(api, world["office"], case_id, "office_approve", data={"date": iso(TODAY + dt.timedelta(days=1))})
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "data.date"
    assert snapshot(session, case_id) == before

    r = fire(api, world["office"], case_id, "office_approve", data={"date": iso(TODAY - dt.timedelta(days=3))})
    assert r.status_code == 200
    assert detail(api, world["office"], case_id)["history"][-1]["effective_date"] == iso(TODAY - dt.timedelta(days=3))


# --- refusals, in SPEC order, each writing nothing ---------------------------------------------


def test_submitter_may_not_approve_but_a_colleague_may(api, world, student, session, office2):
    office = world["office"]
    case = create(api, office, "suspension", student.id, SUSPENSION)
    add_grounds(api, office, case["id"])
    assert fire(api, office, case["id"], "submit").status_code == 200

    assert "office_approve" not in detail(api, office, case["id"])["available_transitions"]
    assert "office_approve" in detail(api, office2, case["id"])["available_transitions"]
    before = snapshot(session, case["id"])
    r = fire(api, office, case["id"], "office_approve")
    assert r.status_code == 403 and r.json["error"]["code"] == "separation_of_duties"
    assert snapshot(session, case["id"]) == before
    assert fire(api, office2, case["id"], "office_approve").status_code == 200


def test_wrong_role_is_403_and_writes_nothing(api, world, student, session):
    case_id = submitted_suspension(api, world, student)
    before = snapshot(session, case_id)
    for user in (world["teacher"], world["principal"], world["team"]):
        r = fire(api, user, case_id, "office_approve")
        assert r.status_code == 403 and r.json["error"]["code"] == "role_forbidden", user.username
    assert snapshot(session, case_id) == before


@pytest.mark.parametrize("who", ["other_office", "other_teacher", "other_center_head", "liaison"])
def test_case_out_of_scope_is_404_for_read_and_write(api, world, student, session, who):
    case_id = submitted_suspension(api, world, student)
    before = snapshot(session, case_id)
    assert api.as_user(world[who]).get(f"/cases/{case_id}").status_code == 404
    r = fire(api, world[who], case_id, "office_approve")
    assert r.status_code == 404
    # out of scope wins over every later check, a malformed body included
    r = api.as_user(world[who]).post(f"/cases/{case_id}/transitions/office_approve", json=[1])
    assert r.status_code == 404
    assert snapshot(session, case_id) == before


def test_unknown_case_and_unknown_transition_are_404_before_the_body_is_read(api, world, student, session):
    case_id = submitted_suspension(api, world, student)
    office = world["office"]
    assert api.as_user(office).get("/cases/999999").status_code == 404
    r = fire(api, office, case_id, "approve_everything")
    assert r.status_code == 404 and r.json["error"]["code"] == "unknown_transition"
    r = api.as_user(office).post(f"/cases/{case_id}/transitions/approve_everything", json={"bogus": 1})
    assert r.status_code == 404


@pytest.mark.parametrize("body, field", [
    ([1, 2], None),
    ({}, "version"),
    ({"version": "2"}, "version"),
    ({"version": True}, "version"),
    ({"version": 2, "approved": True}, "approved"),
    ({"version": 2, "data": "yes"}, "data"),
    ({"version": 2, "data": {"colour": "red"}}, "data.colour"),
    ({"version": 2, "comment": 5}, "comment"),
])
def test_malformed_body_is_422_and_writes_nothing(api, world, student, session, body, field):
    case_id = submitted_suspension(api, world, student)
    before = snapshot(session, case_id)
    r = api.as_user(world["office"]).post(f"/cases/{case_id}/transitions/office_approve", json=body)
    assert r.status_code == 422, r.json
    if field:
        assert r.json["error"]["details"]["field"] == field
    assert snapshot(session, case_id) == before


def test_malformed_body_is_checked_before_role(api, world, student):
    case_id = submitted_suspension(api, world, student)
    r = api.as_user(world["principal"]).post(f"/cases/{case_id}/transitions/office_approve", json={})
    assert r.status_code == 422


def test_stale_version_is_409_and_writes_nothing(api, world, student, session):
    case_id = submitted_suspension(api, world, student)
    old = session.get(Case, case_id).version - 1
    before = snapshot(session, case_id)
    r = fire(api, world["office"], case_id, "office_approve", version=old)
    assert r.status_code == 409 and r.json["error"]["code"] == "stale_version"
    assert snapshot(session, case_id) == before


def test_transition_not_allowed_in_state_is_409_invalid_state(api, world, student, session):
    case_id = submitted_suspension(api, world, student)
    before = snapshot(session, case_id)
    r = fire(api, world["center_office"], case_id, "center_file")
    assert r.status_code == 409 and r.json["error"]["code"] == "invalid_state"
    assert snapshot(session, case_id) == before


def test_unmet_guard_is_409_naming_what_is_missing(api, world, student, session):
    case = create(api, world["teacher"], "suspension", student.id, SUSPENSION)
    before = snapshot(session, case["id"])
    r = fire(api, world["teacher"], case["id"], "submit")
    assert r.status_code == 409 and r.json["error"]["code"] == "guard_failed"
    assert "需要家长本人到校的记录" in r.json["error"]["message"]
    assert "休学依据" in r.json["error"]["message"]
    assert snapshot(session, case["id"]) == before


def test_send_back_without_comment_is_422(api, world, student, session):
    case_id = submitted_suspension(api, world, student)
    r = fire(api, world["office"], case_id, "send_back")
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "comment"
    r = fire(api, world["office"], case_id, "send_back", comment="缺少住院证明原件")
    assert (r.status_code, r.json["state"]) == (200, "draft")


# --- a failing effect -------------------------------------------------------------------------


def test_effect_that_fails_leaves_state_history_student_and_files_as_before(
        api, app, world, student, session, monkeypatch):
    case_id = submitted_suspension(api, world, student)
    for user, name in ((world["office"], "office_approve"), (world["principal"], "principal_approve")):
        assert fire(api, user, case_id, name).status_code == 200
    upload_dir = app.config["UPLOAD_DIR"]
    files_before = sorted(os.path.join(r, f) for r, _, fs in os.walk(upload_dir) for f in fs)
    docs_before = session.scalar(select(func.count()).select_from(Document))
    before = snapshot(session, case_id)

    real_leave = enrolment.leave

    def leave_then_fail(*args, **kw):
        real_leave(*args, **kw)  # the student's status has changed in the session by now
        raise RuntimeError("学籍系统连接中断")

    monkeypatch.setattr(enrolment, "leave", leave_then_fail)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    r = fire(api, world["center_office"], case_id, "center_file")
    assert r.status_code == 500

    assert snapshot(session, case_id) == before
    assert before[3] == "active"
    assert session.scalar(select(func.count()).select_from(Document)) == docs_before
    assert sorted(os.path.join(r, f) for r, _, fs in os.walk(upload_dir) for f in fs) == files_before
    monkeypatch.undo()
    assert fire(api, world["center_office"], case_id, "center_file").status_code == 200


# --- creating cases ----------------------------------------------------------------------------


def test_unknown_process_is_422(api, world, student):
    r = api.as_user(world["teacher"]).post("/cases", json={"process": "expel", "student_id": student.id, "data": {}})
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "process"


@pytest.mark.parametrize("body, field", [
    ({"student_id": 1}, "process"),
    ({"process": "suspension", "student_id": "1"}, "student_id"),
    ({"process": "suspension", "student_id": 1, "data": {"colour": "red"}}, "data.colour"),
    ({"process": "suspension", "student_id": 1, "extra": 1}, "extra"),
])
def test_malformed_create_is_422_and_creates_nothing(api, world, student, session, body, field):
    body = {**body, "student_id": student.id} if body.get("student_id") == 1 else body
    r = api.as_user(world["teacher"]).post("/cases", json=body)
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == field
    assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_student_out_of_scope_is_404_and_second_open_case_409(api, world, student, factory, session):
    stranger = factory.student(world.other_class, world.other_village)
    r = api.as_user(world["teacher"]).post("/cases", json={
        "process": "suspension", "student_id": stranger.id, "data": SUSPENSION})
    assert r.status_code == 404
    create(api, world["teacher"], "suspension", student.id, SUSPENSION)
    r = api.as_user(world["office"]).post("/cases", json={
        "process": "suspension", "student_id": student.id, "data": SUSPENSION})
    assert r.status_code == 409 and r.json["error"]["code"] == "duplicate"


def test_transfer_in_without_student_id_creates_the_incoming_student(api, world, session):
    r = api.as_user(world["office"]).post("/cases", json={"process": "transfer_in", "data": {
        "origin_school": "外县小学", "class_id": world.klass.id, "student": {
            "name": "新同学", "gender": "F", "birth_date": "2017-03-04", "village_id": world.village.id,
            "guardians": [{"name": "王母", "relation": "母亲", "phone": "13900000000"}]}}})
    assert r.status_code == 201, r.json
    assert r.json["state"] == "submitted"
    new = session.get(Student, r.json["student_id"])
    assert (new.name, new.status, new.class_id) == ("新同学", "incoming", None)
    d = detail(api, world["teacher"], r.json["id"])
    assert d["available_transitions"] == ["accept"]
    r = fire(api, world["teacher"], r.json["id"], "accept")
    assert (r.status_code, r.json["state"]) == (200, "enrolled")
    session.expire_all()
    assert (new.status, new.class_id) == ("active", world.klass.id)


# --- listing -----------------------------------------------------------------------------------


def test_list_is_scoped_and_filtered(api, world, student, factory, session):
    mine = create(api, world["teacher"], "suspension", student.id, SUSPENSION)
    other_student = factory.student(world.other_class, world.other_village)
    session.commit()
    theirs = create(api, world["other_teacher"], "suspension", other_student.id, SUSPENSION)
    flagged = factory.student(world.klass, world.village, disability=True)
    excl = create(api, world["teacher"], "special_exclusion", flagged.id, {"reason": "智力残疾"})

    r = api.as_user(world["office"]).get("/cases")
    assert r.status_code == 200
    assert {c["id"] for c in r.json["items"]} == {mine["id"], excl["id"]} and r.json["total"] == 2
    item = next(c for c in r.json["items"] if c["id"] == mine["id"])
    assert item["student"]["name"] == student.name and item["state_label"] == "草稿"
    assert item["process_label"] == "休学"

    assert [c["id"] for c in api.get("/cases?process=special_exclusion").json["items"]] == [excl["id"]]
    assert api.get(f"/cases?student_id={student.id}").json["total"] == 1
    assert api.get(f"/cases?school_id={world.other_branch.id}").json["total"] == 0
    assert api.get("/cases?state=submitted").json["total"] == 0
    assert api.get("/cases?is_open=false").json["total"] == 0
    assert api.get("/cases?limit=1").json["total"] == 2 and len(api.get("/cases?limit=1").json["items"]) == 1
    assert api.get("/cases?process=expel").status_code == 422
    assert api.get("/cases?is_open=maybe").status_code == 422
    assert api.get("/cases?student_id=x").status_code == 422
    assert {c["id"] for c in api.as_user(world["other_teacher"]).get("/cases").json["items"]} == {theirs["id"]}


def test_fees_are_decimal_strings_in_the_detail(api, world, session, factory):
    dropped = factory.student(world.klass, world.village)
    enrolment.leave(session, dropped, TODAY - dt.timedelta(days=30), "dropped_out", "dropout", keep_class=False)
    session.commit()
    case = create(api, world["office"], "return", dropped.id, {"class_id": world.klass.id})
    r = api.as_user(world["office"]).post(f"/cases/{case['id']}/fees", json={"item": "课本费", "amount_due": "120.50"})
    assert r.status_code == 201
    api.post(f"/cases/{case['id']}/payments", json={"fee_id": r.json["id"], "amount": "20", "receipt_no": "R1"})
    d = detail(api, world["office"], case["id"])
    assert d["fees"][0]["amount_due"] == "120.50" and d["fees"][0]["outstanding"] == "100.50"
    assert d["payments"][0]["amount"] == "20.00"


# --- queues ------------------------------------------------------------------------------------


def _case_at(session, user, process, student, data, opened: dt.date, path=()):
    """A case opened on a past day and moved along `path` by [(user, name, data)] (setup only)."""
    case = engine.create_case(session, scope_for(session, user), user, process,
                              student.id if student is not None else None, data, today=opened)
    session.commit()
    for actor, name, tdata in path:
        engine.fire(session, scope_for(session, actor), actor, case.id, name, version=case.version,
                    data=tdata or {}, today=TODAY)
        session.commit()
    return case


def _evidence(session, case, teacher):
    from models import Visit
    session.add(Visit(case_id=case.id, date=case.opened_on, kind="in_person_at_school", guardian_present=True))
    session.add(Document(case_id=case.id, kind="suspension_grounds", original_name="a.pdf",
                         stored_name=f"x/{case.id}.pdf", content_type="application/pdf", size=1, sha256="0" * 64))
    session.commit()


@pytest.fixture
def queue_world(world, factory, session):
    """Cases at every step of a branch school, some of them late."""
    w, teacher, office, principal = world, world["teacher"], world["office"], world["principal"]
    s = [factory.student(w.klass, w.village) for _ in range(4)]
    session.commit()
    long_ago = TODAY - dt.timedelta(days=200)
    draft = _case_at(session, teacher, "suspension", s[0], SUSPENSION, TODAY)
    submitted = _case_at(session, teacher, "suspension", s[1], SUSPENSION, TODAY - dt.timedelta(days=2))
    _evidence(session, submitted, teacher)
    engine.fire(session, scope_for(session, teacher), teacher, submitted.id, "submit",
                version=submitted.version, today=TODAY)
    session.commit()
    # a suspension that ended ten days ago and nobody resumed it: overdue in the office's queue
    ended = {"start": iso(long_ago), "end": iso(TODAY - dt.timedelta(days=10)), "reason": "外出就医"}
    late = _case_at(session, teacher, "suspension", s[2], ended, long_ago)
    _evidence(session, late, teacher)
    for actor, name in ((teacher, "submit"), (office, "office_approve"), (principal, "principal_approve"),
                        (w["center_office"], "center_file")):
        engine.fire(session, scope_for(session, actor), actor, late.id, name, version=late.version,
                    today=TODAY)
        session.commit()
    approved_by_office = _case_at(session, teacher, "suspension", s[3], SUSPENSION, TODAY - dt.timedelta(days=5))
    _evidence(session, approved_by_office, teacher)
    for actor, name in ((teacher, "submit"), (office, "office_approve")):
        engine.fire(session, scope_for(session, actor), actor, approved_by_office.id, name,
                    version=approved_by_office.version, today=TODAY)
        session.commit()
    newcomer = {"origin_school": "外县小学", "class_id": w.klass.id,
                "student": {"name": "转入生", "gender": "M", "birth_date": "2017-01-02"}}
    fresh_in = _case_at(session, office, "transfer_in", None, newcomer, TODAY)
    stale_in = _case_at(session, office, "transfer_in", None, {**newcomer, "student": {
        **newcomer["student"], "name": "转入生二"}}, TODAY - dt.timedelta(days=7))
    return {"draft": draft.id, "submitted": submitted.id, "late": late.id, "office_approved": approved_by_office.id,
            "fresh_in": fresh_in.id, "stale_in": stale_in.id}


def _queue(api, user):
    r = api.as_user(user).get("/queue")
    assert r.status_code == 200, r.json
    assert r.json["total"] == len(r.json["items"])
    return r.json["items"]


def test_office_queue_puts_the_overdue_suspension_first(api, world, queue_world):
    items = _queue(api, world["office"])
    # the draft is there too: the academic office may submit for the family
    assert [i["id"] for i in items] == [queue_world["late"], queue_world["submitted"], queue_world["draft"]]
    late, submitted, _ = items
    assert late["overdue"] is True and late["due"] == iso(TODAY - dt.timedelta(days=10))
    # the reason says what to do; the deadline is `due`/`overdue` (the page shows it once)
    assert sorted(late["actions"]) == ["extend", "resume"] and late["reason"] == "待申请延长或复学"
    assert submitted["actions"] == ["office_approve", "send_back", "withdraw"]
    assert submitted["reason"] == "待教导处审核" and submitted["overdue"] is False and submitted["due"] is None


def test_principal_queue_late_transfer_in_first_then_by_due_date(api, world, queue_world):
    items = _queue(api, world["principal"])
    assert [i["id"] for i in items] == [queue_world["stale_in"], queue_world["fresh_in"],
                                        queue_world["office_approved"]]
    assert items[0]["overdue"] is True and items[1]["overdue"] is False
    assert items[0]["actions"] == ["accept"] and items[0]["reason"] == "待接收入班"
    assert items[0]["due"] == iso(TODAY - dt.timedelta(days=6))
    assert items[2]["actions"] == ["principal_approve", "send_back"] and items[2]["reason"] == "待校长审批"


def test_teacher_queue_has_drafts_and_arrivals_but_not_cases_waiting_for_others(api, world, queue_world):
    items = _queue(api, world["teacher"])
    ids = [i["id"] for i in items]
    assert ids == [queue_world["late"], queue_world["stale_in"], queue_world["fresh_in"], queue_world["draft"]]
    draft = next(i for i in items if i["id"] == queue_world["draft"])
    assert draft["actions"] == ["submit", "withdraw"] and draft["reason"] == "待提交"
    # submitted and office_approved wait for others; the teacher could only withdraw one of them
    assert queue_world["submitted"] not in ids and queue_world["office_approved"] not in ids


def test_queue_of_users_who_act_on_nothing_is_empty(api, world, queue_world):
    for who in ("supervisor", "admin", "other_office", "subject"):
        assert _queue(api, world[who]) == [], who
    assert [i["id"] for i in _queue(api, world["center_office"])] == []


def test_queue_actions_match_what_the_case_page_offers(api, world, queue_world):
    for who in ("office", "principal", "teacher", "center_office"):
        for item in _queue(api, world[who]):
            assert item["actions"] == detail(api, world[who], item["id"])["available_transitions"]


def test_queue_pages_with_limit_and_offset(api, world, queue_world):
    r = api.as_user(world["principal"]).get("/queue?limit=1&offset=1")
    assert r.json["total"] == 3 and [i["id"] for i in r.json["items"]] == [queue_world["fresh_in"]]


def test_absence_opened_by_hand_shows_what_is_due_and_sits_in_the_teachers_queue(api, world, student):
    case = create(api, world["teacher"], "absence", student.id, {"reason": "上午第二节课后擅自离校"})
    d = detail(api, world["teacher"], case["id"])
    assert any("尚未联系家长" in note for note in d["duty_notes"])
    item = next(i for i in _queue(api, world["teacher"]) if i["id"] == case["id"])
    assert "mark_returned" in item["actions"]
    assert d["state_label"] == "已报告"


def test_a_case_says_the_users_next_step_or_whom_it_waits_for(api, world, student, session):
    """GET /cases/{id} carries the case page's 下一步 line: the teacher's step on a draft, and for
    the center head, with nothing to do on it yet, whose step it waits for — in the request's language."""
    as_teacher = api.as_user(world["teacher"])
    created = as_teacher.post("/cases", json={"process": "suspension", "student_id": student.id,
                                               "data": {"start": "2026-11-02", "end": "2027-01-31",
                                                        "reason": "病休"}}).json
    mine = as_teacher.get(f"/cases/{created['id']}").json
    assert mine["next_step"] == "待提交" and mine["waiting_on"] is None
    head = api.as_user(world["center_head"]).get(f"/cases/{created['id']}").json
    assert head["next_step"] is None and head["waiting_on"] == "等待教导处、班主任办理（提交）"
    english = api.as_user(world["center_head"]).get(f"/cases/{created['id']}", headers={"Accept-Language": "en"}).json
    assert english["waiting_on"] == "Waiting for Academic office, Homeroom teacher (Submit)"
