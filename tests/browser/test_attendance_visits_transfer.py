"""Issue 12 (part b) in a real browser, on a phone (360x740) and a desktop: the teacher's roll with
an open absence case (listed first, a mark demanded), the guardian contact and a visit (an empty
one refused); the liaison's joint visit (empty refused, then saved); a transfer between sister
schools (the receiving office finds the child in its queue and takes it into this year's class)."""
from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import AttendanceDay, Case, Visit
from tests.browser.conftest import DESKTOP, PHONE, TODAY, login, no_horizontal_scroll, overflowing, shot
from workflow.cases import engine

pytestmark = pytest.mark.usefixtures("term")

VIEWPORTS = pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
MISSING = dt.date(2026, 10, 12)  # the Monday whose roll nobody took


def _name(viewport) -> str:
    return "phone" if viewport == PHONE else "desktop"


@pytest.fixture
def pupils(world, factory, session):
    out = [factory.student(world.klass, world.village, name=n) for n in ("安安", "贝贝", "赵小明")]
    day = dt.date(2026, 9, 1)
    while day < TODAY:  # the roll was taken every school day but MISSING
        if day.weekday() < 5 and day != MISSING:
            session.add(AttendanceDay(class_id=world.klass.id, date=day))
        day += dt.timedelta(days=1)
    session.commit()
    return out


def _absence(session, student, state: str) -> Case:
    case = engine.create_case_system(session, "absence", student.id, {"reason": "擅自离校"},
                                     effective_date=TODAY - dt.timedelta(days=1))
    case.state = state
    session.commit()
    return case


def _fire(page, name: str):
    """Click the step's button, and its confirmation where the page asks for one."""
    confirm = page.locator(f'[data-confirm-fire="{name}"]')
    if confirm.count():
        page.click(f'summary[data-fire="{name}"]')
        with page.expect_navigation():
            confirm.click()
    else:
        with page.expect_navigation():
            page.click(f'button[data-fire="{name}"]')


@VIEWPORTS
def test_teacher_roll_with_an_open_case_then_contact_and_visit(viewport, world, pupils, session, pages):
    an, bei, zhao = pupils
    case = _absence(session, zhao, "visit_1")
    page = login(pages(viewport), "teacher")

    # the queue names the day without attendance and leads to its roster
    missing = page.locator(f'[data-missing-day="{world.klass.id}:{MISSING.isoformat()}"]')
    expect(missing).to_contain_text("三年级1班 2026-10-12 没有登记考勤：缺勤天数暂停计算，请补登。")
    with page.expect_navigation():
        missing.get_by_text("补登考勤").click()
    expect(page.locator("#att-date")).to_have_value(MISSING.isoformat())

    page.goto("/attendance")
    rows = page.locator("li.attendance-row")
    expect(rows.first).to_contain_text("赵小明")
    expect(rows.first).to_contain_text("缺勤案件：")
    expect(rows.first).to_contain_text("请选择考勤")
    expect(page.locator("[data-explain-open-cases]")).to_contain_text("系统不替他们默认出勤")
    expect(page.locator(f"#st-{zhao.id}-present")).not_to_be_checked()
    expect(page.locator(f"#st-{an.id}-present")).to_be_checked()
    assert no_horizontal_scroll(page), overflowing(page)
    shot(page, f"12b-roster-open-case-{_name(viewport)}")

    # saving without a mark for him is refused, and Bei's mark is kept
    page.click(f'label[for="st-{bei.id}-unexcused"]')
    with page.expect_navigation():
        page.click("[data-submit]")
    expect(page.locator(".alert-danger")).to_contain_text(
        "请为有进行中缺勤案件的学生逐一选择考勤（出勤也要点选）：赵小明")
    expect(page.locator(f"#st-{bei.id}-unexcused")).to_be_checked()
    shot(page, f"12b-roster-refused-{_name(viewport)}")
    page.click(f'label[for="st-{zhao.id}-unexcused"]')
    with page.expect_navigation():
        page.click("[data-submit]")
    expect(page.locator(".alert-success")).to_contain_text("考勤已保存：旷课 2 人，病假 0 人，事假 0 人。")
    expect(page.locator(".alert-warning").first).to_contain_text("已开启缺勤案件 1 件，请在 30 分钟内联系家长。")

    # Bei's new case: call the guardian first
    bei_case = session.scalars(select(Case).where(Case.student_id == bei.id, Case.process == "absence")).one()
    with page.expect_navigation():
        page.click(f'[data-absence-case="{bei_case.id}"] a')
    expect(page.locator("#contact-first")).to_contain_text("先联系家长")
    page.fill("#first-contact-notes", "奶奶接的电话，说孩子去镇上赶集了")
    with page.expect_navigation():
        page.click('#contact-first button[type="submit"]')
    expect(page.locator(".alert-success")).to_contain_text("家长联系已登记。")

    # Zhao's visit: an empty one is refused and keeps what was typed, then it is saved
    page.goto(f"/cases/{case.id}")
    form = page.locator('form[data-form="visit"]')
    form.locator(f'#vp-{world["teacher"].id}').uncheck()
    form.locator("#visit-others").fill("村医 李某")
    with page.expect_navigation():
        form.locator('button[type="submit"]').click()
    expect(page.locator(".alert-danger")).to_contain_text("家访记录至少需要一名参与人（本校教职工或本村联络员）")
    form = page.locator('form[data-form="visit"]')
    expect(form.locator("#visit-others")).to_have_value("村医 李某")
    shot(page, f"12b-visit-refused-{_name(viewport)}")
    form.locator(f'#vp-{world["teacher"].id}').check()
    form.locator(f'#vp-{world["team"].id}').check()
    form.locator("#visit-notes").fill("孩子在家帮忙秋收，家长答应周五送回学校")
    with page.expect_navigation():
        form.locator('button[type="submit"]').click()
    expect(page.locator(".alert-success")).to_contain_text("家访记录已保存。")
    session.expire_all()
    assert session.scalars(select(Visit).where(Visit.case_id == case.id)).one().notes.startswith("孩子在家")


