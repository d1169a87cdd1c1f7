"""The monthly report in the browser (SPEC §3.9, issue 14): the school's academic office opens and
submits October's report, the principal signs, the county sends it back with a comment, the
school resubmits, the principal signs again and the county accepts. Screenshots:
tests/browser/screenshots/monthly-*.png."""
from __future__ import annotations

import datetime as dt

import pytest

from models import Case
from workflow import clock

from .conftest import login, shot

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=clock.SCHOOL_TZ)   # Monday: October is over


@pytest.fixture(autouse=True)
def school_clock(monkeypatch):
    """This module's day: the first school day after the month reported on."""
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))
    return NOW


def logout(page):
    # the navigation bar holds a search form too: press the one that signs out
    with page.expect_navigation():
        page.click("form[data-nav=logout] button[type=submit]")


def step(page, name: str):
    form = f'form[data-step="{name}"]'
    if page.locator(f"{form} details[data-confirm]").count():
        # signing and accepting are final: the first button only asks
        page.click(f"{form} summary[data-fire]")
        assert "办理后不能撤销" in page.inner_text(f"{form} [data-confirm-text]")
        button = f"{form} [data-confirm-fire]"
    else:
        button = f"{form} button[type=submit]"
    with page.expect_navigation():
        page.click(button)


def test_submit_sign_send_back_resubmit_accept(pages, world, term, session):
    page = login(pages(), "office")
    page.goto("/monthly/")
    page.fill("#month", "2026-10")
    with page.expect_navigation():
        page.click("form[data-open-report] button[type=submit]")
    assert "2026-11-06" in page.inner_text("main")   # the deadline: 5th school day of November
    step(page, "submit")
    assert page.get_attribute("[data-state]", "data-state") == "submitted"
    assert page.is_visible("[data-figures]")
    shot(page, "monthly-1-submitted")
    case_id = session.query(Case).filter_by(process="monthly_report").one().id
    logout(page)

    login(page, "principal")
    page.goto(f"/monthly/{case_id}")
    step(page, "principal_approve")
    assert page.get_attribute("[data-state]", "data-state") == "signed"
    logout(page)

    login(page, "supervisor")
    page.goto("/monthly/")
    shot(page, "monthly-2-county-review")
    with page.expect_navigation():
        page.click(f'[data-review-case="{case_id}"]')
    page.fill('form[data-step="county_send_back"] textarea', "转出学生缺少去向，请补充后重报")
    step(page, "county_send_back")
    assert page.get_attribute("[data-state]", "data-state") == "draft"
    logout(page)

    login(page, "office")
    page.goto(f"/monthly/{case_id}")
    assert "转出学生缺少去向" in page.inner_text("[data-sent-back]")
    shot(page, "monthly-3-sent-back")
    step(page, "submit")
    logout(page)
    login(page, "principal")
    page.goto(f"/monthly/{case_id}")
    step(page, "principal_approve")
    logout(page)

    login(page, "supervisor")
    page.goto(f"/monthly/{case_id}")
    step(page, "county_accept")
    assert page.get_attribute("[data-state]", "data-state") == "accepted"
    assert page.is_visible("[data-recheck-form]")
    shot(page, "monthly-4-accepted")
    page.goto("/monthly/")
    assert page.get_attribute(f'[data-school="{world.branch.id}"] [data-month="2026-10"]', "data-late") == "no"
    shot(page, "monthly-5-rollup")
    session.expire_all()
    history = [h.transition for h in session.get(Case, case_id).history]
    assert history == ["create", "submit", "principal_approve", "county_send_back", "submit", "principal_approve",
                       "county_accept"]
