"""Helpers shared by the API modules: error format, body parsing and field validation."""
from __future__ import annotations

import json
import re

from flask import jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from workflow.errors import Invalid
from workflow.validation import (
    DB_INT_MAX,
    JSON_MAX_DEPTH,
    FieldInvalid,
    bad_text,
    check_data,
    json_problem,
    parse_date_text,
    parse_int_text,
)

# A JSON body is read whole before it is parsed: no API call needs more than this.
JSON_MAX_BYTES = 1024 * 1024
_BRACKETS = re.compile(rb'"(?:[^"\\]|\\.)*"|[^\[\]{}]+')


def error_response(status: int, code: str, message: str, details: dict | None = None):
    resp = jsonify({"error": {"code": code, "message": message, "details": details or {}}})
    resp.status_code = status
    return resp


def _nesting_depth(raw: bytes) -> int:
    """The deepest bracket nesting of a JSON text, strings skipped: measured before parsing, as
    the parser itself would exhaust the stack on a body nested 50,000 deep."""
    depth = deepest = 0
    for bracket in _BRACKETS.sub(b"", raw):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def json_body() -> dict:
    """The request's JSON object. 422 `malformed_json` when the body is over JSON_MAX_BYTES,
    nested deeper than JSON_MAX_DEPTH, not JSON or not an object; 422 `invalid_text` when a key
    or string holds NUL or a lone surrogate (workflow/validation.py:json_problem)."""
    if (request.content_length or 0) > JSON_MAX_BYTES:
        raise Invalid(_("请求体过大"), code="malformed_json")
    raw = request.get_data(cache=True)
    if len(raw) > JSON_MAX_BYTES:
        raise Invalid(_("请求体过大"), code="malformed_json")
    if _nesting_depth(raw) > JSON_MAX_DEPTH:
        raise Invalid(_("请求体嵌套过深"), code="malformed_json")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        data = None
    if data is None:
        raise Invalid(_("请求体必须是有效的 JSON"), code="malformed_json")
    if not isinstance(data, dict):
        raise Invalid(_("请求体必须是 JSON 对象"), code="malformed_json")
    problem = json_problem(data)
    if problem == "depth":
        raise Invalid(_("请求体嵌套过深"), code="malformed_json")
    if problem:
        raise Invalid(_("请求体含有不允许的字符（NUL 或不成对的代理字符）"), code="invalid_text")
    return data


def to_int(raw, name: str, lo: int = 0, hi: int = DB_INT_MAX) -> int:
    """`raw` (query or form text) as a whole number in `lo..hi` (by default an id's range); 422
    naming `name` otherwise. Strict: only ASCII digits (workflow/validation.py:parse_int_text)."""
    value = parse_int_text(raw.strip() if isinstance(raw, str) else raw, lo, hi)
    if value is None:
        if parse_int_text(raw.strip() if isinstance(raw, str) else raw, -(2**63), 2**63) is not None:
            raise Invalid(_("参数 %(name)s 超出允许的范围", name=name), details={"field": name})
        raise Invalid(_("参数 %(name)s 必须是整数", name=name), details={"field": name})
    return value


def int_arg(name: str, required: bool = False) -> int | None:
    """An optional (or `required`) whole-number query parameter in the database's id range; 422
    naming it when it is missing, not a number or out of range."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        if required:
            raise Invalid(_("缺少必填字段：%(name)s", name=name), details={"field": name})
        return None
    return to_int(raw, name, lo=-DB_INT_MAX - 1)


def date_arg(name: str, default=None, required: bool = True):
    """A `YYYY-MM-DD` query parameter between 1900 and 2100; `default` when absent (422 when
    absent, `required` and without default)."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is not None or not required:
            return default
        raise Invalid(_("缺少必填字段：%(name)s", name=name), details={"field": name})
    value = parse_date_text(raw.strip())
    if value is None:
        raise Invalid(_("字段 %(name)s 必须是有效日期（YYYY-MM-DD，1900–2100 年之间）", name=name),
                      details={"field": name})
    return value


def paginate_args() -> tuple[int, int]:
    """`limit` (1–500, default 50) and `offset` (0 up to the database's integer range)."""
    raw_limit, raw_offset = request.args.get("limit", "50"), request.args.get("offset", "0")
    limit = parse_int_text(raw_limit.strip(), 1, 500)
    offset = parse_int_text(raw_offset.strip(), 0, DB_INT_MAX)
    if limit is None:
        raise Invalid(_("limit 须在 1–500 之间，offset 不能为负"), details={"field": "limit"})
    if offset is None:
        raise Invalid(_("limit 须在 1–500 之间，offset 不能为负"), details={"field": "offset"})
    return limit, offset


def check_query_text():
    """Before every API call: a query parameter (name or value) with NUL, another control
    character or a lone surrogate is refused with 422 before any handler passes it on."""
    for key, values in request.args.lists():
        for text in (key, *values):
            if bad_text(text, single_line=True):
                raise Invalid(_("参数 %(name)s 含有不允许的控制字符", name=key[:40]), details={"field": key[:40]})


def multipart_form(allowed_files: set[str], allowed_fields: set[str] | None = None):
    """The form and files of a multipart request. 422 when the body is over the upload limit,
    a part has no name, a field or file is unknown (`allowed_fields` None: any field), or a field
    holds a control character or NUL."""
    try:
        form, files = request.form, request.files
    except RequestEntityTooLarge:
        raise Invalid(_("字段 file：文件过大"), details={"field": "file"}) from None
    if any(not key for key in (*form, *files)):
        raise Invalid(_("表单中有未命名的字段"), details={"field": ""})
    unknown = sorted(set(files) - allowed_files)
    if allowed_fields is not None:
        unknown = unknown or sorted(set(form) - allowed_fields)
    if unknown:
        raise Invalid(_("未知字段：%(name)s", name=unknown[0]), code="unknown_field", details={"field": unknown[0]})
    for key, values in form.lists():
        if any(bad_text(v) for v in values):
            raise Invalid(_("参数 %(name)s 含有不允许的控制字符", name=key[:40]), details={"field": key[:40]})
    return form, files


def validate(data: dict, spec: dict) -> dict:
    """`workflow.validation.check_data` on a request body (field names without a prefix), its
    422 message in the request's language."""
    try:
        return check_data(data, spec, prefix="")
    except FieldInvalid as exc:
        raise Invalid(_(exc.msgid, **exc.values), code=exc.code, details=exc.details) from None


class DbIntConverter(IntegerConverter):
    """Registered for `int` on the whole app (admin/app.py): a path id beyond the database's
    integer range matches no route (404) instead of reaching a query that fails (500). The range
    is in the regex itself: werkzeug records a rule's other methods before it converts, so a value
    refused by `to_python` would answer 405 from a sibling rule (PATCH /users/<id>)."""

    # 0 … 2147483647, digit by digit
    regex = (r"(?:[0-9]{1,9}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}|2147[0-3][0-9]{5}"
             r"|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}|21474836[0-3][0-9]"
             r"|214748364[0-7])")

    def __init__(self, url_map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(url_map, fixed_digits=fixed_digits, min=min,
                         max=DB_INT_MAX if max is None else max, signed=signed)
