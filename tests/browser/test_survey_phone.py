"""The anonymous class survey in a real browser (issue 15): the academic office opens it and
prints the slips; a child types a printed code on a 360 px phone, answers, and cannot answer twice."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from models import SurveyAnswer
from tests.browser.conftest import PHONE, login, no_horizontal_scroll, overflowing, shot

pytestmark = pytest.mark.usefixtures("term")


def test_a_child_answers_the_survey_from_a_printed_code_on_a_phone(world, factory, session, pages):
    for i in range(5):
        factory.student(world.klass, world.village, name=f"学生{i}")
    session.commit()

    office = login(pages(), "office")
    office.goto("/support/surveys")
    with office.expect_navigation():
        office.click("button[data-open-survey]")
    codes = office.locator("[data-code]").all_inner_texts()
    assert len(codes) == 5
    shot(office, "survey-slips")

    phone = pages(viewport=PHONE)
    phone.goto("/s")
    phone.fill("#code", codes[2].lower())
    with phone.expect_navigation():
        phone.click("button[data-start]")
    expect(phone.locator("fieldset[data-teacher]")).to_have_count(2)
    for group in phone.locator("fieldset[data-teacher] .scale").all():
        group.locator("label").nth(3).click()      # 4 同意
    assert no_horizontal_scroll(phone), overflowing(phone)
    shot(phone, "survey-phone-answer")
    with phone.expect_navigation():
        phone.click("button[data-submit]")
    expect(phone.locator("[data-done]")).to_be_visible()
    shot(phone, "survey-phone-done")

    phone.goto("/s")
    phone.fill("#code", codes[2])
    with phone.expect_navigation():
        phone.click("button[data-start]")
    expect(phone.locator("[data-error]")).to_contain_text("已经用过")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(SurveyAnswer)) == 1
