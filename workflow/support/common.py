"""Small checks the support services share: terms, amounts in yuan, dates, loading in scope."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from workflow.errors import N_, Msg, invalid_field
from workflow.org.services import check_school_year
from workflow.org.services import check_term as org_check_term

MAX_YUAN = Decimal("100000")


def check_term(school_year, term) -> tuple[str, int]:
    """A school year ("2026-2027") and a term (1 or 2). Raises Invalid naming the field."""
    check_school_year(school_year)
    return school_year, org_check_term(term)


def yuan(value, field: str, *, what: Msg) -> Decimal:
    """An amount in yuan: more than 0, at most two decimals, at most 100000. Raises Invalid
    naming `field` in details and saying `what` (the amount, a fee item's amount) to people."""
    try:
        if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
            raise InvalidOperation
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        if not amount.is_finite() or amount.as_tuple().exponent < -2:
            raise InvalidOperation
    except InvalidOperation:
        raise invalid_field(field, N_("%(what)s必须是以元为单位、最多两位小数的金额，如 \"120.50\""), what=what) from None
    if amount <= 0:
        raise invalid_field(field, N_("%(what)s必须大于 0"), what=what)
    if amount > MAX_YUAN:
        raise invalid_field(field, N_("%(what)s超过上限 %(max)s 元"), what=what, max=str(MAX_YUAN))
    return amount.quantize(Decimal("0.01"))


def past_date(value, field: str, today: dt.date, *, what: Msg) -> dt.date:
    """A date (or ISO string) not in the future. Raises Invalid naming `field` in details and
    saying `what` (the date granted, the session's date) to people."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise invalid_field(field, N_("%(what)s必须是有效日期（YYYY-MM-DD）"), what=what)
    if value > today:
        raise invalid_field(field, N_("%(what)s不能是将来的日期"), what=what)
    return value


def optional_text(value, field: str, max_len: int, *, what: Msg) -> str | None:
    """Stripped text or None; Invalid (naming `field` in details, saying `what` to people) when
    too long or not text."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_field(field, N_("%(what)s必须是文本"), what=what)
    value = value.strip()
    if len(value) > max_len:
        raise invalid_field(field, N_("%(what)s超过 %(n)d 个字符"), what=what, n=max_len)
    return value or None
