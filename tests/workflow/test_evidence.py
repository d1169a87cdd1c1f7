"""Evidence on cases: visits, uploaded documents, fees and payments, guardian contacts."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import AttendanceRecord, Case, Document, Fee, Payment, Visit
from workflow import clock
from workflow.access.scope import scope_for
from workflow.cases import evidence
from workflow.errors import Conflict, Forbidden, Invalid, NotFound

D = dt.date
NOW = dt.datetime(2026, 10, 14, 10, 0, tzinfo=clock.SCHOOL_TZ)
TODAY = D(2026, 10, 14)

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 32


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))


@pytest.fixture
def student(world, factory):
    return factory.student(world.klass, world.village)


def make_case(session, student, process="absence", state="reported", opened_on=TODAY, is_open=True):
    case = Case(process=process, state=state, student_id=student.id, school_id=student.school_id,
                opened_on=opened_on, is_open=is_open, data={})
    session.add(case)
    session.flush()
    return case


@pytest.fixture
def case(session, student):
    return make_case(session, student)


def as_(session, user):
    return scope_for(session, user), user


def upload(session, user, case, data: bytes, upload_dir, filename="证明.pdf", kind="other", max_bytes=1024 * 1024):
    scope, user = as_(session, user)
    return evidence.add_document(session, scope, user, case, kind=kind, filename=filename,
                                 stream=io.BytesIO(data), upload_dir=str(upload_dir), max_bytes=max_bytes)


def files_in(directory) -> list[str]:
    return sorted(os.path.relpath(os.path.join(root, f), directory)
                  for root, _, names in os.walk(directory) for f in names)


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


# --- documents --------------------------------------------------------------------------------


@pytest.mark.parametrize("data, ext, content_type", [
    (PDF, "pdf", "application/pdf"), (JPEG, "jpg", "image/jpeg"), (PNG, "png", "image/png"),
])
def test_pdf_jpeg_and_png_are_accepted_by_content(session, world, case, tmp_path, data, ext, content_type):
    doc = upload(session, world["teacher"], case, data, tmp_path, filename="scan.bin")
    assert doc.content_type == content_type
    assert doc.stored_name.endswith("." + ext)
    with open(tmp_path / doc.stored_name, "rb") as fh:
        assert fh.read() == data


def test_text_file_named_pdf_is_rejected_and_nothing_is_kept(session, world, case, tmp_path):
    with pytest.raises(Invalid) as exc:
        upload(session, world["teacher"], case, b"just some text, not a pdf\n", tmp_path, filename="申请.pdf")
    assert exc.value.details["field"] == "file" and "PDF" in exc.value.message
    assert files_in(tmp_path) == []
    assert count(session, Document) == 0


def test_file_over_the_limit_is_rejected_and_one_at_the_limit_accepted(session, world, case, tmp_path):
    body = PDF + b"0" * (2048 - len(PDF))
    with pytest.raises(Invalid) as exc:
        upload(session, world["teacher"], case, body + b"1", tmp_path, max_bytes=2048)
    assert exc.value.details["field"] == "file" and "上限" in exc.value.message
    assert files_in(tmp_path) == []
    doc = upload(session, world["teacher"], case, body, tmp_path, max_bytes=2048)
    assert doc.size == 2048


def test_empty_file_is_rejected(session, world, case, tmp_path):
    with pytest.raises(Invalid) as exc:
        upload(session, world["teacher"], case, b"", tmp_path)
    assert exc.value.message == "文件是空的" and exc.value.details["field"] == "file"


def test_stored_name_ignores_the_users_name_and_path(session, world, case, tmp_path):
    doc = upload(session, world["teacher"], case, PDF, tmp_path / "up", filename="../../etc/passwd")
    assert "passwd" not in doc.stored_name and ".." not in doc.stored_name
    assert doc.original_name == "passwd"
    stored = os.path.realpath(tmp_path / "up" / doc.stored_name)
    assert stored.startswith(os.path.realpath(tmp_path / "up") + os.sep)
    assert files_in(tmp_path) == [os.path.join("up", doc.stored_name)]
    directory, name = doc.stored_name.split("/")
    assert len(directory) == 2 and name.startswith(directory) and len(name.split(".")[0]) == 32


def test_original_name_keeps_chinese_and_drops_control_characters(session, world, case, tmp_path):
    doc = upload(session, world["teacher"], case, PDF, tmp_path, filename="C:\\家长\\休学申请\u202e.pdf\x00")
    assert doc.original_name == "休学申请.pdf"


def test_sha256_of_the_content_is_recorded(session, world, case, tmp_path):
    data = PNG + os.urandom(200_000)  # several read chunks
    doc = upload(session, world["teacher"], case, data, tmp_path)
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert doc.size == len(data)


def test_rolled_back_upload_leaves_no_file(session, world, case, tmp_path):
    upload(session, world["teacher"], case, PDF, tmp_path)
    assert len(files_in(tmp_path)) == 1
    session.rollback()
    assert files_in(tmp_path) == []


def test_committed_upload_stays(session, world, case, tmp_path):
    doc = upload(session, world["teacher"], case, PDF, tmp_path)
    session.commit()
    assert files_in(tmp_path) == [doc.stored_name]
    session.rollback()  # a later failure does not touch files of a committed transaction
    assert files_in(tmp_path) == [doc.stored_name]


def test_upload_in_a_transaction_that_fails_later_is_removed(session, world, case, tmp_path):
    upload(session, world["teacher"], case, PDF, tmp_path)
    session.add(Fee(case_id=case.id, item=None, amount_due=Decimal("1.00")))  # NOT NULL violation
    with pytest.raises(Exception):  # noqa: B017  (IntegrityError, the driver's own class)
        session.flush()
    session.rollback()
    assert files_in(tmp_path) == []


def test_session_closed_without_commit_leaves_no_file(session, world, case, tmp_path):
    upload(session, world["teacher"], case, PDF, tmp_path)
    session.close()  # what the app teardown does after an unexpected error
    assert files_in(tmp_path) == []


def test_discard_pending_files_removes_this_transactions_files(session, world, case, tmp_path):
    upload(session, world["teacher"], case, PDF, tmp_path)
    evidence.discard_pending_files(session)
    assert files_in(tmp_path) == []


def test_forget_pending_files_keeps_them(session, world, case, tmp_path):
    upload(session, world["teacher"], case, PDF, tmp_path)
    evidence.forget_pending_files(session)
    session.rollback()
    assert len(files_in(tmp_path)) == 1


def test_unknown_document_kind_is_rejected(session, world, case, tmp_path):
    with pytest.raises(Invalid) as exc:
        upload(session, world["teacher"], case, PDF, tmp_path, kind="selfie")
    assert exc.value.details["field"] == "kind"


def test_download_lookup_is_404_for_a_user_out_of_scope(session, world, case, tmp_path):
    doc = upload(session, world["teacher"], case, PDF, tmp_path)
    assert evidence.get_document(session, scope_for(session, world["office"]), doc.id).id == doc.id
    with pytest.raises(NotFound):
        evidence.get_document(session, scope_for(session, world["other_principal"]), doc.id)


# --- who may add ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["supervisor", "admin"])
def test_readers_may_not_add_evidence(session, world, case, tmp_path, who):
    with pytest.raises(Forbidden):
        upload(session, world[who], case, PDF, tmp_path)
    scope, user = as_(session, world[who])
    with pytest.raises(Forbidden):
        evidence.add_fee(session, scope, user, case, item="书本费", amount_due="10.00")


def test_user_out_of_scope_gets_not_found(session, world, case, tmp_path):
    with pytest.raises(NotFound):
        upload(session, world["other_teacher"], case, PDF, tmp_path)
    assert files_in(tmp_path) == []


def test_closed_case_accepts_no_evidence(session, world, student, tmp_path):
    closed = make_case(session, student, state="returned", is_open=False)
    with pytest.raises(Conflict) as exc:
        upload(session, world["teacher"], closed, PDF, tmp_path)
    assert exc.value.code == "invalid_state"
    assert files_in(tmp_path) == []


def test_liaison_may_log_joint_visit_only(session, world, case, tmp_path):
    scope, liaison = as_(session, world["liaison"])
    visit = evidence.add_visit(session, scope, liaison, case, date=TODAY, kind="village_joint",
                               participant_ids=[liaison.id, world["teacher"].id, world["principal"].id],
                               guardian_present=True, notes="与村干部一起到家")
    assert visit.created_by_id == liaison.id
    assert {u.id for u in visit.participants} == {liaison.id, world["teacher"].id, world["principal"].id}
    with pytest.raises(Forbidden):
        evidence.add_visit(session, scope, liaison, case, date=TODAY, kind="home_visit",
                           participant_ids=[liaison.id], guardian_present=True)
    with pytest.raises(Forbidden):
        upload(session, liaison, case, PDF, tmp_path)


def test_liaison_of_another_village_does_not_see_the_case(session, world, case):
    scope, liaison = as_(session, world["other_liaison"])
    with pytest.raises(NotFound):
        evidence.add_visit(session, scope, liaison, case, date=TODAY, kind="village_joint",
                           participant_ids=[], guardian_present=True)


# --- visits -----------------------------------------------------------------------------------


def visit(session, user, case, **kw):
    scope, user = as_(session, user)
    args = {"date": TODAY, "kind": "home_visit", "participant_ids": [user.id], "guardian_present": True,
            "notes": "家长答应送孩子回校"}
    args.update(kw)
    return evidence.add_visit(session, scope, user, case, **args)


def test_home_visit_is_logged_with_its_participants(session, world, case):
    v = visit(session, world["teacher"], case, participant_ids=[world["teacher"].id, world["team"].id],
              outcome="家长同意明天送孩子到校", other_participants="村医 李某")
    assert v.kind == "home_visit" and v.guardian_present
    assert [u.id for u in v.participants] == [world["teacher"].id, world["team"].id]
    assert v.created_by_id == world["teacher"].id and v.other_participants == "村医 李某"


def test_visit_in_the_future_is_refused(session, world, case):
    with pytest.raises(Invalid) as exc:
        visit(session, world["teacher"], case, date=TODAY + dt.timedelta(days=1))
    assert exc.value.details["field"] == "date"


def test_visit_up_to_30_days_before_opening_is_accepted_but_not_earlier(session, world, case):
    visit(session, world["teacher"], case, date=TODAY - dt.timedelta(days=30))
    with pytest.raises(Invalid) as exc:
        visit(session, world["teacher"], case, date=TODAY - dt.timedelta(days=31))
    assert exc.value.details["field"] == "date"


def test_participant_out_of_scope_is_refused_naming_the_participants(session, world, case):
    with pytest.raises(Invalid) as exc:
        visit(session, world["teacher"], case, participant_ids=[world["teacher"].id, world["other_teacher"].id])
    # the message says what a person calls the field; the key stays in details.field for API clients
    assert exc.value.details["field"] == "participant_ids" and "participant_ids" not in exc.value.message
    assert "参加人员" in exc.value.message and str(world["other_teacher"].id) in exc.value.message
    assert count(session, Visit) == 0


def test_unknown_visit_kind_is_refused(session, world, case):
    with pytest.raises(Invalid) as exc:
        visit(session, world["teacher"], case, kind="wechat")
    assert exc.value.details["field"] == "kind"


def test_visit_photo_is_stored_as_a_visit_photo_document(session, world, case, tmp_path):
    v = visit(session, world["teacher"], case, photo=evidence.Upload("家访.png", io.BytesIO(PNG)),
              upload_dir=str(tmp_path), max_bytes=10_000)
    doc = session.get(Document, v.photo_document_id)
    assert doc.kind == "visit_photo" and doc.case_id == case.id and doc.content_type == "image/png"


def test_visit_photo_must_be_an_image(session, world, case, tmp_path):
    with pytest.raises(Invalid) as exc:
        visit(session, world["teacher"], case, photo=evidence.Upload("家访.pdf", io.BytesIO(PDF)),
              upload_dir=str(tmp_path), max_bytes=10_000)
    assert exc.value.details["field"] == "photo"
    assert files_in(tmp_path) == []


# --- fees and payments ------------------------------------------------------------------------


@pytest.fixture
def office(session, world):
    return as_(session, world["office"])


def test_payments_sum_as_decimals_and_settle_the_fee(session, office, case):
    scope, user = office
    fee = evidence.add_fee(session, scope, user, case, item="教材费", amount_due="120.50")
    evidence.add_payment(session, scope, user, case, fee_id=fee.id, amount="0.10", receipt_no="R1")
    evidence.add_payment(session, scope, user, case, fee_id=fee.id, amount="0.20", receipt_no="R2")
    evidence.add_payment(session, scope, user, case, fee_id=fee.id, amount="120.20", receipt_no="R3")
    session.commit()
    assert evidence.fee_balances(session, case) == {fee.id: (Decimal("120.50"), Decimal("0.00"))}
    assert evidence.case_outstanding(session, case) == Decimal("0.00")


def test_overpayment_is_refused_naming_amount(session, office, case):
    scope, user = office
    fee = evidence.add_fee(session, scope, user, case, item="住宿费", amount_due=Decimal("100"))
    evidence.add_payment(session, scope, user, case, fee_id=fee.id, amount="60.00", receipt_no="R1")
    with pytest.raises(Invalid) as exc:
        evidence.add_payment(session, scope, user, case, fee_id=fee.id, amount="40.01", receipt_no="R2")
    assert exc.value.details["field"] == "amount" and "40.00" in exc.value.message
    assert count(session, Payment) == 1


def test_receipt_number_is_unique_within_a_case(session, office, case, student):
    scope, user = office
    fee = evidence.add_fee(session, scope, user, case, item="住宿费", amount_due="100.00")
    evidence.add_payment(session, scope, user, case, fee_id=fee.id, amount="10.00", receipt_no="R1")
    with pytest.raises(Conflict) as exc:
        evidence.add_payment(session, scope, user, case, fee_id=fee.id, amount="10.00", receipt_no="R1")
    assert exc.value.code == "duplicate"
    other = make_case(session, student, process="suspension", state="draft")
    other_fee = evidence.add_fee(session, scope, user, other, item="住宿费", amount_due="100.00")
    evidence.add_payment(session, scope, user, other, fee_id=other_fee.id, amount="10.00", receipt_no="R1")


def test_payment_against_a_fee_of_another_case_is_refused(session, office, case, student):
    scope, user = office
    other = make_case(session, student, process="suspension", state="draft")
    fee = evidence.add_fee(session, scope, user, other, item="住宿费", amount_due="100.00")
    with pytest.raises(Invalid) as exc:
        evidence.add_payment(session, scope, user, case, fee_id=fee.id, amount="10.00", receipt_no="R1")
    assert exc.value.details["field"] == "fee_id"


@pytest.mark.parametrize("amount", ["0", "-5.00", "1.005", "abc", 1.5, "NaN", "100000000.00"])
def test_bad_fee_amounts_are_refused(session, office, case, amount):
    scope, user = office
    with pytest.raises(Invalid) as exc:
        evidence.add_fee(session, scope, user, case, item="书本费", amount_due=amount)
    assert exc.value.details["field"] == "amount_due" and exc.value.message.startswith("应缴金额")
    assert "amount_due" not in exc.value.message
    assert count(session, Fee) == 0


# --- guardian contacts ------------------------------------------------------------------------


def reported(session, student, at, date=TODAY):
    session.add(AttendanceRecord(student_id=student.id, class_id=student.class_id, date=date,
                                 status="unexcused", reported_at=at))
    session.flush()


@pytest.mark.parametrize("minutes, late", [(29, False), (30, False), (31, True)])
def test_contact_is_late_after_30_minutes_from_the_report(session, world, case, student, minutes, late):
    report = NOW.replace(hour=8, minute=0)
    reported(session, student, report)
    scope, teacher = as_(session, world["teacher"])
    contact = evidence.add_contact(session, scope, teacher, case,
                                   contacted_at=report + dt.timedelta(minutes=minutes), channel="phone",
                                   notes="家长说孩子在外婆家")
    assert contact.is_late is late


def test_contact_window_falls_back_to_when_the_case_was_opened(session, world, case):
    case.created_at = NOW.replace(hour=9)  # opened by hand, no unexcused mark behind it
    session.flush()
    scope, teacher = as_(session, world["teacher"])
    on_time = evidence.add_contact(session, scope, teacher, case, contacted_at=NOW.replace(hour=9, minute=20),
                                   channel="phone", notes=None)
    late = evidence.add_contact(session, scope, teacher, case, contacted_at=NOW.replace(hour=9, minute=45),
                                channel="wechat", notes=None)
    assert (on_time.is_late, late.is_late) == (False, True)


def test_contact_only_on_absence_cases(session, world, student):
    suspension = make_case(session, student, process="suspension", state="draft")
    scope, teacher = as_(session, world["teacher"])
    with pytest.raises(Invalid):
        evidence.add_contact(session, scope, teacher, suspension, contacted_at=NOW, channel="phone", notes="")


def test_contact_needs_a_known_channel(session, world, case):
    scope, teacher = as_(session, world["teacher"])
    with pytest.raises(Invalid) as exc:
        evidence.add_contact(session, scope, teacher, case, contacted_at=NOW, channel="pigeon", notes="")
    assert exc.value.details["field"] == "channel"
