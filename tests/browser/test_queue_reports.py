"""我的待办 for the monthly report in the browser (issue 12), on a phone and a desktop: the center
office finds a branch school's overdue October report in its queue (which school, which month,
due when) and opens it; the county supervisor finds the signed report waiting for its review.
Screenshots: tests/browser/screenshots/queue-report-*.png."""
from __future__ import annotations

import datetime as dt

import pytest

from workflow import clock
from workflow.access.scope import scope_for
from workflow.cases import engine

from .conftest import DESKTOP, PHONE, login, no_horizontal_scroll, overflowing, shot

NOW = dt.datetime(2026, 11, 9, 10, 0, tzinfo=clock.SCHOOL_TZ)   # Monday: past the 11-06 deadline
OPENED = dt.date(2026, 11, 2)


@pytest.fixture(autouse=True)
def school_clock(monkeypatch):
    """This module's day: after the deadline of October's reports."""
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))
    return NOW


def open_report(session, world, school):
    office = world["office"]
    case = engine.create_case(session, scope_for(session, office), office, "monthly_report", None,
                              {"school_id": school.id, "month": "2026-10"}, today=OPENED)
    session.commit()
    return case


def fire(session, user, case, name):
    engine.fire(session, scope_for(session, user), user, case.id, name, version=case.version, today=OPENED)
    session.commit()


def go_to_queue(page, viewport):
    """Through the navigation bar as a user would: the count badge beside the folded menu on a
    phone, the menu's 我的待办 on a desktop."""
    link = page.locator('[data-count="queue-phone"]') if viewport is PHONE else page.locator('[data-nav="queue"]')
    with page.expect_navigation():
        link.click()
    assert page.url.endswith("/queue")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_center_office_opens_the_overdue_branch_report_from_its_queue(pages, world, term, session, viewport):
    case = open_report(session, world, world.branch)
    page = login(pages(viewport), "center_office")
    go_to_queue(page, viewport)
    item = page.locator(f'[data-case="{case.id}"]')
    text = item.inner_text()
    assert "东坡村小" in text and "2026-10" in text and "督促东坡村小提交 2026-10 的月报" in text
    assert "已逾期（应于 2026-11-06 前办理）" in text and text.count("2026-11-06") == 1
    assert "overdue-item" in (item.get_attribute("class") or "")
    assert no_horizontal_scroll(page), overflowing(page)
    shot(page, f"queue-report-center-{'phone' if viewport is PHONE else 'desktop'}")
    with page.expect_navigation():
        item.locator("a").click()
    assert page.url.endswith(f"/monthly/{case.id}")
    assert "2026-10" in page.inner_text("main")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_county_supervisor_sees_the_report_waiting_for_review(pages, world, term, session, viewport):
    case = open_report(session, world, world.branch)
    fire(session, world["office"], case, "submit")
    fire(session, world["principal"], case, "principal_approve")
    page = login(pages(viewport), "supervisor")
    go_to_queue(page, viewport)
    item = page.locator(f'[data-case="{case.id}"]')
    text = item.inner_text()
    assert "东坡村小" in text and "2026-10" in text and "待县局接收或县局退回" in text
    assert no_horizontal_scroll(page), overflowing(page)
    shot(page, f"queue-report-county-{'phone' if viewport is PHONE else 'desktop'}")
    with page.expect_navigation():
        item.locator("a").click()
    assert page.url.endswith(f"/monthly/{case.id}")
    assert page.is_visible('[data-step="county_accept"]')
