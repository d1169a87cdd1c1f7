"""monthly_report (SPEC §3.9, 一月一报告) on the one engine: one per school and month, figures
compiled from the cases and frozen at submit, the principal signs (not the submitter), the county
of the school's county accepts, sends back or re-checks; overdue after the 5th school day."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import Case, Visit
from workflow.access import permissions
from workflow.access.scope import scope_for
from workflow.cases import engine, queue
from workflow.errors import Conflict, Forbidden, Invalid, NotFound
from workflow.processes import REGISTRY
from workflow.registers.reports import status_change_notice, weekly_report
from workflow.reporting import monthly

OCT_END = dt.date(2026, 10, 31)
NOV_2 = dt.date(2026, 11, 2)   # a Monday: the month of October is over
DUE = dt.date(2026, 11, 6)     # the 5th school day of November


@pytest.fixture
def term(factory, world, session):
    factory.term(world.center)
    session.commit()


def as_(session, user):
    return scope_for(session, user)


def open_report(session, world, month="2026-10", school=None, who="office", today=NOV_2):
    user = world[who]
    case = engine.create_case(session, as_(session, user), user, "monthly_report", None,
                              {"school_id": (school or world.branch).id, "month": month}, today=today)
    session.commit()
    return case


def fire(session, world, who, case, name, data=None, comment=None, today=NOV_2):
    user = world[who]
    try:
        out = engine.fire(session, as_(session, user), user, case.id, name, version=case.version, data=data,
                          comment=comment, today=today)
    except Exception:
        session.rollback()
        raise
    session.commit()
    return out


def suspected_absence(session, world, flow, opened=dt.date(2026, 10, 12), rungs=3):
    """An absence case of a branch child climbed `rungs` rungs by the sweep in October."""
    child = flow.student()
    case = engine.create_case(session, as_(session, world["office"]), world["office"], "absence", child.id,
                              {"reason": "未到校"}, today=opened)
    for i in range(rungs):
        engine.fire_system(session, case, "escalate", effective_date=opened + dt.timedelta(days=i + 1))
    session.commit()
    return child, case


def confirmed_dropout(session, world, flow, day=dt.date(2026, 10, 20)):
    child, case = suspected_absence(session, world, flow, opened=day - dt.timedelta(days=5), rungs=4)
    session.add(Visit(case_id=case.id, kind="village_joint", date=day, created_by_id=world["liaison"].id,
                      guardian_present=True, notes="村校联合家访"))
    session.commit()
    fire(session, world, "principal", case, "confirm_dropout", data={"reason_category": "厌学", "date": day.isoformat()},
         today=day)
    return child


def test_a_report_runs_submit_sign_accept(session, world, term):
    case = open_report(session, world)
    assert (case.student_id, case.class_id, case.school_id, case.period) == (None, None, world.branch.id, "2026-10")
    assert case.data["due"] == DUE.isoformat()
    fire(session, world, "office", case, "submit")
    assert case.state == "submitted" and case.data["figures"]["month"] == "2026-10"
    fire(session, world, "principal", case, "principal_approve")
    fire(session, world, "supervisor", case, "county_accept")
    assert case.state == "accepted" and not case.is_open


def test_figures_equal_those_computed_from_the_same_cases(session, world, flow, term):
    suspended = flow.bring("suspension", "suspended")           # filed on 2026-10-12
    flow.bring("transfer_out", "transferred")
    gone = confirmed_dropout(session, world, flow)
    child, _ = suspected_absence(session, world, flow)
    case = open_report(session, world)
    fire(session, world, "office", case, "submit")
    figures = case.data["figures"]

    office = as_(session, world["office"])
    _school, notice = status_change_notice(session, office, school_id=world.branch.id,
                                           date_from=dt.date(2026, 10, 1), date_to=OCT_END)
    by_kind = {}
    for item in notice:
        by_kind[item.kind] = by_kind.get(item.kind, 0) + 1
    assert {k: n for k, n in figures["status_changes"].items() if n} == by_kind
    assert by_kind == {"suspended": 1, "transferred_out": 1, "dropout": 1}
    # the suspected dropouts at the month's end: the weekly report's rungs 3+ for the last week
    week = weekly_report(session, office, school_id=world.branch.id, week_of=OCT_END)
    rung3 = week.total.ladder_by_rung["visit_3"] + week.total.ladder_by_rung["village_joint"]
    assert figures["counts"]["suspected_dropouts"] == rung3 == 1
    assert figures["counts"]["confirmed_dropouts"] == 1 and figures["counts"]["recoveries_opened"] == 1
    assert {(d["student_id"], d["kind"]) for d in figures["dropouts"]} == {(gone.id, "confirmed"),
                                                                         (child.id, "suspected")}
    assert suspended.student.name in {c["student_name"] for c in figures["changes"]}


def test_a_submitted_report_stays_unchanged_after_later_cases(session, world, flow, term):
    case = open_report(session, world)
    fire(session, world, "office", case, "submit")
    frozen = dict(case.data["figures"])
    # a dropout confirmed afterwards with an effective date in October
    confirmed_dropout(session, world, flow, day=dt.date(2026, 10, 28))
    session.expire_all()
    assert session.get(Case, case.id).data["figures"] == frozen
    assert frozen["counts"]["confirmed_dropouts"] == 0
    # compiled today, the month would read differently: the freeze is what kept it
    again = monthly.compile_figures(session, as_(session, world["office"]), world.branch, "2026-10")
    assert again["counts"]["confirmed_dropouts"] == 1


def test_the_submitter_may_not_sign(session, world, term):
    both = world["principal"]
    from tests.factories import Factory
    Factory(session).grant(both, "academic_office", school=world.branch)
    session.commit()
    case = open_report(session, world, who="principal")
    fire(session, world, "principal", case, "submit")
    with pytest.raises(Forbidden) as err:
        fire(session, world, "principal", case, "principal_approve")
    assert err.value.code == "separation_of_duties"
    names, _blocked = engine.available_transitions(session, as_(session, both), both, case)
    assert "principal_approve" not in names


def test_submit_waits_for_the_month_to_end(session, world, term):
    case = open_report(session, world, today=dt.date(2026, 10, 20))
    with pytest.raises(Conflict) as err:
        fire(session, world, "office", case, "submit", today=dt.date(2026, 10, 29))
    assert err.value.code == "guard_failed" and "本月尚未结束" in err.value.message
    # its last school day (Friday 30 October) is allowed as the effective date
    fire(session, world, "office", case, "submit", data={"date": "2026-10-30"}, today=dt.date(2026, 10, 30))
    assert case.state == "submitted"


def test_one_report_per_school_and_month(session, world, term):
    open_report(session, world)
    with pytest.raises(Conflict) as err:
        open_report(session, world)
    session.rollback()
    assert err.value.code == "duplicate"
    assert open_report(session, world, month="2026-09").period == "2026-09"


@pytest.mark.parametrize("data,error", [
    ({"school_id": None, "month": "2026-10"}, Invalid),
    ({"month": "2026-13"}, Invalid),
    ({"month": "十月"}, Invalid),
])
def test_bad_creation_data_is_refused(session, world, term, data, error):
    body = {"school_id": world.branch.id, **data}
    with pytest.raises(error):
        engine.create_case(session, as_(session, world["office"]), world["office"], "monthly_report", None, body,
                           today=NOV_2)
    session.rollback()
    assert session.scalar(select(Case.id).where(Case.process == "monthly_report")) is None


def test_only_the_schools_academic_office_opens_it(session, world, term):
    with pytest.raises(Forbidden):
        open_report(session, world, who="principal")
    session.rollback()
    with pytest.raises(NotFound):
        open_report(session, world, who="other_office")
    session.rollback()


def test_county_steps_only_for_the_county_of_the_school(session, world, factory, term):
    other_county = factory.school("远山县教育局", "county")
    stranger = factory.user("stranger", "county_supervisor", school=other_county)
    session.commit()
    case = open_report(session, world)
    fire(session, world, "office", case, "submit")
    fire(session, world, "principal", case, "principal_approve")
    with pytest.raises(NotFound):
        engine.fire(session, as_(session, stranger), stranger, case.id, "county_accept", version=case.version,
                    today=NOV_2)
    session.rollback()
    # the county of the school may not do the school's steps
    case2 = open_report(session, world, month="2026-09")
    with pytest.raises(Forbidden):
        fire(session, world, "supervisor", case2, "submit")


def test_county_sends_back_with_a_comment_and_the_school_resubmits(session, world, flow, term):
    case = open_report(session, world)
    fire(session, world, "office", case, "submit")
    fire(session, world, "principal", case, "principal_approve")
    with pytest.raises(Invalid):
        fire(session, world, "supervisor", case, "county_send_back")
    fire(session, world, "supervisor", case, "county_send_back", comment="转出学生缺少去向")
    assert case.state == "draft"
    flow.bring("transfer_out", "transferred")   # the school records what was missing
    fire(session, world, "office", case, "submit", today=dt.date(2026, 11, 3))
    assert case.data["figures"]["status_changes"]["transferred_out"] == 1


def test_county_recheck_records_a_finding_per_reported_dropout(session, world, flow, term):
    child, _ = suspected_absence(session, world, flow)
    case = open_report(session, world)
    fire(session, world, "office", case, "submit")
    fire(session, world, "principal", case, "principal_approve")
    fire(session, world, "supervisor", case, "county_accept")
    with pytest.raises(Conflict) as err:
        fire(session, world, "supervisor", case, "county_recheck", data={"findings": []})
    assert err.value.code == "guard_failed" and child.name in err.value.message
    with pytest.raises(Invalid) as bad:
        fire(session, world, "supervisor", case, "county_recheck",
             data={"findings": [{"student_id": child.id, "verified": True}, {"student_id": 999999, "verified": True}]})
    # the message counts the findings as a person does; the key is for the client only
    assert bad.value.details["field"] == "data.findings[1].student_id"
    assert bad.value.message == "第 2 条复核结论的学生不是本报告上报的辍学学生"
    fire(session, world, "supervisor", case, "county_recheck",
         data={"findings": [{"student_id": child.id, "verified": False, "note": "已入学外县"}]})
    assert case.state == "accepted"
    assert case.data["rechecks"][0]["findings"] == [{"student_id": child.id, "verified": False, "note": "已入学外县"}]


def test_overdue_after_the_fifth_school_day(session, world, term):
    case = open_report(session, world)
    due, overdue = queue.deadlines(session, [case], today=DUE)[case.id]
    assert (due, overdue) == (DUE, False)
    assert queue.deadlines(session, [case], today=DUE + dt.timedelta(days=1))[case.id] == (DUE, True)
    items = queue.build_queue(session, as_(session, world["office"]), world["office"], today=dt.date(2026, 11, 9))
    item = next(i for i in items if i["id"] == case.id)
    assert item["overdue"] and item["due"] == DUE.isoformat()


def test_rollup_marks_missing_and_late_reports(session, world, term):
    on_time = open_report(session, world)
    fire(session, world, "office", on_time, "submit", today=NOV_2)
    rows = monthly.rollup(session, as_(session, world["supervisor"]), months=["2026-10"], today=dt.date(2026, 11, 9))
    by_school = {r.school_id: r.cells[0] for r in rows}
    assert not by_school[world.branch.id].is_late
    assert by_school[world.branch2.id].is_overdue and by_school[world.branch2.id].case_id is None
    assert world.county.id not in by_school
    # before the deadline nothing is late
    rows = monthly.rollup(session, as_(session, world["supervisor"]), months=["2026-10"], today=DUE)
    assert not any(c.is_late for r in rows for c in r.cells)


def test_center_sees_its_branches_reports_and_not_another_centers(session, world, flow, term):
    case = open_report(session, world)
    assert flow.sees("center_head", case)
    assert not flow.sees("other_center_head", case)
    assert not flow.sees("teacher", case)


def test_the_county_fires_only_review_steps():
    for proc in REGISTRY.values():
        county = {t.name for t in proc.transitions if "county_supervisor" in t.roles}
        assert county == set(permissions.county_review_steps(proc))
        assert "county_supervisor" not in proc.create_roles
    assert permissions.county_review_steps(REGISTRY["monthly_report"]) == (
        "county_accept", "county_send_back", "county_recheck")


def test_the_deadline_follows_the_calendar_and_never_waits_for_the_next_term(session, world, factory):
    from models import CalendarDay
    from workflow.org.calendar import SchoolCalendar

    term = factory.term(world.center)
    session.add(CalendarDay(term_id=term.id, date=dt.date(2026, 11, 3), kind="holiday"))
    session.commit()
    calendar = SchoolCalendar.load(session, world.branch.id)
    # a holiday on 3 November moves the 5th school day to Monday 9 November
    assert monthly.due_date(calendar, "2026-10") == dt.date(2026, 11, 9)
    # July's report: August is the summer holiday, so its 5th weekday (not September's)
    assert monthly.due_date(calendar, "2026-07") == dt.date(2026, 8, 7)
    assert monthly.due_date(calendar, "2026-12") == dt.date(2027, 1, 7)