@VIEWPORTS
def test_liaison_joint_visit_empty_refused_then_saved(viewport, world, pupils, session, pages):
    case = _absence(session, pupils[2], "village_joint")
    page = login(pages(viewport), "liaison")
    with page.expect_navigation():
        page.click(f'a[data-case-id="{case.id}"]')
    expect(page.locator("[data-visit-rule]")).to_contain_text("至少勾选一名参加人，并填写家访结果或备注。")
    page.fill("#other_participants", "村主任 王某")
    with page.expect_navigation():
        page.click('form[data-visit-form] button[type="submit"]')
    expect(page.locator(".alert-danger")).to_contain_text("家访记录至少需要一名参与人（本校教职工或本村联络员）")
    expect(page.locator("#other_participants")).to_have_value("村主任 王某")
    page.check(f'#p{world["liaison"].id}')
    with page.expect_navigation():
        page.click('form[data-visit-form] button[type="submit"]')
    expect(page.locator(".alert-danger")).to_contain_text("请填写家访结果（家长的答复、学生情况等）")
    expect(page.locator(f'#p{world["liaison"].id}')).to_be_checked()
    page.check(f'#p{world["teacher"].id}')
    page.fill("#outcome", "村干部和班主任一起上门，家长答应下周一送孩子回校")
    with page.expect_navigation():
        page.click('form[data-visit-form] button[type="submit"]')
    expect(page.locator(".alert-success")).to_contain_text("联合家访已登记")
    assert no_horizontal_scroll(page), overflowing(page)
    shot(page, f"12b-liaison-visit-{_name(viewport)}")


@VIEWPORTS
def test_transfer_between_sister_schools(viewport, world, factory, session, pages):
    st = factory.student(world.klass, world.village, name="转学生小刘", status="transferred_out")
    session.add(Case(process="transfer_out", state="transferred", student_id=st.id, school_id=st.school_id,
                     opened_on=TODAY, is_open=True, data={"destination_school_id": world.branch2.id,
                                                          "destination_region": "清水镇"}))
    this_year = factory.klass(world.branch2, 3, "西岭三年级")
    factory.klass(world.branch2, 3, "西岭旧三年级", school_year="2025-2026")
    factory.user("xiling_office", "academic_office", school=world.branch2)
    factory.user("xiling_teacher", "homeroom_teacher", klass=this_year)
    session.commit()

    page = login(pages(viewport), "xiling_office")
    item = page.locator(f'[data-incoming-student="{st.id}"]')
    expect(page.locator("[data-incoming]")).to_contain_text("兄弟学校转来、待接收的学生")
    expect(item).to_contain_text("转学生小刘（由东坡村小转来）")
    shot(page, f"12b-incoming-queue-{_name(viewport)}")
    with page.expect_navigation():
        item.get_by_text("办理转入").click()
    expect(page.locator("#ti-source-sister")).to_be_checked()
    expect(page.locator("#ti-student_id")).to_have_value(str(st.id))
    options = page.locator("#ti-class_id option").all_inner_texts()
    assert any("西岭三年级（2026-2027）" in o for o in options) and not any("西岭旧三年级" in o for o in options)
    page.select_option("#ti-class_id", str(this_year.id))
    page.fill("#ti-origin_school", "东坡村小")
    with page.expect_navigation():
        page.click('[data-submit="transfer-in"]')
    expect(page.locator(".alert-success")).to_contain_text("已为转学生小刘办理转入立案，等待班主任接收入班。")

    # the chosen class's homeroom teacher takes the child in
    case = session.scalars(select(Case).where(Case.student_id == st.id, Case.process == "transfer_in")).one()
    page = login(pages(viewport), "xiling_teacher")
    page.goto(f"/cases/{case.id}")
    _fire(page, "accept")
    expect(page.locator(".state-badge")).to_contain_text("已入班")
    session.expire_all()
    assert (st.status, st.class_id) == ("active", this_year.id)
    shot(page, f"12b-transfer-accepted-{_name(viewport)}")
