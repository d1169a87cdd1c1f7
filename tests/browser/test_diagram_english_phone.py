"""The state diagram in English on a 360 px phone (issue 12): about as wide as the Chinese one
(long names wrap inside their boxes), and every word of it at a readable size (≥ 12 px on
screen, as tests/browser/test_find_and_phone.py measures the Chinese one)."""
from __future__ import annotations

import pytest

from tests.browser.conftest import PHONE, login, shot
from tests.ui.pages_support import new_suspension

pytestmark = pytest.mark.usefixtures("term")

SIZES = """() => [...document.querySelectorAll('svg.state-diagram text')].map(
    t => t.getScreenCTM().a * parseFloat(getComputedStyle(t).fontSize))"""
WIDTH = "() => document.querySelector('svg.state-diagram').getBoundingClientRect().width"


def test_english_diagram_on_a_phone_is_readable_and_about_as_wide_as_the_chinese(world, factory, session, pages):
    student = factory.student(world.klass, world.village, name="李小明")
    session.commit()
    case = new_suspension(session, world, student)
    page = login(pages(PHONE), "teacher")
    page.goto(f"/cases/{case.id}")
    chinese = page.evaluate(WIDTH)
    with page.expect_navigation():
        page.click("footer a:has-text('English')")
    page.goto(f"/cases/{case.id}")
    diagram = page.locator("svg.state-diagram")
    assert "Reviewed by the academic office" in " ".join(diagram.locator("text").all_text_contents())
    sizes = page.evaluate(SIZES)
    assert sizes and min(sizes) >= 12, sizes
    assert page.evaluate(WIDTH) <= 1.3 * chinese, (page.evaluate(WIDTH), chinese)
    diagram.scroll_into_view_if_needed()
    shot(page, "english_diagram_phone", full_page=False)
