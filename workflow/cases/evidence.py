"""Evidence hanging off a case: visits, documents, fees, payments, guardian contacts (SPEC §3).

Every service loads nothing by itself that the caller should have scoped: the caller passes a
case it loaded with `workflow.access.scope.get_in_scope`; the services check it again (404), then the
fields (422), then the user's role for the case (403, workflow.access.permissions), then that the
case is open (409 `invalid_state`). They flush and never commit.

Uploaded files go to a `workflow.storage.FileStore` (a folder, or chunked rows in the database;
the caller passes the configured one, or a folder path). The database store writes inside the
transaction. The folder store writes before the transaction ends: so that a rolled-back upload
leaves no file behind, each stored path is remembered in `session.info["pending_files"]`: a commit
forgets the list, the end of a transaction that did not commit deletes the files (session events
below; `discard_pending_files` / `forget_pending_files` do the same by hand).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import BinaryIO

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from models import (
    DOCUMENT_KINDS,
    VISIT_KINDS,
    AttendanceRecord,
    Case,
    Document,
    Fee,
    GuardianContact,
    Payment,
    RoleAssignment,
    User,
    Visit,
)
from workflow import clock
from workflow.access.permissions import evidence_roles, require_case_staff, require_visit_kind
from workflow.access.scope import Scope, case_staff_filter, get_in_scope
from workflow.errors import N_, Conflict, Msg, NotFound, invalid_field
from workflow.fieldnames import field_label
from workflow.storage import PENDING_KEY, FileStore, LocalStore, as_store
from workflow.validation import required_text

# How far before the case was opened a visit may be dated: the visit that led to the case
# (e.g. the day-one home visit before a suspension was applied for) belongs to it.
VISIT_LOOKBACK_DAYS = 30
CONTACT_CHANNELS = ("phone", "wechat", "sms", "in_person", "other")
CONTACT_DEADLINE = dt.timedelta(minutes=30)
# A phone's clock may run a little fast; a contact further in the future is a typo.
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_AMOUNT = Decimal("99999999.99")  # Numeric(10, 2)
CHUNK = 64 * 1024

# Accepted file types, recognised by their content (never by the name the user gave): PDF, JPEG
# and PNG by their first bytes; HEIC (a phone's photo) and DOCX (Word) by `detect_file_type`.
FILE_TYPES = (
    (b"%PDF-", "pdf", "application/pdf"),
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
)
HEIC_BRANDS = (b"heic", b"heix", b"mif1")
HEIC_TYPE = ("heic", "image/heic")
DOCX_TYPE = ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
HEAD_BYTES = 64  # enough for the magic numbers and an ftyp box's brands
IMAGE_TYPES = ("image/jpeg", "image/png")
ACCEPTED_NAMES = "PDF、JPEG、PNG、HEIC 图片或 Word（.docx）文件"


@dataclass
class Upload:
    """A file as received: the name the user gave (metadata only) and a binary stream."""

    filename: str | None
    stream: BinaryIO


def _require_open(case: Case) -> None:
    if not case.is_open:
        raise Conflict(N_("案件已结束，不能再添加记录"), code="invalid_state")


# --- visits -----------------------------------------------------------------------------------


def add_visit(session: Session, scope: Scope, user: User, case: Case, *, date: dt.date, kind: str,
              participant_ids: list[int], guardian_present: bool, notes: str | None = None,
              outcome: str | None = None, other_participants: str | None = None,
              photo: Upload | None = None, upload_dir: FileStore | str | None = None,
              max_bytes: int | None = None) -> Visit:
    """Log a visit on the case; the recorder is `created_by`, participants are named explicitly.

    `date` may not be in the future nor more than 30 days before the case was opened.
    Participants must be users the recorder can see, or staff bound to the case's school, its
    center school, the student's class or village (a liaison names the teachers who came).
    A village liaison may log `village_joint` visits only. `photo` (JPEG/PNG) is stored as a
    document of kind `visit_photo`; it needs `upload_dir` (the file store, or a folder) and
    `max_bytes`.

    Raises NotFound, Invalid (a case with no student; kind, date, participant_ids, photo),
    Forbidden, Conflict `invalid_state` (closed case).
    """
    roles = evidence_roles(session, scope, case)
    if case.student_id is None:
        # a class's roll verification or a school's monthly report: nobody's home to visit, and
        # a visit there would count for no child
        raise invalid_field("case", N_("这个案件的对象是班级或学校，不是某个学生，不能登记家访"))
    if kind not in VISIT_KINDS:
        raise invalid_field("kind", N_("家访方式必须是以下之一：%(choices)s"), choices=', '.join(VISIT_KINDS))
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise invalid_field("date", N_("家访日期必须是有效日期（YYYY-MM-DD）"))
    if date > clock.today():
        raise invalid_field("date", N_("家访日期不能晚于今天"))
    earliest = case.opened_on - dt.timedelta(days=VISIT_LOOKBACK_DAYS)
    if date < earliest:
        raise invalid_field("date", N_("家访日期不能早于 %(earliest)s（立案前 %(visit_lookback_days)s 天）"), earliest=earliest.isoformat(), visit_lookback_days=VISIT_LOOKBACK_DAYS)
    if not isinstance(guardian_present, bool):
        raise invalid_field("guardian_present", N_("请说明家长是否在场（是或否）"))
    ids = _unique_ints(participant_ids, "participant_ids")
    require_visit_kind(roles, kind)
    _require_open(case)
    # SPEC §3 "Classes and visits that make sense": an empty visit would count as a visit on
    # the ladder (and as a recovery attempt) although nobody went and nothing came of it.
    if not ids:
        raise invalid_field("participant_ids", N_("家访记录至少需要一名参与人（本校教职工或本村联络员）"))
    participants = _participants(session, scope, case, ids)
    if not any(isinstance(t, str) and t.strip() for t in (notes, outcome)):
        raise invalid_field("notes", N_("请填写家访结果（家长的答复、学生情况等）"))

    visit = Visit(case_id=case.id, date=date, kind=kind, guardian_present=guardian_present,
                  notes=_text(notes, name="notes"), outcome=_text(outcome, name="outcome"),
                  other_participants=_text(other_participants, 255, "other_participants"),
                  created_by_id=user.id)
    visit.participants = participants
    if photo is not None:
        if upload_dir is None or max_bytes is None:
            raise ValueError("add_visit with a photo needs upload_dir and max_bytes")
        doc = _store_document(session, user, case, kind="visit_photo", upload=photo,
                              upload_dir=upload_dir, max_bytes=max_bytes, field="photo",
                              allowed=IMAGE_TYPES)
        visit.photo_document_id = doc.id
    session.add(visit)
    session.flush()
    return visit


def _participants(session: Session, scope: Scope, case: Case, ids: list[int]) -> list[User]:
    """The users `ids`, each staff of the case (`scope.case_staff_filter`: the student's school
    or its center school, a teacher of the class, the village's liaison): SPEC §3 allows no one
    else on a visit, whatever the recorder may see."""
    if not ids:
        return []
    case_staff = select(RoleAssignment.user_id).where(case_staff_filter(case.school, case.student))
    found = {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids), User.id.in_(case_staff)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise invalid_field("participant_ids",
                            N_("参加人员中的用户 %(ids)s 不是该学生学校的教职工或本村联络员"),
                            ids=", ".join(map(str, missing)))
    return [found[i] for i in ids]


# --- documents --------------------------------------------------------------------------------


def add_document(session: Session, scope: Scope, user: User, case: Case, *, kind: str,
                 filename: str | None, stream: BinaryIO, upload_dir: FileStore | str,
                 max_bytes: int) -> Document:
    """Store an uploaded PDF, JPEG, PNG, HEIC or DOCX (`detect_file_type`) for the case in `upload_dir`: the configured
    `workflow.storage.FileStore`, or a folder (a `LocalStore`).

    The type is read from the file's first bytes; the name the user gave is kept (sanitised) as
    metadata only. Stored under the name `<2 hex>/<32 hex>.<ext>`: streamed into a temporary file
    (SHA-256 and size computed on the way), checked, then handed to the store, which keeps it
    only if the transaction commits.

    Raises NotFound, Invalid (kind; file empty, larger than `max_bytes`, or not PDF/JPEG/PNG/HEIC/DOCX),
    Forbidden (not school staff for the case), Conflict `invalid_state` (closed case).
    """
    roles = evidence_roles(session, scope, case)
    if kind not in DOCUMENT_KINDS:
        raise invalid_field("kind", N_("材料类型必须是以下之一：%(choices)s"), choices=', '.join(DOCUMENT_KINDS))
    require_case_staff(roles, N_("材料"))
    _require_open(case)
    return _store_document(session, user, case, kind=kind, upload=Upload(filename, stream),
                           upload_dir=upload_dir, max_bytes=max_bytes, field="file")


def _store_document(session: Session, user: User, case: Case, *, kind: str, upload: Upload,
                    upload_dir: FileStore | str, max_bytes: int, field: str,
                    allowed: tuple[str, ...] | None = None) -> Document:
    stored_name, content_type, size, digest = _write_file(
        session, upload.stream, upload_dir, max_bytes, field, allowed
    )
    doc = Document(case_id=case.id, kind=kind, original_name=sanitise_filename(upload.filename, stored_name),
                   stored_name=stored_name, content_type=content_type, size=size, sha256=digest,
                   uploaded_by_id=user.id)
    session.add(doc)
    session.flush()
    return doc


def _write_file(session: Session, stream: BinaryIO, upload_dir: FileStore | str, max_bytes: int, field: str,
                allowed: tuple[str, ...] | None) -> tuple[str, str, int, str]:
    store = as_store(upload_dir)
    token = uuid.uuid4().hex
    fd, tmp_path = store.temp_file(f"{token[:2]}/{token}")
    hasher = hashlib.sha256()
    size = 0
    head = b""
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > max_bytes:
                    raise invalid_field(field, N_("%(name)s超过 %(value)s 的上限"), name=_named(field), value=_human_size(max_bytes))
                if len(head) < HEAD_BYTES:
                    head += chunk[: HEAD_BYTES - len(head)]
                hasher.update(chunk)
                out.write(chunk)
        if size == 0:
            raise invalid_field(field, N_("%(name)s是空的"), name=_named(field))
        detected = detect_file_type(head, tmp_path)
        if detected is None or (allowed is not None and detected[1] not in allowed):
            names = "JPEG 或 PNG 图片" if allowed == IMAGE_TYPES else ACCEPTED_NAMES
            raise invalid_field(field, N_("%(name)s只接受 %(names)s（按文件内容判断，与文件名无关）"), name=_named(field), names=names)
        ext, content_type = detected
        stored_name = f"{token[:2]}/{token}.{ext}"
        store.put(session, stored_name, tmp_path)
    except BaseException:
        _unlink(tmp_path)
        raise
    return stored_name, content_type, size, hasher.hexdigest()


def _is_heic(head: bytes) -> bool:
    """An ISO media file whose ftyp box names a HEIC brand (major or compatible): bytes 4–8 are
    "ftyp", then the major brand, a version, and the compatible brands up to the box's size."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return False
    box_end = min(int.from_bytes(head[:4], "big"), len(head))
    brands = [head[8:12]] + [head[i:i + 4] for i in range(16, box_end - 3, 4)]
    return any(b in HEIC_BRANDS for b in brands)


def _is_docx(path: str) -> bool:
    """A zip archive holding `[Content_Types].xml` and a `word/` part: a Word document (an
    .xlsx or any other zip has no `word/`). A damaged archive is no document."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return "[Content_Types].xml" in names and any(n.startswith("word/") for n in names)


def detect_file_type(head: bytes, path: str) -> tuple[str, str] | None:
    """(extension, content type) of an uploaded file from its content: `head` is its first
    bytes, `path` the whole file (for DOCX, a zip read by its directory). None: not accepted."""
    for magic, ext, ctype in FILE_TYPES:
        if head.startswith(magic):
            return ext, ctype
    if _is_heic(head):
        return HEIC_TYPE
    if head.startswith(b"PK\x03\x04") and _is_docx(path):
        return DOCX_TYPE
    return None


def sanitise_filename(name: str | None, stored_name: str = "") -> str:
    """The user's file name reduced to a safe display name: last path part, no control or
    reserved characters, at most 200 characters; a neutral name when nothing is left."""
    ext = stored_name.rsplit(".", 1)[-1] if "." in stored_name else ""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*;')
    base = base.strip(" .")
    if not base:
        base = f"文件.{ext}" if ext else N_("文件")
    if len(base) > 200:
        stem, dot, suffix = base.rpartition(".")
        base = (stem[: 190] + dot + suffix[:9]) if dot and len(suffix) <= 9 else base[:200]
    return base


def document_path(upload_dir: str, doc: Document) -> str:
    """Absolute path of a document in a folder store; refuses a stored name that would leave
    upload_dir (NotFound)."""
    try:
        return LocalStore(upload_dir).path(doc.stored_name)
    except FileNotFoundError:
        raise NotFound(N_("文件不存在")) from None


def get_document(session: Session, scope: Scope, doc_id) -> Document:
    """A document whose case the user can see. Raises NotFound otherwise (404, never 403)."""
    try:
        doc_id = int(doc_id)
    except (TypeError, ValueError):
        raise NotFound(N_("文件不存在")) from None
    doc = session.get(Document, doc_id)
    if doc is None:
        raise NotFound(N_("文件不存在"))
    get_in_scope(session, scope, Case, doc.case_id)
    return doc


def discard_pending_files(session: Session) -> None:
    """Delete the files stored in the current transaction (call when it fails)."""
    for path in session.info.pop(PENDING_KEY, []):
        _unlink(path)


def forget_pending_files(session: Session) -> None:
    """Keep the files stored in the current transaction (call after it committed)."""
    session.info.pop(PENDING_KEY, None)


@event.listens_for(Session, "after_commit")
def _keep_files_after_commit(session: Session) -> None:
    forget_pending_files(session)


@event.listens_for(Session, "after_transaction_end")
def _drop_files_of_uncommitted_transaction(session: Session, transaction) -> None:
    # After a commit the list is already empty; anything left belongs to a rollback or close.
    if transaction.parent is None and session.info.get(PENDING_KEY):
        discard_pending_files(session)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):g} MB"
    if n >= 1024:
        return f"{n / 1024:g} KB"
    return Msg(N_("%(n)s 字节"), n=n)


# --- fees and payments ------------------------------------------------------------------------


def add_fee(session: Session, scope: Scope, user: User, case: Case, *, item: str, amount_due) -> Fee:
    """Add a fee (收费项目) the family owes on this case, in yuan with at most two decimals.

    Raises NotFound, Invalid (item, amount_due), Forbidden, Conflict `invalid_state`.
    """
    roles = evidence_roles(session, scope, case)
    item = required_text("item", item, 80)
    amount = _money(amount_due, "amount_due")
    require_case_staff(roles, N_("收费项目"))
    _require_open(case)
    fee = Fee(case_id=case.id, item=item, amount_due=amount, created_by_id=user.id)
    session.add(fee)
    session.flush()
    return fee


def add_payment(session: Session, scope: Scope, user: User, case: Case, *, fee_id: int, amount,
                receipt_no: str) -> Payment:
    """Record a payment against one of the case's fees.

    The payment may not exceed what is still due on that fee; receipt numbers are unique within
    the case. The fee row is locked (SELECT … FOR UPDATE) so two concurrent payments cannot
    together overpay it.

    Raises NotFound, Invalid (fee_id not a fee of this case, amount, receipt_no), Forbidden,
    Conflict `invalid_state` (closed case) or `duplicate` (receipt number already used).
    """
    roles = evidence_roles(session, scope, case)
    amount = _money(amount, "amount")
    receipt_no = required_text("receipt_no", receipt_no, 60)
    if isinstance(fee_id, bool) or not isinstance(fee_id, int):
        raise invalid_field("fee_id", N_("请选择收费项目"))
    require_case_staff(roles, N_("缴费"))
    _require_open(case)
    fee = session.scalars(
        select(Fee).where(Fee.id == fee_id, Fee.case_id == case.id).with_for_update()
    ).first()
    if fee is None:
        raise invalid_field("fee_id", N_("收费项目 %(fee_id)s 不属于该案件"), fee_id=fee_id)
    outstanding = fee.amount_due - fee_paid(session, fee.id)
    if amount > outstanding:
        raise invalid_field("amount", N_("缴费金额 %(amount)s 元超过该收费项目尚欠的 %(outstanding)s 元"), amount=amount, outstanding=outstanding)
    taken = session.scalar(
        select(func.count()).select_from(Payment).where(Payment.case_id == case.id,
                                                        Payment.receipt_no == receipt_no)
    )
    if taken:
        raise Conflict(N_("收据号 %(receipt_no)s 已在该案件中登记过"), code="duplicate",
                       details={"field": "receipt_no"}, receipt_no=receipt_no)
    payment = Payment(case_id=case.id, fee_id=fee.id, amount=amount, receipt_no=receipt_no,
                      recorded_by_id=user.id)
    session.add(payment)
    session.flush()
    return payment


def fee_paid(session: Session, fee_id: int) -> Decimal:
    """Sum of the payments made against a fee."""
    total = session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(Payment.fee_id == fee_id))
    return Decimal(total).quantize(Decimal("0.01"))


def fee_balances(session: Session, case: Case) -> dict[int, tuple[Decimal, Decimal]]:
    """fee id -> (paid, outstanding) for every fee of the case, in one query."""
    paid = dict(session.execute(
        select(Payment.fee_id, func.sum(Payment.amount)).where(Payment.case_id == case.id)
        .group_by(Payment.fee_id)
    ).all())
    out = {}
    for fee in session.scalars(select(Fee).where(Fee.case_id == case.id)):
        p = Decimal(paid.get(fee.id) or 0).quantize(Decimal("0.01"))
        out[fee.id] = (p, fee.amount_due - p)
    return out


def case_outstanding(session: Session, case: Case) -> Decimal:
    """What the family still owes on the case (all fees minus all payments)."""
    return sum((o for _, o in fee_balances(session, case).values()), Decimal("0.00"))


def _money(value, name: str) -> Decimal:
    try:
        if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
            raise InvalidOperation
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
        if not amount.is_finite() or amount.as_tuple().exponent < -2:
            raise InvalidOperation
    except InvalidOperation:
        raise invalid_field(name, N_("%(name)s必须是以元为单位、最多两位小数的金额，如 \"120.50\""), name=_named(name)) from None
    if amount <= 0:
        raise invalid_field(name, N_("%(name)s必须大于 0"), name=_named(name))
    if amount > MAX_AMOUNT:
        raise invalid_field(name, N_("%(name)s超过上限 %(max_amount)s"), name=_named(name), max_amount=MAX_AMOUNT)
    return amount.quantize(Decimal("0.01"))


# --- guardian contacts ------------------------------------------------------------------------


def add_contact(session: Session, scope: Scope, user: User, case: Case, *, contacted_at: dt.datetime,
                channel: str, notes: str | None = None) -> GuardianContact:
    """Log a contact with the guardian on an absence case.

    Late (`is_late`) when more than 30 minutes after the absence was reported: the
    `reported_at` of the student's unexcused mark on the day the case was opened, else the
    case's creation time (a case opened by hand).

    Raises NotFound, Invalid (not an absence case; contacted_at, channel), Forbidden,
    Conflict `invalid_state`.
    """
    roles = evidence_roles(session, scope, case)
    if case.process != "absence":
        raise invalid_field("case", N_("只有缺勤家访案件可以登记家长联系"))
    if not isinstance(contacted_at, dt.datetime) or contacted_at.tzinfo is None:
        raise invalid_field("contacted_at", N_("联系时间必须是带时区的 ISO 8601 时间"))
    if contacted_at > clock.now() + CLOCK_SKEW:
        raise invalid_field("contacted_at", N_("联系时间不能晚于当前时间"))
    if channel not in CONTACT_CHANNELS:
        raise invalid_field("channel", N_("联系方式必须是以下之一：%(choices)s"), choices=', '.join(CONTACT_CHANNELS))
    require_case_staff(roles, N_("家长联系"))
    _require_open(case)
    reported_at = absence_reported_at(session, case)
    contact = GuardianContact(case_id=case.id, contacted_at=contacted_at, channel=channel,
                              notes=_text(notes, name="notes"), is_late=contacted_at - reported_at > CONTACT_DEADLINE,
                              recorded_by_id=user.id)
    session.add(contact)
    session.flush()
    return contact


def absence_reported_at(session: Session, case: Case) -> dt.datetime:
    """When the absence that opened the case was reported (the start of the 30-minute window)."""
    reported = session.scalar(
        select(AttendanceRecord.reported_at).where(
            AttendanceRecord.student_id == case.student_id,
            AttendanceRecord.date == case.opened_on,
            AttendanceRecord.status == "unexcused",
        )
    )
    return reported or case.created_at or clock.now()


# --- small validators -------------------------------------------------------------------------


def _named(field: str) -> Msg | str:
    """A field as a message names it: its label ("备注"), never its key (`details.field` keeps
    the key for API clients); an unknown field as it is."""
    label = field_label(field)
    return Msg(label) if label else field


def _text(value, max_len: int | None = None, name: str = "notes") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_field(name, N_("%(name)s必须是文字"), name=_named(name))
    value = value.strip()
    if max_len and len(value) > max_len:
        raise invalid_field(name, N_("%(name)s超过 %(max_len)s 个字符"), name=_named(name), max_len=max_len)
    return value or None


def _unique_ints(values, name: str) -> list[int]:
    if not isinstance(values, (list, tuple)):
        raise invalid_field(name, N_("%(name)s必须是用户编号的列表"), name=_named(name))
    out: list[int] = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int):
            raise invalid_field(name, N_("%(name)s必须是用户编号的列表"), name=_named(name))
        if v not in out:
            out.append(v)
    return out
