"""One JSON validator for the whole domain: the process data specs and the API's request bodies.

A spec maps a key to a type: `str`, `int`, `bool`, `dt.date` (an ISO string `YYYY-MM-DD` in
JSON), `list[int]`, `list[str]`, `dict` (any object), a nested spec `{key: type}`,
`OneOf(choices)`, or `Req(type)` for a required key. `check_data` raises Invalid (422) naming the
field.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from workflow.errors import Invalid


@dataclass(frozen=True)
class Req:
    """A required key of a data spec."""

    kind: Any


@dataclass(frozen=True)
class OneOf:
    """A string that must be one of `choices`."""

    choices: tuple


def _type_name(kind) -> str:
    if isinstance(kind, Req):
        return _type_name(kind.kind)
    if isinstance(kind, OneOf):
        return " | ".join(kind.choices)
    if isinstance(kind, dict):
        return "{" + ", ".join(f"{k}: {_type_name(v)}" for k, v in kind.items()) + "}"
    return {str: "字符串", int: "整数", bool: "true/false", dt.date: "日期", dict: "对象"}.get(
        kind, str(kind).replace("list[int]", "整数列表").replace("list[str]", "字符串列表"))


def spec_summary(spec: dict) -> str:
    """`key*: type` for the docs; * marks a required key."""
    return ", ".join(f"{k}{'*' if isinstance(v, Req) else ''}" for k, v in spec.items())


def _bad(name: str, message: str) -> Invalid:
    return Invalid(message, details={"field": name})


def _convert(name: str, kind, value):
    if isinstance(kind, Req):
        kind = kind.kind
    if value is None:
        raise _bad(name, f"字段 {name} 不能为空")
    if isinstance(kind, OneOf):
        if value not in kind.choices:
            raise _bad(name, f"字段 {name} 必须是以下之一：{', '.join(kind.choices)}")
        return value
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            raise _bad(name, f"字段 {name} 必须是对象")
        return check_data(value, kind, prefix=f"{name}.")
    if kind is str:
        if not isinstance(value, str) or not value.strip():
            raise _bad(name, f"字段 {name} 必须是非空字符串")
        if len(value) > 2000:
            raise _bad(name, f"字段 {name} 超过 2000 个字符")
        return value.strip()
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(name, f"字段 {name} 必须是整数")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise _bad(name, f"字段 {name} 必须是 true 或 false")
        return value
    if kind is dt.date:
        try:
            parsed = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise _bad(name, f"字段 {name} 必须是有效日期（YYYY-MM-DD）")
        return parsed
    if kind is dict:
        if not isinstance(value, dict):
            raise _bad(name, f"字段 {name} 必须是对象")
        return value
    if kind in (list[int], list[str], list[dict]):
        item = kind.__args__[0]
        if not isinstance(value, list):
            raise _bad(name, f"字段 {name} 必须是列表")
        if item is dict:
            if not all(isinstance(v, dict) for v in value):
                raise _bad(name, f"字段 {name} 的每一项必须是对象")
            return value
        return [_convert(f"{name}[{i}]", item, v) for i, v in enumerate(value)]
    raise TypeError(f"unsupported spec type for {name}: {kind!r}")


def check_data(data, spec: dict, prefix: str = "data.") -> dict:
    """Validate `data` against `spec`: not an object, unknown keys, missing required keys and
    wrong types raise Invalid (422) naming the field. Returns the converted values."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _bad(prefix.rstrip("."), f"字段 {prefix.rstrip('.')} 必须是对象")
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise Invalid(f"未知字段：{prefix}{unknown[0]}", code="unknown_field",
                      details={"field": prefix + unknown[0]})
    out = {}
    for key, kind in spec.items():
        if key not in data:
            if isinstance(kind, Req):
                raise _bad(prefix + key, f"缺少必填字段：{prefix}{key}")
            continue
        out[key] = _convert(prefix + key, kind, data[key])
    return out


def jsonable(value):
    """Parsed data back to what a JSON column stores (dates as ISO strings)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
