"""In a real browser, on a phone and a desktop (issue 12a): a one-office school's suspension
through to filing, the principal standing in for the blocked office approval; a return with its
fee, a refused amount, the payment and the printable receipt. Each step asserts what the person
sees, the confirmation texts included."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Case, Payment
from tests.browser.conftest import DESKTOP, PHONE, TODAY, login, no_horizontal_scroll, shot
from tests.ui.pages_support import add_suspension_evidence
from workflow.access.scope import scope_for
from workflow.cases import engine

VIEWPORTS = [pytest.param(PHONE, id="phone"), pytest.param(DESKTOP, id="desktop")]


@pytest.fixture
def student(world, factory, session):
    st = factory.student(world.klass, world.village, name="李小明")
    session.commit()
    return st


def _fire_with_confirmation(page, name: str, label: str):
    """Open the step's confirm box, read its question, confirm."""
    box = page.locator(f'details[data-confirm="{name}"]')
    box.locator("summary").click()
    expect(box.locator("[data-confirm-text]")).to_have_text(f"确定要「{label}」吗？办理后不能撤销。")
    with page.expect_navigation():
        box.locator(f'button[data-confirm-fire="{name}"]').click()
    expect(page.locator(".alert-success")).to_contain_text(f"已办理「{label}」")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_one_office_suspension_through_to_filing_with_the_principal_standing_in(
        world, student, session, pages, term, viewport):
    office = world["office"]
    case = engine.create_case(session, scope_for(session, office), office, "suspension", student.id,
                              {"start": "2026-10-15", "end": "2027-03-01", "reason": "住院治疗"}, today=TODAY)
    session.commit()
    add_suspension_evidence(session, world, case)
    size = "phone" if viewport is PHONE else "desktop"

    # the school's only academic office submits
    page = login(pages(viewport), "office")
    page.goto(f"/cases/{case.id}")
    expect(page.locator('[data-submitted="start"]')).to_have_text("2026-10-15")
    expect(page.locator('[data-submitted-label="end"]')).to_have_text("休学结束日期")
    expect(page.locator('[data-submitted="reason"]')).to_have_text("住院治疗")
    with page.expect_navigation():
        page.click('button[data-fire="submit"]')
    expect(page.locator(".alert-success")).to_contain_text("已办理「提交」")
    expect(page.locator('[data-transition="office_approve"]')).to_have_count(0)

    # the principal sees whose step it is, in the queue and on the page
    page = login(pages(viewport), "principal")
    page.goto("/queue")
    expect(page.locator("body")).to_contain_text("待教导处审核（代教导处）")
    page.goto(f"/cases/{case.id}")
    expect(page.locator('[data-stand-in="office_approve"]')).to_contain_text("提交人是本校唯一的教导处")
    expect(page.locator("[data-next-step]")).to_contain_text("教导处审核（代教导处）")
    assert no_horizontal_scroll(page)
    shot(page, f"flows-suspension-stand-in-{size}")
    _fire_with_confirmation(page, "office_approve", "教导处审核")
    expect(page.locator("[data-history-stand-in]")).to_have_text("代教导处办理")
    _fire_with_confirmation(page, "principal_approve", "校长审批")

    # the center office files it
    page = login(pages(viewport), "center_office")
    page.goto(f"/cases/{case.id}")
    _fire_with_confirmation(page, "center_file", "中心校备案")
    expect(page.locator(".state-badge")).to_have_text("休学中")
    expect(page.locator('[data-student-status="suspended"]')).to_be_visible()
    shot(page, f"flows-suspension-filed-{size}")


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_return_with_fee_refused_amount_payment_and_receipt(world, student, session, pages, term, viewport):
    office = world["office"]
    student.status = "dropped_out"
    session.commit()
    case = engine.create_case(session, scope_for(session, office), office, "return", student.id,
                              {"class_id": world.klass.id, "reason": "家长带回"}, today=TODAY)
    session.commit()
    size = "phone" if viewport is PHONE else "desktop"

    page = login(pages(viewport), "office")
    page.goto(f"/cases/{case.id}")
    expect(page.locator('[data-submitted="class_id"]')).to_have_text("东坡村小 三年级1班（2026-2027）")

    # a fee with a wrong amount: a Chinese message naming the field by its label
    page.locator("#fees summary", has_text="添加收费项目").click()
    page.fill("#fee-item", "课本费")
    page.fill("#fee-amount", "十二元")
    with page.expect_navigation():
        page.click('form[data-form="fee"] button[type=submit]')
    error = page.locator("[role=alert].alert-danger")
    expect(error).to_contain_text("应缴金额必须是以元为单位")
    expect(error).not_to_contain_text("amount_due")

    page.locator("#fees summary", has_text="添加收费项目").click()
    page.fill("#fee-item", "课本费")
    page.fill("#fee-amount", "120")
    with page.expect_navigation():
        page.click('form[data-form="fee"] button[type=submit]')
    expect(page.locator(".alert-success")).to_contain_text("收费项目已添加")
    expect(page.locator('[data-submitted="fees_due"]')).to_have_text("120.00 元")

    page.locator("#fees summary", has_text="登记缴费").click()
    page.fill("#pay-amount", "120")
    page.fill("#pay-receipt", "SJ-2026-001")
    with page.expect_navigation():
        page.click('form[data-form="payment"] button[type=submit]')
    expect(page.locator(".alert-success")).to_contain_text("缴费已登记")
    expect(page.locator('[data-submitted="fees_outstanding"]')).to_have_text("0.00 元")
    assert no_horizontal_scroll(page)
    shot(page, f"flows-return-paid-{size}")

    with page.expect_navigation():
        page.click("a[data-receipt-link]")
    expect(page.locator("body")).to_contain_text("SJ-2026-001")
    expect(page.locator("body")).to_contain_text("李小明")
    session.expire_all()
    assert session.scalar(select(Payment.receipt_no).where(Payment.case_id == case.id)) == "SJ-2026-001"
    assert session.get(Case, case.id).state == "draft"
