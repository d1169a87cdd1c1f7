"""The daily sweep beyond the ladder table: what it counts, the timed duties of other processes,
its query budget, the CLI command and sharding."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from workflow.absence.sweep import parse_shard, schools_to_sweep, sweep_school
from workflow.cases.effects import set_case_data
from workflow.errors import Invalid

from .ladder_helpers import (  # noqa: F401  (fixtures)
    NOW,
    absence_cases,
    day,
    fixed_clock_fixture,
    marks_fixture,
    sweep,
    term_fixture,
)

U, P = "unexcused", "present"


def test_summary_counts_only_what_this_run_changed(session, factory, world, marks):
    a, b, c = (factory.student(world.klass, world.village) for _ in range(3))
    session.commit()
    marks.record(world.klass, day(0), {a: U, b: U, c: U})
    first = sweep(session, day(0))
    assert first.as_dict() == {"opened": 0, "escalated": 3, "closed": 0, "overdue": 0}
    marks.record(world.klass, day(1), {a: U, b: U})  # c is back
    second = sweep(session, day(1))
    assert second.as_dict() == {"opened": 0, "escalated": 2, "closed": 1, "overdue": 2}
    assert sweep(session, day(1)).as_dict() == {"opened": 0, "escalated": 0, "closed": 0, "overdue": 0}


def test_a_date_in_the_future_is_refused(session, world, term):
    with pytest.raises(Invalid):
        sweep(session, NOW.date() + dt.timedelta(days=1))


def test_reading_marks_is_set_based_not_per_student(session, factory, world, marks, db):
    """A sweep with nothing to change issues as many statements for 8 absent pupils as for 2."""

    def statements_for(n):
        klass = factory.klass(world.branch, 5)
        pupils = [factory.student(klass, world.village) for _ in range(n)]
        session.commit()
        marks.record(klass, day(0), {p: U for p in pupils})
        sweep_school(session, world.branch.id, day(0))
        session.commit()
        count = [0]

        def counter(*_args, **_kw):
            count[0] += 1

        event.listen(db.engine, "before_cursor_execute", counter)
        try:
            sweep_school(session, world.branch.id, day(0))
            session.commit()
        finally:
            event.remove(db.engine, "before_cursor_execute", counter)
        return count[0], n

    small, _ = statements_for(2)
    large, _ = statements_for(8)  # 10 open cases now in the school
    assert large == small


# --- timed duties of other processes ---------------------------------------------------------------


def test_suspension_ending_within_14_days_is_due_and_past_its_end_overdue(session, flow, term):
    case = flow.bring("suspension", "suspended")
    set_case_data(case, end="2026-11-20")
    session.commit()
    sweep(session, dt.date(2026, 11, 5))  # 15 days before the end
    assert (case.due_on, case.is_overdue) == (None, False)
    sweep(session, dt.date(2026, 11, 6))
    assert (case.due_on, case.is_overdue) == (dt.date(2026, 11, 20), False)
    assert sweep(session, dt.date(2026, 11, 20)).overdue == 0  # the last day of the suspension
    summary = sweep(session, dt.date(2026, 11, 23))
    session.expire_all()
    assert (case.is_overdue, summary.overdue) == (True, 1)
    flow.fire("office", case, "resume")
    assert sweep(session, dt.date(2026, 11, 24)).overdue == 0


def test_transfer_out_not_confirmed_30_days_after_filing_is_overdue(session, flow, term):
    case = flow.bring("transfer_out", "transferred")  # filed on 2026-10-12
    sweep(session, dt.date(2026, 11, 10))
    assert (case.due_on, case.is_overdue) == (dt.date(2026, 11, 11), False)
    assert sweep(session, dt.date(2026, 11, 11)).overdue == 1
    session.expire_all()
    assert case.is_overdue


def test_transfer_in_not_accepted_by_the_next_school_day_is_overdue(session, flow, term):
    case = flow.bring("transfer_in", "submitted")  # opened Monday 2026-10-12
    sweep(session, dt.date(2026, 10, 12))
    assert (case.due_on, case.is_overdue) == (dt.date(2026, 10, 13), False)
    sweep(session, dt.date(2026, 10, 13))
    session.expire_all()
    assert case.is_overdue
    flow.fire("teacher", case, "accept")
    assert not case.is_open


def test_overdue_clears_when_the_duty_is_done(session, factory, world, marks):
    from .ladder_helpers import log_visit

    pupil = factory.student(world.klass, world.village)
    session.commit()
    marks.mark(pupil, day(0), U)
    marks.mark(pupil, day(1), "sick_leave")
    sweep(session, day(1))
    case = absence_cases(session, pupil)[0]
    assert case.is_overdue
    log_visit(session, world, case, day(1))
    sweep(session, day(2))
    case = absence_cases(session, pupil)[0]
    assert (case.state, case.is_overdue, case.due_on) == ("visit_1", False, None)


# --- partitioning and the CLI ----------------------------------------------------------------------


def test_shards_split_the_schools_without_overlap(session, world):
    all_ids = schools_to_sweep(session)
    shards = [schools_to_sweep(session, shard=(k, 3)) for k in range(3)]
    assert sorted(sum(shards, [])) == all_ids
    assert world.county.id not in all_ids


@pytest.mark.parametrize("text", ["3/3", "a/b", "1", "-1/2"])
def test_bad_shard_is_refused(text):
    with pytest.raises(Invalid):
        parse_shard(text)


def test_cli_sweeps_and_prints_a_chinese_summary(app, session, factory, world, marks):
    pupil = factory.student(world.klass, world.village)
    session.commit()
    marks.mark(pupil, day(0), U)
    result = app.test_cli_runner().invoke(args=["sweep", "--date", day(0).isoformat()])
    assert result.exit_code == 0, result.output
    assert "清扫完成" in result.output and "升级 1 件" in result.output
    session.expire_all()
    assert absence_cases(session, pupil)[0].state == "visit_1"
    again = app.test_cli_runner().invoke(args=["sweep", "--date", day(0).isoformat(),
                                               "--school-id", str(world.branch.id)])
    assert again.exit_code == 0 and "1 所学校" in again.output and "升级 0 件" in again.output


def test_cli_shard_and_bad_input(app, session, world, term):
    runner = app.test_cli_runner()
    n = len(schools_to_sweep(session, shard=(0, 2)))
    ok = runner.invoke(args=["sweep", "--date", day(0).isoformat(), "--shard", "0/2"])
    assert ok.exit_code == 0 and f"{n} 所学校" in ok.output
    assert runner.invoke(args=["sweep", "--date", "2026-13-01"]).exit_code != 0
    assert runner.invoke(args=["sweep", "--date", day(0).isoformat(), "--shard", "2/2"]).exit_code != 0
    future = runner.invoke(args=["sweep", "--date", (NOW.date() + dt.timedelta(days=3)).isoformat()])
    assert future.exit_code != 0 and "尚未到来" in future.output

