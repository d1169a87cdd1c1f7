"""Helpers shared by the API modules: error format, body parsing and field validation."""
from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from workflow.errors import Invalid
from workflow.validation import FieldInvalid, check_data


def error_response(status: int, code: str, message: str, details: dict | None = None):
    resp = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    resp.status_code = status
    return resp


def json_body() -> dict:
    """The request's JSON object, or 400 `malformed_json` / 422 when it is not an object."""
    data = request.get_json(silent=True)
    if data is None:
        raise Invalid(_("请求体必须是有效的 JSON"), code="malformed_json")
    if not isinstance(data, dict):
        raise Invalid(_("请求体必须是 JSON 对象"), code="malformed_json")
    return data


def int_arg(name: str) -> int | None:
    """An optional whole-number query parameter; 422 naming it when it is not a number."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise Invalid(_("参数 %(name)s 必须是整数", name=name), details={"field": name}) from None


def paginate_args() -> tuple[int, int]:
    try:
        limit = int(request.args.get("limit", 50))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise Invalid(_("limit 和 offset 必须是整数"), details={"field": "limit"}) from None
    if limit < 1 or limit > 500 or offset < 0:
        raise Invalid(_("limit 须在 1–500 之间，offset 不能为负"), details={"field": "limit"})
    return limit, offset


def validate(data: dict, spec: dict) -> dict:
    """`workflow.validation.check_data` on a request body (field names without a prefix), its
    422 message in the request's language."""
    try:
        return check_data(data, spec, prefix="")
    except FieldInvalid as exc:
        raise Invalid(_(exc.msgid, **exc.values), code=exc.code, details=exc.details) from None
