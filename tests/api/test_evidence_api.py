"""Evidence API: visits, documents (upload and download), fees, payments, guardian contacts."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os

import pytest
from sqlalchemy import func, select

from models import AttendanceRecord, Case, Document, Fee, Payment, Visit
from tests.conftest import csrf_token_from
from tests.factories import PASSWORD
from workflow import clock

NOW = dt.datetime(2026, 10, 14, 10, 0, tzinfo=clock.SCHOOL_TZ)
TODAY = "2026-10-14"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 32


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))


@pytest.fixture
def student(world, factory):
    return factory.student(world.klass, world.village)


def make_case(session, student, process="absence", state="reported", is_open=True):
    case = Case(process=process, state=state, student_id=student.id, school_id=student.school_id,
                opened_on=dt.date(2026, 10, 14), is_open=is_open, data={})
    session.add(case)
    session.flush()
    return case


@pytest.fixture
def case(session, student):
    return make_case(session, student)


@pytest.fixture
def upload_dir(app):
    return app.config["UPLOAD_DIR"]


def stored_files(directory) -> set[str]:
    return {os.path.join(root, f) for root, _, names in os.walk(directory) for f in names}


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def post_file(api, case_id, data: bytes, filename="证明.pdf", kind="other"):
    return api.post(f"/cases/{case_id}/documents", data={"kind": kind, "file": (io.BytesIO(data), filename)},
                    content_type="multipart/form-data")


def assert_error(resp, status, field=None):
    assert resp.status_code == status, resp.get_data(as_text=True)
    err = resp.json["error"]
    if field is not None:
        # the key is for clients, in details.field; the message says what a person calls it
        assert err["details"].get("field") == field, err
    return err


# --- auth and scope ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["visits", "documents", "fees", "payments", "contact"])
def test_no_token_is_401(api, world, case, path):
    resp = api.anonymous().post(f"/cases/{case.id}/{path}", json={})
    assert resp.status_code == 401


def test_document_download_without_token_is_401(api, world):
    assert api.anonymous().get("/documents/1").status_code == 401


@pytest.mark.parametrize("path, body", [
    ("visits", {"date": TODAY, "kind": "home_visit", "participant_ids": [], "guardian_present": True}),
    ("fees", {"item": "书本费", "amount_due": "10.00"}),
])
def test_case_out_of_scope_is_404(api, world, case, path, body):
    resp = api.as_user(world["other_teacher"]).post(f"/cases/{case.id}/{path}", json=body)
    assert_error(resp, 404)


def test_unknown_case_is_404(api, world):
    resp = api.as_user(world["teacher"]).post("/cases/9999/fees", json={"item": "书本费", "amount_due": "1.00"})
    assert_error(resp, 404)


def test_supervisor_may_read_but_not_add(api, world, case, session):
    resp = api.as_user(world["supervisor"]).post(f"/cases/{case.id}/fees", json={"item": "书本费", "amount_due": "1.00"})
    assert_error(resp, 403)
    assert count(session, Fee) == 0


def test_closed_case_answers_invalid_state(api, world, session, student):
    closed = make_case(session, student, state="returned", is_open=False)
    resp = api.as_user(world["office"]).post(f"/cases/{closed.id}/fees", json={"item": "书本费", "amount_due": "1.00"})
    assert assert_error(resp, 409)["code"] == "invalid_state"


# --- visits -----------------------------------------------------------------------------------


def test_teacher_logs_a_home_visit(api, world, case, session):
    resp = api.as_user(world["teacher"]).post(f"/cases/{case.id}/visits", json={
        "date": TODAY, "kind": "home_visit", "participant_ids": [world["teacher"].id, world["team"].id],
        "guardian_present": True, "notes": "家长答应明天送孩子上学"})
    assert resp.status_code == 201, resp.json
    visit = session.get(Visit, resp.json["id"])
    assert visit.created_by_id == world["teacher"].id
    assert sorted(resp.json["participant_ids"]) == sorted([world["teacher"].id, world["team"].id])


def test_visit_with_bad_date_is_422_naming_the_field_and_writes_nothing(api, world, case, session):
    resp = api.as_user(world["teacher"]).post(f"/cases/{case.id}/visits", json={
        "date": "14/10/2026", "kind": "home_visit", "participant_ids": [], "guardian_present": True})
    err = assert_error(resp, 422, "date")
    assert "日期" in err["message"]
    assert count(session, Visit) == 0


def test_visit_with_participant_out_of_scope_is_422(api, world, case, session):
    resp = api.as_user(world["teacher"]).post(f"/cases/{case.id}/visits", json={
        "date": TODAY, "kind": "home_visit", "participant_ids": [world["other_teacher"].id],
        "guardian_present": False})
    assert_error(resp, 422, "participant_ids")
    assert count(session, Visit) == 0


def test_liaison_logs_joint_visit_but_not_a_home_visit(api, world, case):
    client = api.as_user(world["liaison"])
    ok = client.post(f"/cases/{case.id}/visits", json={
        "date": TODAY, "kind": "village_joint", "guardian_present": True,
        "participant_ids": [world["liaison"].id, world["principal"].id, world["teacher"].id],
        "notes": "村干部与老师一起上门，家长答应送回"})
    assert ok.status_code == 201, ok.json
    refused = client.post(f"/cases/{case.id}/visits", json={
        "date": TODAY, "kind": "home_visit", "participant_ids": [world["liaison"].id], "guardian_present": True})
    assert_error(refused, 403)


def test_visit_as_multipart_with_a_photo(api, world, case, session):
    resp = api.as_user(world["teacher"]).post(
        f"/cases/{case.id}/visits", content_type="multipart/form-data",
        data={"date": TODAY, "kind": "home_visit", "guardian_present": "true",
              "participant_ids": f"{world['teacher'].id},{world['team'].id}", "notes": "家长在家",
              "photo": (io.BytesIO(PNG), "家访.png")})
    assert resp.status_code == 201, resp.json
    doc = session.get(Document, resp.json["photo_document_id"])
    assert (doc.kind, doc.content_type, doc.case_id) == ("visit_photo", "image/png", case.id)
    assert len(resp.json["participant_ids"]) == 2


# --- documents --------------------------------------------------------------------------------


def test_upload_then_download_by_someone_who_sees_the_case(api, world, case, session):
    resp = post_file(api.as_user(world["teacher"]), case.id, PDF, filename="休学申请.pdf", kind="parent_application")
    assert resp.status_code == 201, resp.json
    assert resp.json["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert resp.json["content_type"] == "application/pdf"
    got = api.as_user(world["office"]).get(f"/documents/{resp.json['id']}")
    assert got.status_code == 200
    assert got.data == PDF
    assert got.mimetype == "application/pdf"
    disposition = got.headers["Content-Disposition"]
    assert disposition.startswith("attachment") and "%E4%BC%91%E5%AD%A6" in disposition  # 休学, RFC 5987
    assert got.headers["X-Content-Type-Options"] == "nosniff"


def test_download_by_user_out_of_scope_is_404(api, world, case):
    doc_id = post_file(api.as_user(world["teacher"]), case.id, PDF).json["id"]
    assert_error(api.as_user(world["other_principal"]).get(f"/documents/{doc_id}"), 404)
    assert_error(api.as_user(world["other_liaison"]).get(f"/documents/{doc_id}"), 404)


def test_text_file_named_pdf_is_422_and_nothing_is_stored(api, world, case, session, upload_dir):
    before = stored_files(upload_dir)
    resp = post_file(api.as_user(world["teacher"]), case.id, b"hello, I am text", filename="成绩单.pdf")
    assert_error(resp, 422, "file")
    assert count(session, Document) == 0
    assert stored_files(upload_dir) == before


def test_file_over_the_configured_limit_is_422(api, app, world, case, session, upload_dir, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 1024)
    before = stored_files(upload_dir)
    body = PDF + b"0" * (1024 - len(PDF))
    too_big = post_file(api.as_user(world["teacher"]), case.id, body + b"1")
    assert_error(too_big, 422, "file")
    assert stored_files(upload_dir) == before
    assert post_file(api, case.id, body).status_code == 201


def test_stored_file_name_is_not_the_users(api, world, case, session, upload_dir):
    resp = post_file(api.as_user(world["teacher"]), case.id, PDF, filename="../../etc/passwd")
    assert resp.status_code == 201
    doc = session.get(Document, resp.json["id"])
    assert doc.original_name == "passwd" and "passwd" not in doc.stored_name
    assert os.path.isfile(os.path.join(upload_dir, doc.stored_name))
    assert os.path.realpath(os.path.join(upload_dir, doc.stored_name)).startswith(os.path.realpath(upload_dir))


def test_upload_with_unknown_kind_is_422_and_writes_nothing(api, world, case, session, upload_dir):
    before = stored_files(upload_dir)
    assert_error(post_file(api.as_user(world["teacher"]), case.id, PDF, kind="selfie"), 422, "kind")
    assert stored_files(upload_dir) == before


def test_upload_without_file_is_422(api, world, case):
    resp = api.as_user(world["teacher"]).post(f"/cases/{case.id}/documents", data={"kind": "other"},
                                              content_type="multipart/form-data")
    assert_error(resp, 422, "file")


def test_upload_whose_commit_fails_leaves_no_file(api, app, world, case, session, upload_dir, monkeypatch):
    """The request's commit fails after the file was written (e.g. the database went away)."""
    from admin.extensions import db

    before = stored_files(upload_dir)
    client = api.as_user(world["teacher"])

    def failing_commit():
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(db.session, "commit", failing_commit)
    monkeypatch.setattr(app, "testing", False)  # answer 500 instead of re-raising into the test
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    # Straight to the Flask client: ApiClient.request would call the failing commit itself.
    resp = client.client.post(f"/api/v1/cases/{case.id}/documents", headers=client._headers(),
                              data={"kind": "other", "file": (io.BytesIO(PDF), "a.pdf")},
                              content_type="multipart/form-data")
    monkeypatch.undo()
    assert resp.status_code == 500
    assert stored_files(upload_dir) == before
    assert count(session, Document) == 0


