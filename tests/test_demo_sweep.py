"""The demo agrees with the daily sweep (issue 12): right after `demo-data` the oversight page
shows no missed sweep, and the sweep for the demo's today moves nothing but what that day's rules
move (SPEC §3.1): the case reported this morning climbs to its first rung when today is a school
day; on a day without school nothing changes at all."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from models import Case, CaseHistory, School, User
from models.sweeps import SchoolSweep
from workflow import clock
from workflow.absence.sweep import run_sweep
from workflow.absence.sweep_runs import sweep_status
from workflow.demo import DEMO_PASSWORD
from workflow.demo.cases import build_demo_cases
from workflow.demo.history import build_demo_history, finish_demo_history
from workflow.demo.township import HOLIDAYS, TERMS, build_demo_world
from workflow.org.calendar import SchoolCalendar

# A day late in term 1 (the demo's school year), never after the real today.
LATEST = min(clock.today(), dt.date(2026, 12, 11))


def _demo_school_day(day: dt.date) -> bool:
    """The demo calendar's rule (workflow/demo/township.py), without a database."""
    if not any(start <= day <= end for _n, start, end in TERMS):
        return False
    if any(day in workdays for *_h, workdays in HOLIDAYS):
        return True
    return day.weekday() < 5 and not any(first <= day <= last for _name, first, last, _w in HOLIDAYS)


def _snapshot(session) -> dict[int, tuple]:
    session.expire_all()
    return {c.id: (c.process, c.state, c.version, c.opened_on, c.created_by_id, c.due_on, bool(c.is_overdue),
                   (c.data or {}).get("missing_attendance_days") or [])
            for c in session.scalars(select(Case))}


def _history_count(session) -> int:
    return session.scalar(select(func.count()).select_from(CaseHistory))


def _sweep_changes(session, day: dt.date) -> tuple[dict, dict, list]:
    """The cases before and after the sweep for `day` (committed, as the CLI does), and the
    history rows it wrote."""
    before, rows_before = _snapshot(session), _history_count(session)
    last_row = session.scalar(select(func.max(CaseHistory.id)))
    run_sweep(session, date=day, commit=session.commit)
    after = _snapshot(session)
    assert _history_count(session) >= rows_before
    written = session.execute(select(CaseHistory.case_id, CaseHistory.transition, CaseHistory.to_state,
                                     CaseHistory.effective_date).where(CaseHistory.id > last_row)).all()
    return before, after, written


def _assert_only_the_days_rules_moved(before: dict, after: dict, written: list, day: dt.date,
                                      school_day: bool) -> None:
    assert after.keys() == before.keys(), "the sweep opened a case the demo's attendance does not explain"
    reported_today = {i for i, c in before.items()
                      if c[0] == "absence" and c[1] == "reported" and c[3] == day and c[4] is not None}
    assert reported_today, "the demo has no case reported on its today"
    if school_day:
        # after the sweep for the first day of absence the case is at visit_1 (SPEC §3.1)
        assert sorted(written) == sorted((i, "escalate", "visit_1", day) for i in reported_today)
    else:
        assert written == []
    for case_id, (process, state, _version, _opened, _by, due_on, overdue, missing) in before.items():
        if case_id in reported_today:
            continue
        now = after[case_id]
        assert now[1] == state, (case_id, process, state, now[1])
        if not school_day:
            assert now == before[case_id], (case_id, process, state)
            continue
        # a new school day: a duty due today that is still undone turns red, and a class whose
        # roll of today is not taken yet pauses the child's count (shown as missing)
        assert now[7] == missing or now[7] == [*missing, day.isoformat()], (case_id, now[7])
        if now[6] and not overdue:
            assert now[5] is not None and now[5] <= day, (case_id, process, state, now[5])
        if now[5] != due_on:
            assert process != "absence", (case_id, state, due_on, now[5])


def test_after_the_cli_demo_the_sweep_is_up_to_date_and_agrees(app, session, login):
    """`flask demo-data`, then what an operator would see and run on the same day."""
    result = app.test_cli_runner().invoke(args=["demo-data", "--seed", "7"])
    assert result.exit_code == 0, result.output
    today = clock.today()
    centers = list(session.scalars(select(School.id).where(School.kind == "center")))
    status = sweep_status(session, today=today, center_ids=centers)
    assert not status.is_late and status.last_date == today - dt.timedelta(days=1)
    schools = session.scalar(select(func.count()).select_from(School).where(School.kind != "county"))
    assert session.scalar(select(func.count()).select_from(SchoolSweep)) == schools

    head = session.scalars(select(User).where(User.username == "center_head")).one()
    html = login(head, DEMO_PASSWORD).get("/oversight").get_data(as_text=True)
    assert "最近一次每日清扫" in html
    assert "每日清扫尚未运行过" not in html and "未清扫" not in html

    calendar = SchoolCalendar.load(session, centers[0])
    before, after, written = _sweep_changes(session, today)
    _assert_only_the_days_rules_moved(before, after, written, today, calendar.is_school_day(today))


def test_on_the_other_kind_of_day_the_sweep_agrees_too(app, session):
    """The CLI test runs on whatever day it is; this one builds the demo for the latest day of
    the other kind (a school day when today has no school, and the reverse)."""
    wanted = not _demo_school_day(LATEST)
    day = LATEST
    while _demo_school_day(day) != wanted:
        day -= dt.timedelta(days=1)
    world = build_demo_world(session, seed=7, today=day)
    build_demo_history(session, world, store=app.config["UPLOAD_DIR"])
    build_demo_cases(session, world, today=day, store=app.config["UPLOAD_DIR"])
    finish_demo_history(session, world)
    session.commit()
    assert sweep_status(session, today=day, center_ids=[world.center.id]).missed == ()

    before, after, written = _sweep_changes(session, day)
    _assert_only_the_days_rules_moved(before, after, written, day, wanted)
    # and the sweep is idempotent on the demo: a second run changes nothing
    again_before, again_after, again = _sweep_changes(session, day)
    assert again == [] and again_after == again_before
