"""In a real browser (issue 13): the academic office imports a roster, sees the bad rows, fixes the
file, imports it, then previews and runs the school-year rollover."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import func, select

from models import SchoolClass, Student
from tests.api.test_roster_import import row, xlsx
from tests.browser.conftest import login, shot

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _count(session, stmt):
    session.expire_all()
    return session.scalar(stmt)


def test_office_imports_a_roster_fixes_it_and_rolls_the_year_over(world, session, pages):
    page = login(pages(), "office")
    page.click("#nav-registers")
    with page.expect_navigation():
        page.click('a[data-nav="school-year"]')
    expect(page.locator("h1")).to_contain_text("学籍名册与学年升级")

    # 1. a file with two bad rows: the report names them, nothing is written
    bad = xlsx([row(1), row(2, 户籍村="河口村"), row(3, 班级="三年级9班"), row(4)])
    page.set_input_files("#roster-file", files=[{"name": "名册.xlsx", "mimeType": XLSX, "buffer": bad}])
    with page.expect_navigation():
        page.click("button[data-check]")
    errors = page.locator("table[data-errors] tbody tr")
    expect(errors).to_have_count(2)
    expect(page.locator('tr[data-row="3"]')).to_contain_text("河口村")
    expect(page.locator('tr[data-row="4"]')).to_contain_text("三年级9班")
    expect(page.locator("button[data-import-all]")).to_have_count(0)
    shot(page, "school-year-roster-bad-rows")
    assert _count(session, select(func.count()).select_from(Student)) == 0

    # 2. the fixed file: a clean report, then the import
    good = xlsx([row(1), row(2), row(3), row(4)])
    page.set_input_files("#roster-file", files=[{"name": "名册.xlsx", "mimeType": XLSX, "buffer": good}])
    with page.expect_navigation():
        page.click("button[data-check]")
    expect(page.locator("[data-checked]")).to_contain_text("将新增 4 名")
    assert _count(session, select(func.count()).select_from(Student)) == 0
    shot(page, "school-year-roster-clean")
    with page.expect_navigation():
        page.click("button[data-import-all]")
    expect(page.locator("[data-imported]")).to_contain_text("新增 4 名")
    assert _count(session, select(func.count()).select_from(Student)) == 4

    # 3. the rollover: preview writes nothing, the run moves the children up
    with page.expect_navigation():
        page.click("button[data-preview]")
    expect(page.locator('[data-rollover-result="dry"]')).to_contain_text("升级 4 名")
    expect(page.locator("[data-unverified]")).to_contain_text("三年级1班")
    assert _count(session, select(func.count()).select_from(SchoolClass).where(
        SchoolClass.school_year == "2027-2028")) == 0
    shot(page, "school-year-rollover-preview")
    with page.expect_navigation():
        page.click("button[data-run]")
    expect(page.locator('[data-rollover-result="run"]')).to_contain_text("升级 4 名")
    shot(page, "school-year-rollover-done")
    moved = _count(session, select(func.count()).select_from(Student).join(
        SchoolClass, Student.class_id == SchoolClass.id).where(SchoolClass.school_year == "2027-2028"))
    assert moved == 4
