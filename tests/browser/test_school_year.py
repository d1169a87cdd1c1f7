"""In a real browser (issue 13): the academic office imports a roster, sees the bad rows, fixes the
file, imports it, then previews and runs the school-year rollover. Issue 12: the office opens a
class's year-end verification, the homeroom teacher records two differences on a phone, the
office resolves them on a desktop and the case closes; the office runs a balanced placement after
confirming it and sees the printable lists."""
from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import func, select

from models import Case, Placement, SchoolClass, Student
from tests.api.test_roster_import import row, xlsx
from tests.browser.conftest import DESKTOP, PHONE, login, no_horizontal_scroll, overflowing, shot

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


def test_a_class_roll_is_verified_teacher_on_a_phone_office_on_a_desktop(world, factory, session, pages, term):
    kids = [factory.student(world.klass, world.village, name=n) for n in ("王小花", "李大山", "赵一")]
    session.commit()

    # the office opens the class's verification from the school-year page
    office = login(pages(DESKTOP), "office")
    office.goto("/school-year")
    verification = office.locator("#verification")
    expect(verification).to_contain_text("三年级1班")
    with office.expect_navigation():
        verification.locator(f'button[data-open-verification="{world.klass.id}"]').click()
    expect(office.locator(".alert-success")).to_contain_text("已为三年级1班开启学年末核实")
    case_id = _count(session, select(Case.id).where(Case.process == "roll_verification"))
    case_url = f"/cases/{case_id}"

    # the homeroom teacher, on a phone: an empty form is not "no differences"
    phone = login(pages(PHONE), "teacher")
    phone.goto(case_url)
    expect(phone.locator("#differences")).to_contain_text("班主任尚未提交核实结果")
    form = phone.locator('form[data-transition="submit"]')
    with phone.expect_navigation():
        form.locator('button[data-fire="submit"]').click()
    expect(phone.locator(".alert-danger")).to_contain_text("请逐行填写核实出的差异")
    expect(phone.locator(".alert-danger")).to_contain_text("核对无差异")

    # two differences, the second without its note first
    phone.select_option("#diff-1-student", label="李大山")
    phone.select_option("#diff-1-kind", label="名在人不在（名单上有，人不在班）")
    phone.fill("#diff-1-note", "随父母外出打工，两周未到校")
    phone.fill("#diff-2-name", "陈小虎")
    phone.select_option("#diff-2-kind", label="人在名不在（在班就读，名单上没有）")
    with phone.expect_navigation():
        phone.click('form[data-transition="submit"] button[data-fire="submit"]')
    expect(phone.locator(".alert-danger")).to_contain_text("第 2 行：请填写说明")
    expect(phone.locator("#diff-1-note")).to_have_value("随父母外出打工，两周未到校")
    expect(phone.locator("#diff-2-name")).to_have_value("陈小虎")
    expect(phone.locator('[data-diff-row="2"] [data-row-error]')).to_be_visible()
    assert no_horizontal_scroll(phone), overflowing(phone)
    shot(phone, "roll-verification-phone-row-error")
    # one more row, without script: what was typed stays
    with phone.expect_navigation():
        phone.click("button[data-add-row]")
    expect(phone.locator("[data-diff-row]")).to_have_count(4)
    expect(phone.locator("#diff-2-name")).to_have_value("陈小虎")
    phone.fill("#diff-2-note", "借读一年，未办学籍")
    with phone.expect_navigation():
        phone.click('form[data-transition="submit"] button[data-fire="submit"]')
    expect(phone.locator(".alert-success")).to_contain_text("已办理「提交核实结果」")
    table = phone.locator("table[data-differences-table]")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator('tr[data-difference="1"]')).to_contain_text("李大山")
    expect(table.locator('tr[data-difference="1"]')).to_contain_text("名在人不在")
    expect(table.locator('tr[data-difference="2"]')).to_contain_text("陈小虎")
    expect(table.locator('tr[data-difference="2"]')).to_contain_text("借读一年，未办学籍")
    assert no_horizontal_scroll(phone), overflowing(phone)
    shot(phone, "roll-verification-phone-submitted")

    # the office, on a desktop: each difference gets its resolution, then the confirmation
    office.goto(case_url)
    expect(office.locator('[data-resolution-row="1"]')).to_contain_text("李大山")
    office.select_option("#res-1-how", label="已更正学籍（在说明中写明）")
    office.fill("#res-1-note", "已办理转出，学籍系统已更新")
    box = office.locator('details[data-confirm="office_approve"]')
    box.locator("summary").click()
    expect(box.locator("[data-confirm-text]")).to_have_text("确定要「教导处确认」吗？办理后不能撤销。")
    with office.expect_navigation():
        box.locator('button[data-confirm-fire="office_approve"]').click()
    expect(office.locator(".alert-danger")).to_contain_text("第 2 行：请选择处理方式")
    expect(office.locator("#res-1-note")).to_have_value("已办理转出，学籍系统已更新")
    office.select_option("#res-2-how", label="已更正学籍（在说明中写明）")
    office.fill("#res-2-note", "已在学籍系统补录")
    box = office.locator('details[data-confirm="office_approve"]')
    box.locator("summary").click()
    with office.expect_navigation():
        box.locator('button[data-confirm-fire="office_approve"]').click()
    expect(office.locator(".alert-success")).to_contain_text("案件现在是「已核实」")
    expect(office.locator('[data-resolution="2"]')).to_have_text("已更正学籍：已在学籍系统补录")
    expect(office.locator("[data-no-actions]")).to_be_visible()
    shot(office, "roll-verification-desktop-verified")
    assert _count(session, select(Case.state).where(Case.id == case_id)) == "verified"
    assert kids  # the roll the teacher chose from


