"""Whose queue a monthly report is in (SPEC §3.9, issue 12): the school's academic office until it
is submitted; past its deadline and still a draft, the center school's too (center office and
center head, who fire none of its steps); once signed, the county supervisor's, to review."""
from __future__ import annotations

import datetime as dt

import pytest

from workflow import clock
from workflow.access import permissions
from workflow.access.scope import scope_for
from workflow.cases import engine, nextstep
from workflow.cases.queue import build_queue

NOV_2 = dt.date(2026, 11, 2)   # Monday: October is over
DUE = dt.date(2026, 11, 6)     # the 5th school day of November
LATE = dt.date(2026, 11, 9)


@pytest.fixture
def term(factory, world, session):
    factory.term(world.center)
    session.commit()


def open_report(session, world, school=None, who="office", month="2026-10"):
    user = world[who]
    case = engine.create_case(session, scope_for(session, user), user, "monthly_report", None,
                              {"school_id": (school or world.branch).id, "month": month}, today=NOV_2)
    session.commit()
    return case


def fire(session, world, who, case, name, **kw):
    user = world[who]
    case = engine.fire(session, scope_for(session, user), user, case.id, name, version=case.version,
                       today=NOV_2, **kw)
    session.commit()
    return case


def queue_of(session, world, who, today=LATE):
    user = world[who]
    return build_queue(session, scope_for(session, user), user, today=today)


def item_for(items, case):
    return next((i for i in items if i["id"] == case.id), None)


@pytest.mark.parametrize("who", ["center_office", "center_head"])
def test_the_center_school_sees_a_branch_report_once_it_is_overdue(session, world, term, who):
    case = open_report(session, world)
    assert item_for(queue_of(session, world, who, today=DUE), case) is None  # due today: not late yet
    item = item_for(queue_of(session, world, who), case)
    assert item is not None and item["overdue"] is True and item["due"] == DUE.isoformat()
    assert item["school_name"] == "东坡村小" and item["period"] == "2026-10"
    # they fire none of its steps: the line says what they are to do about it
    assert item["actions"] == [] and item["reason"] == "督促东坡村小提交 2026-10 的月报"


def _lines(session, world, who, case, day):
    user = world[who]
    now = dt.datetime.combine(day, dt.time(10), tzinfo=clock.SCHOOL_TZ)
    step, waiting = nextstep.lines_for(session, scope_for(session, user), user, case, now=now)
    return str(step), str(waiting)


def test_the_case_pages_line_says_the_same_duty_once_it_is_overdue(session, world, term):
    """`lines_for` (the case page, the report page, GET /cases/{id}) agrees with the queue."""
    case = open_report(session, world)
    assert _lines(session, world, "center_head", case, LATE) == ("督促东坡村小提交 2026-10 的月报", "")
    # not late yet: no duty, the center school reads whose step it waits for
    step, waiting = _lines(session, world, "center_head", case, DUE)
    assert step == "" and "提交月报" in waiting
    assert _lines(session, world, "office", case, LATE)[0] == "待提交月报"


def test_the_center_school_no_longer_sees_it_once_submitted(session, world, term):
    case = open_report(session, world)
    fire(session, world, "office", case, "submit")
    assert item_for(queue_of(session, world, "center_office"), case) is None
    assert item_for(queue_of(session, world, "center_head"), case) is None


def test_another_center_and_the_schools_teachers_do_not_see_it(session, world, term):
    case = open_report(session, world)
    for who in ("other_center_head", "teacher", "team"):
        assert item_for(queue_of(session, world, who), case) is None, who


def test_the_office_still_has_its_own_step_on_the_overdue_report(session, world, term):
    case = open_report(session, world)
    item = item_for(queue_of(session, world, "office"), case)
    assert item["actions"] == ["submit"] and item["reason"] == "待提交月报" and item["overdue"] is True


def test_the_county_supervisor_queue_lists_signed_reports_to_review(session, world, term):
    case = open_report(session, world)
    assert item_for(queue_of(session, world, "supervisor"), case) is None  # still with the school
    fire(session, world, "office", case, "submit")
    fire(session, world, "principal", case, "principal_approve")
    item = item_for(queue_of(session, world, "supervisor"), case)
    assert item is not None and sorted(item["actions"]) == ["county_accept", "county_send_back"]
    assert item["reason"] == "待县局接收或县局退回" and item["period"] == "2026-10"
    fire(session, world, "supervisor", case, "county_accept")
    assert item_for(queue_of(session, world, "supervisor"), case) is None


def test_a_county_supervisor_of_another_county_does_not_see_it(session, world, term, factory):
    county = factory.school("远山县教育局", "county")
    stranger = factory.user("stranger", "county_supervisor", school=county)
    case = open_report(session, world)
    fire(session, world, "office", case, "submit")
    fire(session, world, "principal", case, "principal_approve")
    assert build_queue(session, scope_for(session, stranger), stranger, today=LATE) == []


def test_the_county_supervisor_has_a_queue_page(session, world):
    assert permissions.may_use_queue(scope_for(session, world["supervisor"]))
    assert not permissions.may_use_queue(scope_for(session, world["admin"]))
