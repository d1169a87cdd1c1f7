"""One JSON validator for the whole domain: the process data specs and the API's request bodies.

A spec maps each key of a JSON object to a `Field`: its kind — `str`, `int`, `bool`, `dt.date`
(an ISO string `YYYY-MM-DD` in JSON), `dt.datetime` (ISO 8601 with a time zone), `Decimal` (an
amount in yuan: a string or a whole number, at most two decimals), `dict` (any object), `list`,
or a nested spec `{key: field}` — whether it is required, whether null is accepted, its choices,
a string's maximal length, and the field each item of a list must satisfy.

The process definitions (`T.data_spec`, `Process.create_data_spec`) write their specs short:
a bare kind is an optional key, `Req(kind)` a required one, `OneOf(choices)` a string with
choices, `list[int]` / `list[str]` / `list[dict]` a list of such items, and a bare `str` is at
most 2000 characters. `as_field` spells a short form out.

`check_data` raises `FieldInvalid` (422, `details.field` naming the field). Its message is
Chinese; it keeps the catalogue id and values, so the API answers in the request's language.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from types import GenericAlias
from typing import Any

from workflow.errors import Invalid, Msg, invalid_field

DATA_TEXT_MAX = 2000

# The database's integer range (INTEGER on PostgreSQL and what SQLite's driver binds): an id,
# limit, offset or count outside it can only be wrong, and PostgreSQL would answer it with an error.
DB_INT_MIN, DB_INT_MAX = -(2**31), 2**31 - 1
# An amount column is NUMERIC(10, 2): at most 8 digits before the point.
AMOUNT_MAX = Decimal("99999999.99")
# A real date (a birth date, a visit, a sweep day): anything outside is a typo or an attack.
DATE_MIN, DATE_MAX = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
# Strict whole numbers: `str.isdigit()` and `int()` also accept "²", "１２", " 7 " and "1_000".
_INT_TEXT = re.compile(r"[+-]?[0-9]{1,20}")
# NUL (PostgreSQL refuses it in text), other C0/C1 controls and lone surrogates (not UTF-8).
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Single-line text (a name, a number, a code) also refuses line breaks and tabs.
_BAD_LINE_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")
# Text longer than this may span lines (notes, outcomes); shorter text is one line.
SINGLE_LINE_MAX = 200
JSON_MAX_DEPTH = 32


def N_(msgid: str) -> Msg:
    """Marks a message for the catalogue (pybabel's `N_` keyword): a `Msg`, the Chinese text that
    the edge shows in the user's language (workflow/errors.py:Msg)."""
    return Msg(msgid)


class FieldInvalid(Invalid):
    """422 naming one field; `msgid` and `values` let the edge translate the message."""

    def __init__(self, msgid: str, field: str, code: str | None = None, **values):
        self.msgid = msgid
        self.values = {"name": field, **values}
        super().__init__(msgid, code=code, details={"field": field}, **self.values)


@dataclass(frozen=True)
class Field:
    """One key of a spec. `nullable`: null is accepted (as None), and so is a blank string (as
    "") of an optional key; otherwise both are refused. `item`: the field (or short form) every
    item of a list meets."""

    kind: Any
    required: bool = True
    nullable: bool = False
    choices: tuple | None = None
    max_len: int | None = None
    item: Any = None


@dataclass(frozen=True)
class Req:
    """Short form: a required key of a process data spec."""

    kind: Any


@dataclass(frozen=True)
class OneOf:
    """Short form: a string that must be one of `choices`."""

    choices: tuple


def as_field(kind) -> Field:
    """The `Field` a spec value stands for: itself, or the spelled-out short form."""
    if isinstance(kind, Field):
        return kind
    if isinstance(kind, Req):
        return replace(as_field(kind.kind), required=True)
    if isinstance(kind, OneOf):
        return Field(str, required=False, choices=kind.choices)
    if kind is str:
        return Field(str, required=False, max_len=DATA_TEXT_MAX)
    if isinstance(kind, GenericAlias) and kind.__origin__ is list:
        return Field(list, required=False, item=kind.__args__[0])
    return Field(kind, required=False)


def spec_summary(spec: dict) -> str:
    """`key*, key` for the docs; * marks a required key."""
    return ", ".join(f"{k}{'*' if as_field(v).required else ''}" for k, v in spec.items())


def parse_int_text(raw, lo: int = DB_INT_MIN, hi: int = DB_INT_MAX) -> int | None:
    """`raw` (a query, form or cell text) as a whole number in `lo..hi` (by default the database's
    integer range), or None: only ASCII digits with an optional sign, nothing `int()` would also
    take ("²", full-width digits, "1_000", surrounding spaces are None)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _INT_TEXT.fullmatch(raw):
        value = int(raw)
    else:
        return None
    return value if lo <= value <= hi else None


def int_or_text(raw):
    """The whole number a form's text stands for (strictly, in the database's range), else the
    text unchanged, so that the validator names the field instead of the page failing."""
    value = parse_int_text(raw)
    return raw if value is None else value


def in_date_range(value: dt.date | None) -> dt.date | None:
    """`value` when it lies between DATE_MIN and DATE_MAX (a real date), else None."""
    if value is None:
        return None
    day = value.date() if isinstance(value, dt.datetime) else value
    return value if DATE_MIN <= day <= DATE_MAX else None


def parse_date_text(value) -> dt.date | None:
    """An ISO `YYYY-MM-DD` string between 1900-01-01 and 2100-12-31 as a date, else None."""
    try:
        parsed = dt.date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None
    return in_date_range(parsed)


def bad_text(value: str, single_line: bool = False) -> bool:
    """True when `value` holds a character no stored text may hold: NUL and other control
    characters (a line break and a tab are allowed unless `single_line`) and lone surrogates."""
    return bool((_BAD_LINE_CHARS if single_line else _BAD_CHARS).search(value))


def json_problem(data, max_depth: int = JSON_MAX_DEPTH) -> str | None:
    """What makes a parsed JSON document unacceptable, or None: nesting deeper than `max_depth`,
    or a key or string with NUL or a lone surrogate (both would fail in the database or in UTF-8,
    wherever they end up). Iterative, so a hostile document cannot exhaust the stack here."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value or _SURROGATE.search(value):
                return "text"
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                return "depth"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    stack.append((key, depth))
                stack.append((item, depth + 1))
    return None


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _parse_date(value) -> dt.date | None:
    return parse_date_text(value)


