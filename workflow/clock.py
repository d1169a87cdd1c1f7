"""School-local dates and times. Effective dates are school days in the school's time zone."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SCHOOL_TZ = ZoneInfo("Asia/Shanghai")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """Today in the schools' time zone (a 7:30 report in Beijing is not yesterday in UTC)."""
    return now().astimezone(SCHOOL_TZ).date()


def local_iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 with the school offset (+08:00), as the API promises."""
    if value is None:
        return None
    return value.astimezone(SCHOOL_TZ).isoformat()