def log_in(app, user):
    """A separate browser per user, logged in through the real form."""
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    return client


def test_page_download_needs_login_and_scope(api, app, world, case):
    doc_id = post_file(api.as_user(world["teacher"]), case.id, PNG, filename="照片.png").json["id"]
    anonymous = app.test_client().get(f"/files/{doc_id}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    ok = log_in(app, world["principal"]).get(f"/files/{doc_id}")
    assert ok.status_code == 200 and ok.data == PNG and ok.mimetype == "image/png"
    assert log_in(app, world["other_principal"]).get(f"/files/{doc_id}").status_code == 404
    assert log_in(app, world["liaison"]).get("/files/9999").status_code == 404


# --- fees, payments ---------------------------------------------------------------------------


def test_fee_and_payment_amounts_are_decimal_strings(api, world, case):
    client = api.as_user(world["office"])
    fee = client.post(f"/cases/{case.id}/fees", json={"item": "教材费", "amount_due": "120.5"})
    assert fee.status_code == 201, fee.json
    assert fee.json["amount_due"] == "120.50"
    pay = client.post(f"/cases/{case.id}/payments", json={"fee_id": fee.json["id"], "amount": "20.25",
                                                          "receipt_no": "NO.0001"})
    assert pay.status_code == 201, pay.json
    assert pay.json["amount"] == "20.25"


def test_bad_amount_is_422_naming_the_field_and_nothing_written(api, world, case, session):
    resp = api.as_user(world["office"]).post(f"/cases/{case.id}/fees", json={"item": "教材费", "amount_due": "12.345"})
    err = assert_error(resp, 422, "amount_due")
    assert "金额" in err["message"]
    assert count(session, Fee) == 0


def test_amount_as_json_float_is_refused(api, world, case, session):
    resp = api.as_user(world["office"]).post(f"/cases/{case.id}/fees", json={"item": "教材费", "amount_due": 12.5})
    assert_error(resp, 422, "amount_due")


def test_unknown_field_is_422(api, world, case, session):
    resp = api.as_user(world["office"]).post(f"/cases/{case.id}/fees",
                                             json={"item": "教材费", "amount_due": "1.00", "currency": "CNY"})
    assert_error(resp, 422, "currency")


def test_overpayment_is_422_and_duplicate_receipt_409(api, world, case, session):
    client = api.as_user(world["office"])
    fee_id = client.post(f"/cases/{case.id}/fees", json={"item": "住宿费", "amount_due": "100.00"}).json["id"]
    assert client.post(f"/cases/{case.id}/payments",
                       json={"fee_id": fee_id, "amount": "80.00", "receipt_no": "A1"}).status_code == 201
    over = client.post(f"/cases/{case.id}/payments", json={"fee_id": fee_id, "amount": "20.01", "receipt_no": "A2"})
    assert_error(over, 422, "amount")
    dup = client.post(f"/cases/{case.id}/payments", json={"fee_id": fee_id, "amount": "1.00", "receipt_no": "A1"})
    assert assert_error(dup, 409)["code"] == "duplicate"
    assert count(session, Payment) == 1


# --- contacts ---------------------------------------------------------------------------------


def test_contact_on_absence_case_is_flagged_late_after_30_minutes(api, world, case, session, student):
    session.add(AttendanceRecord(student_id=student.id, class_id=student.class_id, date=dt.date(2026, 10, 14),
                                 status="unexcused", reported_at=NOW.replace(hour=8)))
    client = api.as_user(world["teacher"])
    on_time = client.post(f"/cases/{case.id}/contact", json={
        "contacted_at": "2026-10-14T08:29:00+08:00", "channel": "phone", "notes": "家长在外打工"})
    assert on_time.status_code == 201, on_time.json
    assert on_time.json["is_late"] is False
    late = client.post(f"/cases/{case.id}/contact", json={
        "contacted_at": "2026-10-14T08:31:00+08:00", "channel": "phone", "notes": "第二次联系"})
    assert late.json["is_late"] is True


def test_contact_on_other_process_is_422(api, world, session, student):
    suspension = make_case(session, student, process="suspension", state="draft")
    resp = api.as_user(world["teacher"]).post(f"/cases/{suspension.id}/contact", json={
        "contacted_at": "2026-10-14T08:29:00+08:00", "channel": "phone", "notes": ""})
    assert_error(resp, 422)


def test_contact_time_without_offset_is_422(api, world, case):
    resp = api.as_user(world["teacher"]).post(f"/cases/{case.id}/contact", json={
        "contacted_at": "2026-10-14T08:29:00", "channel": "phone", "notes": ""})
    assert_error(resp, 422, "contacted_at")


def test_body_beyond_flasks_request_limit_is_422_too(api, app, world, case, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2048)
    resp = post_file(api.as_user(world["teacher"]), case.id, PDF + b"0" * 4096)
    assert_error(resp, 422, "file")
