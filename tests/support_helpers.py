"""Builders for the support tests (issue 15): an approved fee schedule, a class with a survey."""
from __future__ import annotations

from decimal import Decimal

from models import FeeItem, FeeSchedule


def publish_fee_schedule(session, school, items: dict[str, str], school_year: str = "2026-2027") -> FeeSchedule:
    """An approved (published) fee schedule of `school` listing `items` {name: amount}."""
    schedule = FeeSchedule(school_id=school.id, school_year=school_year, status="approved",
                           items=[FeeItem(name=n, amount=Decimal(a)) for n, a in items.items()])
    session.add(schedule)
    session.commit()
    return schedule
