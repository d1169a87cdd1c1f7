"""Demo monthly reports (一月一报告, SPEC §3.9): a few months of the township's reports, reached by
real transitions of the demo accounts, so that every state of `monthly_report` has a case and the
county supervisor finds a report to review.

Branch 1 (office1/principal1): three months ago accepted and re-checked by the county, two months
ago signed and waiting for the county. The center school (office0): last month submitted,
waiting for its principal's signature. Branch 2 (office2): last month opened and not submitted
(overdue from the 5th school day of this month on).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy.orm import Session

from workflow.access.scope import scope_for
from workflow.cases import engine
from workflow.demo.township import DemoWorld
from workflow.reporting import monthly


def _submit_day(month: str, today: dt.date) -> dt.date:
    """The first weekday after the month, but never after today."""
    _start, end = monthly.month_bounds(month)
    day = end + dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return min(day, today)


def _report(session: Session, world: DemoWorld, n: int, month: str, steps: list[tuple[str, str]],
            today: dt.date):
    """Open school n's report of `month` as office{n} and fire `steps` [(user key, transition)]."""
    school = world.schools[n]
    office = world.users[f"office{n}"]
    day = _submit_day(month, today)
    case = engine.create_case(session, scope_for(session, office), office, monthly.PROCESS_NAME, None,
                              {"school_id": school.id, "month": month}, today=day)
    for key, name in steps:
        user = world.users[key.format(n=n)]
        data, comment = {}, None
        if name == "county_recheck":
            data = {"findings": [{"student_id": d["student_id"], "verified": True, "note": "已入户核实"}
                                 for d in monthly.reported_dropouts(case)]}
        engine.fire(session, scope_for(session, user), user, case.id, name, version=case.version, data=data,
                    comment=comment, today=day)
    return case


def seed_monthly_reports(session: Session, world: DemoWorld, *, today: dt.date) -> dict:
    """The demo township's monthly reports (see the module docstring). Returns {state: count}."""
    last = monthly.previous_month(monthly.month_of(today))
    two_ago, three_ago = monthly.previous_month(last), monthly.previous_month(monthly.previous_month(last))
    cases = [
        _report(session, world, 1, three_ago, [("office{n}", "submit"), ("principal{n}", "principal_approve"),
                                               ("supervisor", "county_accept"), ("supervisor", "county_recheck")],
                today),
        _report(session, world, 1, two_ago, [("office{n}", "submit"), ("principal{n}", "principal_approve")],
                today),
        _report(session, world, 0, last, [("office{n}", "submit")], today),
        _report(session, world, 2 if len(world.schools) > 2 else 1, last, [], today),
    ]
    session.flush()
    return dict(Counter(c.state for c in cases))
