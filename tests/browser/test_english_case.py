"""English mode in a real browser: a homeroom teacher switches to English in the footer and reads
a blocked suspension on a phone and a desktop — process, state, actions, why Submit is blocked and
the state diagram in English; only what people typed (the child's name, the reason) in Chinese."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, login, shot
from tests.ui.pages_support import new_suspension

pytestmark = pytest.mark.usefixtures("term")
IDEOGRAPH = re.compile(r"[\u3400-\u9fff]+")


@pytest.mark.parametrize("viewport, name", [(PHONE, "phone"), (DESKTOP, "desktop")])
def test_teacher_reads_a_blocked_suspension_in_english(world, factory, session, pages, viewport, name):
    student = factory.student(world.klass, world.village, name="李小明")
    session.commit()
    case = new_suspension(session, world, student)
    page = login(pages(viewport), "teacher")
    with page.expect_navigation():
        page.click("footer a:has-text('English')")
    page.goto(f"/cases/{case.id}")

    expect(page.locator("h1")).to_contain_text("Suspension")
    expect(page.locator(".state-badge")).to_have_text("Draft")
    submit = page.locator('[data-transition="submit"]')
    expect(submit).to_contain_text("Needs a record of the guardian coming to school in person")
    expect(submit).to_contain_text("Upload Grounds for suspension")
    expect(page.locator('button[data-fire="submit"]')).to_be_disabled()
    diagram = page.locator("svg.state-diagram")
    expect(diagram).to_have_attribute("aria-label", "Suspension process diagram")
    for state in ("Draft", "Submitted", "Reviewed by the academic office", "Suspended"):
        expect(diagram.locator("text", has_text=state).first).to_be_visible()
    # the diagram's and the actions' words carry no Chinese at all
    svg_text = " ".join(diagram.locator("text").all_text_contents())
    assert "Send back" in svg_text and IDEOGRAPH.findall(svg_text) == [], svg_text
    assert IDEOGRAPH.findall(submit.inner_text()) == []
    shot(page, f"english_case_{name}")
