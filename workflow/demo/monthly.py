"""Demo monthly reports (一月一报告, SPEC §3.9): a year of the township's reports, reached by real
transitions of the demo accounts, so that the county's roll-up shows a township that reports on
time, every state of `monthly_report` has a case, and the county supervisor finds a report to
review.

Every school files the report of each of the 12 months before today's (the months the roll-up's
drill-down shows; its overview shows the last 6) on time, and the county accepts it: the school's
academic office opens and submits it on the first weekday after the month (the real `submit`
compiles and freezes the figures), its principal signs the next weekday, the county supervisor
accepts two weekdays later — never after the demo's today. Except these deliberate stories:

- Branch 1 (东岭村小学, office1/principal1): three months ago also re-checked by the county
  (一季度一复核); two months ago signed and waiting for the county (the supervisor's queue).
- The center school (office0): last month submitted, waiting for its principal's signature.
- Branch 2 (西溪村小学, office2): two months ago opened and never submitted — overdue since the 5th
  school day of last month: the roll-up's one late cell, and a duty in the center school's queue;
  last month not opened yet (late as well once its deadline, the 5th school day of this month,
  has passed).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy.orm import Session

from models import Case, User
from workflow.access.scope import Scope, scope_for
from workflow.cases import engine
from workflow.demo.township import DemoWorld
from workflow.reporting import monthly

MONTHS = 12  # the roll-up's drill-down (admin/views/monthly.py)
LATE_BRANCH = 2
ON_TIME = [("office{n}", "submit"), ("principal{n}", "principal_approve"), ("supervisor", "county_accept")]
# weekdays between a step and the one before it (the report is opened the day it is submitted)
STEP_DELAY = {"principal_approve": 1, "county_accept": 2, "county_recheck": 0}


def _weekdays_after(day: dt.date, count: int) -> dt.date:
    for _ in range(count):
        day += dt.timedelta(days=1)
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
    return day


def _submit_day(month: str, today: dt.date) -> dt.date:
    """The first weekday after the month, but never after today."""
    _start, end = monthly.month_bounds(month)
    return min(_weekdays_after(end, 1), today)


def _report(session: Session, world: DemoWorld, scopes: dict[int, Scope], n: int, month: str,
            steps: list[tuple[str, str]], today: dt.date) -> Case:
    """Open school n's report of `month` as office{n} and fire `steps` [(user key, transition)]."""

    def scope(user: User) -> Scope:
        if user.id not in scopes:
            scopes[user.id] = scope_for(session, user)
        return scopes[user.id]

    school = world.schools[n]
    office = world.users[f"office{n}"]
    day = _submit_day(month, today)
    case = engine.create_case(session, scope(office), office, monthly.PROCESS_NAME, None,
                              {"school_id": school.id, "month": month}, today=day)
    for key, name in steps:
        user = world.users[key.format(n=n)]
        day = min(_weekdays_after(day, STEP_DELAY.get(name, 0)), today)
        data = {}
        if name == "county_recheck":
            data = {"findings": [{"student_id": d["student_id"], "verified": True, "note": "已入户核实"}
                                 for d in monthly.reported_dropouts(case)]}
        engine.fire(session, scope(user), user, case.id, name, version=case.version, data=data, today=day)
    return case


def seed_monthly_reports(session: Session, world: DemoWorld, *, today: dt.date) -> dict:
    """The demo township's monthly reports (see the module docstring). Returns {state: count}."""
    last = monthly.previous_month(monthly.month_of(today))
    two_ago = monthly.previous_month(last)
    three_ago = monthly.previous_month(two_ago)
    stories: dict[tuple[int, str], list[tuple[str, str]] | None] = {
        (1, three_ago): [*ON_TIME, ("supervisor", "county_recheck")],
        (1, two_ago): ON_TIME[:2],
        (0, last): ON_TIME[:1],
        (LATE_BRANCH, two_ago): [],
        (LATE_BRANCH, last): None,  # not opened
    }
    scopes: dict[int, Scope] = {}
    cases = []
    for month in monthly.recent_months(today, MONTHS):
        for n in range(len(world.schools)):
            steps = stories.get((n, month), ON_TIME)
            if steps is not None:
                cases.append(_report(session, world, scopes, n, month, steps, today))
    session.flush()
    return dict(Counter(c.state for c in cases))
