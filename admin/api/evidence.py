"""Case evidence API: visits, documents, fees, payments, guardian contacts; document download.

Each view: load the case in scope (404) → validate the body (422 naming the field) →
workflow.cases.evidence service (403 / 409 / 422) → 201. Files stored by a request that
fails are deleted when its transaction rolls back (workflow.cases.evidence pending files).
The `*_json` serializers are shared with the case detail.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from flask import current_app, jsonify, request
from flask_babel import gettext as _

from models import DOCUMENT_KINDS, VISIT_KINDS, Case, Document, Fee, GuardianContact, Payment, Visit
from workflow import clock
from workflow.access.scope import get_in_scope
from workflow.cases import evidence as services
from workflow.errors import Invalid
from workflow.validation import Field, parse_int_text

from ..extensions import db
from ..security import current_actor, current_scope
from ..storage import current_store
from ..views.files import send_document
from . import bp
from .openapi import DATE, ID, WRITE_ERRORS, array, integer, obj, op, path_param, string
from .util import json_body, multipart_form, validate

VISIT_FIELDS = {
    "date": Field(dt.date),
    "kind": Field(str, choices=VISIT_KINDS),
    "participant_ids": Field(list, item=Field(int)),
    "guardian_present": Field(bool),
    "notes": Field(str, required=False, nullable=True),
    "outcome": Field(str, required=False, nullable=True),
    "other_participants": Field(str, required=False, nullable=True, max_len=255),
}
FEE_FIELDS = {"item": Field(str, max_len=80), "amount_due": Field(Decimal)}
PAYMENT_FIELDS = {"fee_id": Field(int), "amount": Field(Decimal), "receipt_no": Field(str, max_len=60)}
CONTACT_FIELDS = {
    "contacted_at": Field(dt.datetime),
    "channel": Field(str, choices=services.CONTACT_CHANNELS),
    "notes": Field(str, required=False, nullable=True),
}


def _money(value) -> str:
    return f"{value:.2f}"


# --- serializers ------------------------------------------------------------------------------


def visit_json(v: Visit) -> dict:
    return {
        "id": v.id, "case_id": v.case_id, "date": v.date.isoformat(), "kind": v.kind,
        "guardian_present": v.guardian_present, "outcome": v.outcome, "notes": v.notes,
        "other_participants": v.other_participants,
        "participant_ids": [u.id for u in v.participants],
        "participants": [{"id": u.id, "name": u.name} for u in v.participants],
        "photo_document_id": v.photo_document_id, "created_by_id": v.created_by_id,
        "created_at": clock.local_iso(v.created_at),
    }


def document_json(d: Document) -> dict:
    return {
        "id": d.id, "case_id": d.case_id, "kind": d.kind, "original_name": d.original_name,
        "content_type": d.content_type, "size": d.size, "sha256": d.sha256,
        "uploaded_by_id": d.uploaded_by_id, "uploaded_at": clock.local_iso(d.uploaded_at),
        "url": f"/api/v1/documents/{d.id}",
    }


def fee_json(f: Fee, paid=None, outstanding=None) -> dict:
    """A fee; pass `paid`/`outstanding` from workflow.cases.evidence.fee_balances to include them."""
    out = {"id": f.id, "case_id": f.case_id, "item": f.item, "amount_due": _money(f.amount_due),
           "created_at": clock.local_iso(f.created_at)}
    if paid is not None:
        out["paid"] = _money(paid)
        out["outstanding"] = _money(outstanding)
    return out


def payment_json(p: Payment) -> dict:
    return {"id": p.id, "case_id": p.case_id, "fee_id": p.fee_id, "amount": _money(p.amount),
            "receipt_no": p.receipt_no, "recorded_by_id": p.recorded_by_id,
            "paid_at": clock.local_iso(p.paid_at)}


def contact_json(c: GuardianContact) -> dict:
    return {"id": c.id, "case_id": c.case_id, "contacted_at": clock.local_iso(c.contacted_at),
            "channel": c.channel, "notes": c.notes, "is_late": c.is_late,
            "recorded_by_id": c.recorded_by_id}


# --- views ------------------------------------------------------------------------------------


def _case(case_id: int) -> Case:
    return get_in_scope(db.session, current_scope(), Case, case_id)


def _upload_limits():
    """The configured file store and the largest accepted upload."""
    return current_store(), int(current_app.config["MAX_UPLOAD_BYTES"])


def _multipart(allowed_files: set[str]):
    """The form and files of a multipart request; a body over Flask's limit is 422 like any
    too-large file, and unknown file fields are 422."""
    return multipart_form(allowed_files)


def _visit_form(form) -> dict:
    """A multipart visit body turned into the JSON shape (participant_ids "3,5" or repeated)."""
    data: dict = {k: form.get(k) for k in form if k != "participant_ids"}
    if "guardian_present" in data:
        flag = (data["guardian_present"] or "").strip().lower()
        data["guardian_present"] = {"true": True, "1": True, "false": False, "0": False}.get(flag, flag)
    if "participant_ids" in form:
        ids = []
        for raw in form.getlist("participant_ids"):
            for part in raw.split(","):
                part = part.strip()
                if part:
                    number = parse_int_text(part)
                    ids.append(part if number is None else number)
        data["participant_ids"] = ids
    return data


@bp.post("/cases/<int:case_id>/visits")
def add_visit(case_id: int):
    """Log a visit (JSON, or multipart with an optional `photo`)."""
    case = _case(case_id)
    photo = None
    if request.mimetype == "multipart/form-data":
        form, files = _multipart({"photo"})
        body = validate(_visit_form(form), VISIT_FIELDS)
        if "photo" in files and files["photo"].filename != "":
            photo = services.Upload(files["photo"].filename, files["photo"].stream)
    else:
        body = validate(json_body(), VISIT_FIELDS)
    upload_dir, max_bytes = _upload_limits()
    visit = services.add_visit(db.session, current_scope(), current_actor(), case, photo=photo,
                               upload_dir=upload_dir, max_bytes=max_bytes, **body)
    return jsonify(visit_json(visit)), 201


@bp.post("/cases/<int:case_id>/documents")
def add_document(case_id: int):
    """Upload a PDF, JPEG, PNG, HEIC or DOCX (multipart: `file`, `kind`); the type is read from the content."""
    case = _case(case_id)
    if request.mimetype != "multipart/form-data":
        raise Invalid(_("请以 multipart/form-data 上传，字段 file 和 kind"), details={"field": "file"})
    form, files = _multipart({"file"})
    body = validate(form.to_dict(), {"kind": Field(str, choices=DOCUMENT_KINDS)})
    upload = files.get("file")
    if upload is None or upload.filename == "":
        raise Invalid(_("缺少必填字段：%(name)s", name="file"), details={"field": "file"})
    upload_dir, max_bytes = _upload_limits()
    doc = services.add_document(db.session, current_scope(), current_actor(), case, kind=body["kind"],
                                filename=upload.filename, stream=upload.stream,
                                upload_dir=upload_dir, max_bytes=max_bytes)
    return jsonify(document_json(doc)), 201


@bp.get("/documents/<int:doc_id>")
def get_document(doc_id: int):
    """Download a document of a case the user can see (404 otherwise)."""
    return send_document(doc_id)


@bp.post("/cases/<int:case_id>/fees")
def add_fee(case_id: int):
    """Add a fee the family owes; `amount_due` is a decimal string in yuan ("120.50")."""
    case = _case(case_id)
    body = validate(json_body(), FEE_FIELDS)
    fee = services.add_fee(db.session, current_scope(), current_actor(), case, **body)
    return jsonify(fee_json(fee, paid=0, outstanding=fee.amount_due)), 201


@bp.post("/cases/<int:case_id>/payments")
def add_payment(case_id: int):
    """Record a payment against a fee of this case; never more than is still due."""
    case = _case(case_id)
    body = validate(json_body(), PAYMENT_FIELDS)
    payment = services.add_payment(db.session, current_scope(), current_actor(), case, **body)
    return jsonify(payment_json(payment)), 201


@bp.post("/cases/<int:case_id>/contact")
def add_contact(case_id: int):
    """Log a guardian contact on an absence case; flagged late after 30 minutes."""
    case = _case(case_id)
    body = validate(json_body(), CONTACT_FIELDS)
    contact = services.add_contact(db.session, current_scope(), current_actor(), case, **body)
    return jsonify(contact_json(contact)), 201


# --- OpenAPI ----------------------------------------------------------------------------------

_MONEY = string(pattern=r"^\d+(\.\d{1,2})?$", example="120.50", description="金额，单位元")
_CASE = [path_param("case_id", "案件编号")]
_VISIT = obj({"id": ID, "case_id": ID, "date": DATE, "kind": string(enum=list(VISIT_KINDS)),
              "guardian_present": {"type": "boolean"}, "outcome": string(nullable=True),
              "notes": string(nullable=True), "other_participants": string(nullable=True),
              "participant_ids": array(ID), "participants": array(obj({"id": ID, "name": string()})),
              "photo_document_id": integer(nullable=True), "created_by_id": integer(nullable=True),
              "created_at": string("date-time")})
_DOCUMENT = obj({"id": ID, "case_id": ID, "kind": string(enum=list(DOCUMENT_KINDS)),
                 "original_name": string(), "content_type": string(enum=["application/pdf", "image/jpeg", "image/png"]),
                 "size": integer(), "sha256": string(), "uploaded_by_id": integer(nullable=True),
                 "uploaded_at": string("date-time"), "url": string()})
_FEE = obj({"id": ID, "case_id": ID, "item": string(), "amount_due": _MONEY, "paid": _MONEY,
            "outstanding": _MONEY, "created_at": string("date-time")})
_PAYMENT = obj({"id": ID, "case_id": ID, "fee_id": ID, "amount": _MONEY, "receipt_no": string(),
                "recorded_by_id": integer(nullable=True), "paid_at": string("date-time")})
_CONTACT = obj({"id": ID, "case_id": ID, "contacted_at": string("date-time"),
                "channel": string(enum=list(services.CONTACT_CHANNELS)), "notes": string(nullable=True),
                "is_late": {"type": "boolean"}, "recorded_by_id": integer(nullable=True)})
_VISIT_BODY = obj({"date": DATE, "kind": string(enum=list(VISIT_KINDS)), "participant_ids": array(ID),
                   "guardian_present": {"type": "boolean"}, "notes": string(nullable=True),
                   "outcome": string(nullable=True), "other_participants": string(nullable=True, maxLength=255)},
                  ["date", "kind", "participant_ids", "guardian_present"])


def _with_multipart(operation: dict, schema: dict) -> dict:
    operation["requestBody"]["content"]["multipart/form-data"] = {"schema": schema}
    return operation


_DOWNLOAD = op("下载材料（只对能看到其案件的用户）", params=[path_param("doc_id", "材料编号")],
               errors=(401, 404), tag="evidence")
_DOWNLOAD["responses"]["200"] = {
    "description": "文件内容（附件，文件名为上传时的原名），类型为上传时按内容识别的类型",
    "content": {t: {"schema": string("binary")} for t in ("application/pdf", "image/jpeg", "image/png")},
}

OPENAPI_PATHS = {
    "/api/v1/cases/{case_id}/visits": {"post": _with_multipart(op(
        "登记一次入户家访/家长到校面谈/电话联系/村校联合家访", ok=201, response=_VISIT, body=_VISIT_BODY,
        params=_CASE, errors=WRITE_ERRORS, tag="evidence",
        description="date 不能晚于今天，也不能早于立案前 30 天；participant_ids 至少一人，且须是该案学校"
                    "（或其中心校）、学生班级的教职工或学生所在村的联络员；notes 或 outcome 至少填写一项"
                    "（家访结果），否则 422；村委联络员只能登记 village_joint。也可用 multipart/form-data "
                    "提交同名字段并附 photo（JPEG/PNG）。已结束的案件返回 409 invalid_state。"),
        {"type": "object", "properties": {
            "date": DATE, "kind": string(enum=list(VISIT_KINDS)),
            "participant_ids": string(description="逗号分隔或重复字段"), "guardian_present": string(enum=["true", "false"]),
            "notes": string(), "outcome": string(), "other_participants": string(),
            "photo": string("binary")}, "required": ["date", "kind", "participant_ids", "guardian_present"]})},
    "/api/v1/cases/{case_id}/documents": {"post": {
        **op("上传材料（PDF、JPEG、PNG、HEIC、DOCX，按文件内容判断类型）", ok=201, response=_DOCUMENT, params=_CASE,
             errors=WRITE_ERRORS, tag="evidence",
             description="文件为空、超过大小上限（MAX_UPLOAD_BYTES，默认 10 MB）或不是 PDF/JPEG/PNG/HEIC/DOCX 返回 422。"),
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file", "kind"],
            "properties": {"file": string("binary"), "kind": string(enum=list(DOCUMENT_KINDS))}}}}},
    }},
    "/api/v1/documents/{doc_id}": {"get": _DOWNLOAD},
    "/api/v1/cases/{case_id}/fees": {"post": op(
        "添加收费项目", ok=201, response=_FEE, params=_CASE, errors=WRITE_ERRORS, tag="evidence",
        body=obj({"item": string(maxLength=80), "amount_due": _MONEY}, ["item", "amount_due"]),
        description="金额为大于 0、最多两位小数的十进制字符串。")},
    "/api/v1/cases/{case_id}/payments": {"post": op(
        "登记缴费", ok=201, response=_PAYMENT, params=_CASE, errors=WRITE_ERRORS, tag="evidence",
        body=obj({"fee_id": ID, "amount": _MONEY, "receipt_no": string(maxLength=60)},
                 ["fee_id", "amount", "receipt_no"]),
        description="fee_id 须是本案件的收费项目；金额不能超过该项目尚欠金额（422）；同一案件收据号不能重复"
                    "（409 duplicate）。")},
    "/api/v1/cases/{case_id}/contact": {"post": op(
        "登记与家长的联系（仅缺勤案件）", ok=201, response=_CONTACT, params=_CASE, errors=WRITE_ERRORS,
        tag="evidence",
        body=obj({"contacted_at": string("date-time"), "channel": string(enum=list(services.CONTACT_CHANNELS)),
                  "notes": string(nullable=True)}, ["contacted_at", "channel"]),
        description="晚于缺勤上报时间（reported_at）30 分钟的联系仍然登记，但标记为 is_late。")},
}
