"""Small checks the support services share: terms, amounts in yuan, dates, loading in scope."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from workflow.errors import N_, invalid_field
from workflow.org.services import check_school_year

MAX_YUAN = Decimal("100000")


def check_term(school_year, term) -> tuple[str, int]:
    """A school year ("2026-2027") and a term (1 or 2). Raises Invalid naming the field."""
    check_school_year(school_year)
    if isinstance(term, bool) or term not in (1, 2):
        raise invalid_field("term", N_("字段 term 必须是 1 或 2（第一、第二学期）"))
    return school_year, term


def yuan(value, field: str) -> Decimal:
    """An amount in yuan: more than 0, at most two decimals, at most 100000. Raises Invalid."""
    try:
        if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
            raise InvalidOperation
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        if not amount.is_finite() or amount.as_tuple().exponent < -2:
            raise InvalidOperation
    except InvalidOperation:
        raise invalid_field(field, f"字段 {field} 必须是以元为单位、最多两位小数的金额，如 \"120.50\"") from None
    if amount <= 0:
        raise invalid_field(field, f"字段 {field} 必须大于 0")
    if amount > MAX_YUAN:
        raise invalid_field(field, f"字段 {field} 超过上限 {MAX_YUAN}")
    return amount.quantize(Decimal("0.01"))


def past_date(value, field: str, today: dt.date) -> dt.date:
    """A date (or ISO string) not in the future. Raises Invalid."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise invalid_field(field, f"字段 {field} 必须是有效日期（YYYY-MM-DD）")
    if value > today:
        raise invalid_field(field, f"字段 {field} 不能是将来的日期")
    return value


def optional_text(value, field: str, max_len: int) -> str | None:
    """Stripped text or None; Invalid when too long or not text."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_field(field, f"字段 {field} 必须是文本")
    value = value.strip()
    if len(value) > max_len:
        raise invalid_field(field, f"字段 {field} 超过 {max_len} 个字符")
    return value or None
