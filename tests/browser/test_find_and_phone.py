"""Finding a child and reading the figures on a phone (issue 12), in a real browser: the center
head's drill-down (oversight → school → class → child) at 360 px and on a desktop, the search box,
error pages, the state diagram's text size; and each role's landing page at 360 and 1366 px.

With BAOXUE_UI_SHOTS=1 the landing screenshots are written to docs/ui/ (shown in docs/ui.md):
    BAOXUE_UI_SHOTS=1 .venv/bin/pytest -p no:randomly -q tests/browser/test_find_and_phone.py -k landing
otherwise to tests/browser/screenshots/.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, TODAY, login, no_horizontal_scroll, overflowing, shot
from workflow.cases import engine

pytestmark = pytest.mark.usefixtures("term")

ID_CARD = "110101201605010012"
WIDE = {"width": 1366, "height": 900}
DOCS_UI = Path(__file__).resolve().parents[2] / "docs" / "ui"
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}


@pytest.fixture
def pupil(world, factory, session):
    """A child with an overdue absence case at the second visit, in the branch school's class."""
    st = factory.student(world.klass, world.village, name="李小明", id_card_no=ID_CARD,
                         student_no="G" + ID_CARD, left_behind=True)
    factory.student(world.klass, world.village, name="王小红")
    case = engine.create_case_system(session, "absence", st.id, {"reason": "擅自离校"}, effective_date=TODAY)
    case.state, case.is_overdue, case.due_on = "visit_2", True, TODAY
    session.commit()
    return st


def _phone_menu(page):
    """On a phone the menu (with the search box) is folded behind the toggler."""
    toggler = page.locator("button.navbar-toggler")
    if toggler.is_visible():
        toggler.click()
        expect(page.locator("#nav")).to_be_visible()


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_center_head_drills_down_from_oversight_to_the_child(device, world, pupil, pages):
    page = login(pages(VIEWPORTS[device]), "center_head")
    assert page.url.endswith("/oversight")
    row = page.locator(f'tr[data-school="{world.branch.id}"]')
    loss_rate = row.locator('[data-col="loss-rate"]')
    expect(loss_rate).to_be_visible()
    expect(row.locator('[data-col="overdue"]')).to_contain_text("1")
    if device == "phone":
        # the table is a card per school: the loss rate is on screen, named, and nothing is clipped
        box = loss_rate.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1
        assert loss_rate.evaluate("e => getComputedStyle(e, '::before').content").strip('"') == "流失率"
        assert no_horizontal_scroll(page), overflowing(page)
    shot(page, f"drill-1-center-{device}")
    with page.expect_navigation():
        row.locator("a").first.click()
    expect(page.locator("h1")).to_have_text(world.branch.name)
    with page.expect_navigation():
        page.click(f'li[data-class="{world.klass.id}"] a')
    expect(page.locator("h1")).to_contain_text("三年级1班")
    expect(page.locator("li[data-case] strong")).to_have_text("李小明")
    with page.expect_navigation():
        page.click(f'a[data-student-link="{pupil.id}"]')
    expect(page.locator("h1")).to_contain_text("李小明")
    # the center head sees the numbers masked, the guardian, the flags, the enrolment and the case
    expect(page.locator("[data-id-card]")).to_have_text("110101********0012")
    expect(page.locator("[data-student-no]")).to_have_text("G110101********0012")
    expect(page.locator('[data-flag="left_behind"]')).to_have_text("留守儿童")
    expect(page.locator("#guardians")).to_contain_text("13800000000")
    expect(page.locator("#enrolments")).to_contain_text("至今")
    expect(page.locator("#cases")).to_contain_text("第二次家访")
    if device == "phone":
        assert no_horizontal_scroll(page), overflowing(page)
    shot(page, f"drill-4-student-{device}")


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_search_box_finds_a_child_by_full_id_number_and_shows_it_masked(device, world, pupil, pages):
    page = login(pages(VIEWPORTS[device]), "teacher")
    _phone_menu(page)
    page.fill('nav input[name="q"]', ID_CARD)
    with page.expect_navigation():
        page.press('nav input[name="q"]', "Enter")
    expect(page.locator("h1")).to_have_text("学生查询")
    result = page.locator(f'[data-student="{pupil.id}"]')
    expect(result).to_contain_text("李小明")
    expect(result.locator("[data-id-card]")).to_have_text("110101********0012")
    expect(page.locator("[data-search-results]")).not_to_contain_text("王小红")
    shot(page, f"search-{device}")
    # a part of the number finds nobody, and says why
    page.fill("#search-q-page", ID_CARD[:8])
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    expect(page.locator("[data-search-none]")).to_contain_text("学籍号和身份证号须输入完整")
    page.fill("#search-q-page", "小明")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    with page.expect_navigation():
        page.click(f'[data-student="{pupil.id}"]')
    expect(page.locator("h1")).to_contain_text("李小明")