def _parse_datetime(value) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return in_date_range(parsed)


def _parse_amount(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > AMOUNT_MAX or amount.as_tuple().exponent < -2:
        return None
    return amount


def _convert(name: str, f: Field, value):
    if value is None:
        if f.nullable:
            return None
        raise FieldInvalid(N_("字段 %(name)s 不能为空"), name)
    kind = f.kind
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            raise FieldInvalid(N_("字段 %(name)s 必须是对象"), name)
        value = check_data(value, kind, prefix=f"{name}.")
    elif kind is str:
        if not isinstance(value, str):
            raise FieldInvalid(N_("字段 %(name)s 必须是字符串"), name)
        value = value.strip()
        if not value and (f.required or not f.nullable):
            raise FieldInvalid(N_("字段 %(name)s 不能为空"), name)
        if f.max_len and len(value) > f.max_len:
            raise FieldInvalid(N_("字段 %(name)s 超过 %(n)d 个字符"), name, n=f.max_len)
        # a name or number is one line; longer text (notes) may keep its line breaks
        if bad_text(value, single_line=f.max_len is not None and f.max_len <= SINGLE_LINE_MAX):
            raise FieldInvalid(N_("字段 %(name)s 含有不允许的控制字符"), name)
    elif kind is bool:
        if not isinstance(value, bool):
            raise FieldInvalid(N_("字段 %(name)s 必须是 true 或 false"), name)
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldInvalid(N_("字段 %(name)s 必须是整数"), name)
        if not DB_INT_MIN <= value <= DB_INT_MAX:
            raise FieldInvalid(N_("字段 %(name)s 超出允许的范围"), name)
    elif kind is dt.date:
        value = _parse_date(value)
        if value is None:
            raise FieldInvalid(N_("字段 %(name)s 必须是有效日期（YYYY-MM-DD，1900–2100 年之间）"), name)
    elif kind is dt.datetime:
        value = _parse_datetime(value)
        if value is None:
            raise FieldInvalid(N_("字段 %(name)s 必须是带时区的 ISO 8601 时间"), name)
    elif kind is Decimal:
        value = _parse_amount(value)
        if value is None:
            raise FieldInvalid(N_("字段 %(name)s 必须是以元为单位的金额，如 \"120.50\""), name)
    elif kind is dict:
        if not isinstance(value, dict):
            raise FieldInvalid(N_("字段 %(name)s 必须是对象"), name)
    elif kind is list:
        if not isinstance(value, list):
            raise FieldInvalid(N_("字段 %(name)s 必须是列表"), name)
        if f.item is not None:
            item = as_field(f.item)
            value = [_convert(f"{name}[{i}]", item, v) for i, v in enumerate(value)]
    else:
        raise TypeError(f"unsupported spec kind for {name}: {kind!r}")
    if f.choices is not None and value not in f.choices:
        raise FieldInvalid(N_("字段 %(name)s 必须是以下之一：%(choices)s"), name,
                           choices=", ".join(str(c) for c in f.choices))
    return value


def check_data(data, spec: dict, prefix: str = "data.") -> dict:
    """Validate the JSON object `data` (None counts as {}) against `spec`, naming fields with
    `prefix`. Returns the converted values of the keys present. Raises FieldInvalid (422) when
    `data` is not an object, has an unknown key (code `unknown_field`), lacks a required key, or
    a value is of the wrong type, blank, too long or not one of the choices."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FieldInvalid(N_("字段 %(name)s 必须是对象"), prefix.rstrip("."))
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise FieldInvalid(N_("未知字段：%(name)s"), prefix + unknown[0], code="unknown_field")
    out = {}
    for key, kind in spec.items():
        f = as_field(kind)
        if key not in data:
            if f.required:
                raise FieldInvalid(N_("缺少必填字段：%(name)s"), prefix + key)
            continue
        out[key] = _convert(prefix + key, f, data[key])
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


def required_text(field: str, value, max_len: int, *, what: Msg | None = None) -> str:
    """`value` stripped; Invalid naming `field` in `details` when it is not a non-empty string of
    at most `max_len` characters (the services' own check of a name, a relation, a phone
    number…). The message says `what` (what people call it: "第 2 个收费项目的名称") when given,
    else the key, which the pages replace by the field's label (workflow/fieldnames.py)."""
    if not isinstance(value, str) or not value.strip():
        if what is not None:
            raise invalid_field(field, N_("请填写%(what)s"), what=what)
        raise invalid_field(field, N_("字段 %(name)s 不能为空"), name=field)
    value = value.strip()
    if len(value) > max_len:
        if what is not None:
            raise invalid_field(field, N_("%(what)s不能超过 %(n)d 个字"), what=what, n=max_len)
        raise invalid_field(field, N_("字段 %(name)s 超过 %(n)d 个字符"), name=field, n=max_len)
    if bad_text(value, single_line=max_len <= SINGLE_LINE_MAX):
        if what is not None:
            raise invalid_field(field, N_("%(what)s含有不允许的控制字符"), what=what)
        raise invalid_field(field, N_("字段 %(name)s 含有不允许的控制字符"), name=field)
    return value
