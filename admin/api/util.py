"""Helpers shared by the API modules: error format, body parsing and field validation."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask import jsonify, request
from flask_babel import gettext as _

from workflow.errors import Invalid


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


class Field:
    """One expected field: kind is str|int|bool|date|datetime|decimal|list|dict."""

    def __init__(self, kind: str, required: bool = True, choices=None, nullable: bool = False,
                 max_len: int | None = None, item: Field | None = None, fields: dict | None = None):
        self.kind, self.required, self.choices = kind, required, choices
        self.nullable, self.max_len, self.item, self.fields = nullable, max_len, item, fields


def _bad(name: str, message: str):
    return Invalid(message, details={"field": name})


def _convert(name: str, f: Field, value):
    if value is None:
        if f.nullable or not f.required:
            return None
        raise _bad(name, _("字段 %(name)s 不能为空", name=name))
    if f.kind == "str":
        if not isinstance(value, str):
            raise _bad(name, _("字段 %(name)s 必须是字符串", name=name))
        value = value.strip()
        if f.required and not value:
            raise _bad(name, _("字段 %(name)s 不能为空", name=name))
        if f.max_len and len(value) > f.max_len:
            raise _bad(name, _("字段 %(name)s 超过 %(n)d 个字符", name=name, n=f.max_len))
    elif f.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(name, _("字段 %(name)s 必须是整数", name=name))
    elif f.kind == "bool":
        if not isinstance(value, bool):
            raise _bad(name, _("字段 %(name)s 必须是 true 或 false", name=name))
    elif f.kind == "date":
        try:
            value = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            value = None
        if value is None:
            raise _bad(name, _("字段 %(name)s 必须是有效日期（YYYY-MM-DD）", name=name))
    elif f.kind == "datetime":
        try:
            value = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            raise _bad(name, _("字段 %(name)s 必须是带时区的 ISO 8601 时间", name=name))
    elif f.kind == "decimal":
        try:
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise InvalidOperation
            value = Decimal(str(value))
            if not value.is_finite() or value < 0 or value.as_tuple().exponent < -2:
                raise InvalidOperation
        except InvalidOperation:
            raise _bad(name, _("字段 %(name)s 必须是以元为单位的金额，如 \"120.50\"", name=name)) from None
    elif f.kind == "list":
        if not isinstance(value, list):
            raise _bad(name, _("字段 %(name)s 必须是列表", name=name))
        if f.item is not None:
            value = [_convert(f"{name}[{i}]", f.item, v) for i, v in enumerate(value)]
    elif f.kind == "dict":
        if not isinstance(value, dict):
            raise _bad(name, _("字段 %(name)s 必须是对象", name=name))
        if f.fields is not None:
            value = validate(value, f.fields, prefix=f"{name}.")
    if f.choices is not None and value not in f.choices:
        raise _bad(name, _("字段 %(name)s 必须是以下之一：%(choices)s", name=name,
                           choices=", ".join(str(c) for c in f.choices)))
    return value


def validate(data: dict, spec: dict[str, Field], prefix: str = "") -> dict:
    """Check `data` against `spec`: unknown keys, missing required fields and wrong types are
    422 with a message naming the field. Returns the converted values of the keys present."""
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise Invalid(_("未知字段：%(name)s", name=prefix + unknown[0]), code="unknown_field",
                      details={"field": prefix + unknown[0]})
    out = {}
    for name, f in spec.items():
        if name not in data:
            if f.required:
                raise _bad(prefix + name, _("缺少必填字段：%(name)s", name=prefix + name))
            continue
        out[name] = _convert(prefix + name, f, data[name])
    return out