def test_error_pages_are_chinese_pages_with_a_way_home(world, pupil, pages):
    page = login(pages(PHONE), "teacher")
    resp = page.goto("/cases/99999999")
    assert resp.status == 404
    expect(page.locator("h1")).to_contain_text("页面不存在")
    resp = page.goto("/logout")
    assert resp.status == 405
    expect(page.locator("[data-error='405'] h1")).to_contain_text("不能这样打开这个地址")
    expect(page.locator("main")).to_contain_text("请从页面上的链接或按钮进入")
    assert no_horizontal_scroll(page), overflowing(page)
    shot(page, "error-405-phone")
    with page.expect_navigation():
        page.click("text=返回首页")
    assert page.url.endswith("/queue")


def test_state_diagram_text_is_readable_on_a_phone(world, pupil, session, pages):
    from sqlalchemy import select

    from models import Case

    case_id = session.scalar(select(Case.id).where(Case.student_id == pupil.id))
    page = login(pages(PHONE), "teacher")
    page.goto(f"/cases/{case_id}")
    sizes = page.evaluate("""() => [...document.querySelectorAll('svg.state-diagram text')].map(
        t => t.getScreenCTM().a * parseFloat(getComputedStyle(t).fontSize))""")
    assert sizes and min(sizes) >= 12, sizes
    assert no_horizontal_scroll(page), overflowing(page)


LANDINGS = [  # (role, username, what the landing page's heading says)
    ("admin", "admin", None),
    ("county_supervisor", "supervisor", "各中心校控辍保学情况"),
    ("center_head", "center_head", "清水镇中心校"),
    ("center_office", "center_office", "清水镇中心校"),
    ("principal", "principal", "我的待办"),
    ("academic_office", "office", "我的待办"),
    ("homeroom_teacher", "teacher", "我的待办"),
    ("subject_teacher", "subject", "我的待办"),
    ("team_member", "team", "我的待办"),
    ("village_liaison", "liaison", None),
]


@pytest.mark.parametrize("width", [360, 1366])
@pytest.mark.parametrize("role, username, heading", LANDINGS)
def test_landing_page_of_each_role(role, username, heading, width, world, pupil, pages):
    page = login(pages(PHONE if width == 360 else WIDE), username)
    if heading:
        expect(page.locator("h1").first).to_contain_text(heading)
    else:  # 档案管理 (Flask-Admin) and the liaison's page have no page heading of that kind
        expect(page.locator("nav").first).to_contain_text("保学")
    expect(page.locator('input[name="q"]').first).to_be_attached()  # the search box is on every staff page
    if width == 360:
        assert no_horizontal_scroll(page), overflowing(page)
    if os.environ.get("BAOXUE_UI_SHOTS"):
        DOCS_UI.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS_UI / f"{role}-{width}.png"))
    else:
        shot(page, f"landing-{role}-{width}", full_page=False)