def test_office_runs_a_balanced_placement_with_confirmation(world, factory, session, pages, term):
    holding = factory.klass(world.branch, 1, "一年级新生")
    targets = [factory.klass(world.branch, 1, f"一年级{i}班") for i in (1, 2, 3)]
    for i in range(12):
        factory.student(holding, world.village, gender="M" if i < 7 else "F", name=f"新生{i:02d}")
    session.commit()

    phone = login(pages(PHONE), "office")
    phone.goto("/school-year")
    assert no_horizontal_scroll(phone), overflowing(phone)
    shot(phone, "school-year-phone")
    phone.locator("#placement").screenshot(path=str(shot(phone, "school-year-phone").with_name("school-year-phone-placement.png")))

    page = login(pages(DESKTOP), "office")
    page.goto("/school-year")
    section = page.locator("#placement")
    page.select_option("#pl-school", label="东坡村小")
    page.select_option("#pl-grade", label="一年级")
    with page.expect_navigation():
        section.locator("button[data-placement-show]").click()
    expect(section.locator(f'tr[data-placement-class="{holding.id}"]')).to_contain_text("12 人（男 7，女 5）")
    page.check(f"#pl-intake-{holding.id}")
    for k in targets:
        page.check(f"#pl-target-{k.id}")
    page.fill("#pl-seed", "20260901")
    box = section.locator('details[data-confirm="placement"]')
    expect(box.locator('button[data-confirm-fire="placement"]')).to_be_hidden()
    box.locator("summary").click()
    expect(box.locator("[data-confirm-text]")).to_contain_text("确定分班吗？")
    shot(page, "placement-confirm")
    with page.expect_navigation():
        box.locator('button[data-confirm-fire="placement"]').click()
    expect(page.locator(".alert-success")).to_contain_text("已分班：12 名学生分入 3 个班，抽签种子 20260901")
    expect(page.locator("[data-seed]")).to_contain_text("20260901")
    lists = page.locator("section[data-class]")
    expect(lists).to_have_count(3)
    for k in targets:
        expect(page.locator(f'section[data-class="{k.id}"]')).to_contain_text("共 4 人")
    shot(page, "placement-lists")
    row = _count(session, select(Placement.id))
    page.goto("/school-year")
    expect(page.locator(f'a[data-placement-link="{row}"]')).to_have_text("分班名单")
