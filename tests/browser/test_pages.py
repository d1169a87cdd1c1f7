"""The pages in a real browser: landing per role, a suspension carried by four people through the
UI, a disabled transition with its reason, the phone pages (360 px), oversight's overdue count."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import Case, Student
from tests.browser.conftest import PHONE, TODAY, login, logout, no_horizontal_scroll, overflowing, shot
from workflow.access.scope import scope_for
from workflow.cases import engine

pytestmark = pytest.mark.usefixtures("term")

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def pupil(world, factory, session):
    st = factory.student(world.klass, world.village, name="李小明", id_card_no="110101201605010012")
    session.commit()
    return st


def _absence_at(session, student, state: str, *, overdue: bool = False) -> Case:
    case = engine.create_case_system(session, "absence", student.id, {"reason": "擅自离校"},
                                     effective_date=TODAY)
    case.state, case.is_overdue = state, overdue
    case.due_on = TODAY if overdue else None
    session.commit()
    return case


@pytest.mark.parametrize("username, path, heading", [
    ("teacher", "/queue", "我的待办"),
    ("office", "/queue", "我的待办"),
    ("principal", "/queue", "我的待办"),
    ("center_office", "/oversight", "清水镇中心校"),
    ("liaison", "/liaison", None),
])
def test_each_role_lands_on_its_page_in_chinese(username, path, heading, world, pupil, pages):
    page = login(pages(), username)
    assert page.url.endswith(path)
    assert page.get_attribute("html", "lang") == "zh-CN"
    expect(page.locator("nav")).to_contain_text(world[username].name)
    if heading:
        expect(page.locator("h1")).to_contain_text(heading)
    else:
        expect(page.locator("h1")).to_be_visible()
    shot(page, f"landing-{username}")


def test_suspension_from_draft_to_suspended_by_four_people(world, pupil, session, pages):
    # 1. the homeroom teacher opens the case from the student's page
    page = login(pages(), "teacher")
    page.goto("/admin/student/")
    with page.expect_navigation():
        page.click(f'a[data-student-page="{pupil.id}"]')
    page.click('details[data-create="suspension"] summary')
    page.fill("#new-suspension-start", "2026-10-15")
    page.fill("#new-suspension-end", "2027-03-01")
    page.fill("#new-suspension-reason", "肺炎住院治疗")
    with page.expect_navigation():
        page.click('[data-create-submit="suspension"]')
    case_url = page.url
    case_id = int(case_url.rstrip("/").rsplit("/", 1)[1])
    expect(page.locator('[data-fire="submit"]')).to_be_disabled()
    expect(page.locator('[data-blocked="submit"]')).to_contain_text("需要家长本人到校的记录")
    shot(page, "case-draft")

    # ... logs the guardian's visit in person, uploads the hospital certificate, submits
    page.select_option("#visit-kind", "in_person_at_school")
    page.check("#visit-guardian")
    page.fill("#visit-notes", "母亲带孩子到校，出示住院证明")
    with page.expect_navigation():
        page.click('form[data-form="visit"] button[type=submit]')
    expect(page.locator(".alert-success")).to_contain_text("家访记录已保存")
    page.click("#documents details summary")
    page.select_option("#doc-kind", "suspension_grounds")
    page.set_input_files("#doc-file", files=[{"name": "住院证明.pdf", "mimeType": "application/pdf",
                                              "buffer": PDF}])
    with page.expect_navigation():
        page.click('form[data-form="document"] button[type=submit]')
    expect(page.locator("#documents")).to_contain_text("住院证明.pdf")
    expect(page.locator('[data-fire="submit"]')).to_be_enabled()
    page.fill("#submit-comment", "家长本人到校办理")
    with page.expect_navigation():
        page.click('[data-fire="submit"]')
    expect(page.locator(".state-badge")).to_have_text("已提交")
    logout(page)

    # 2. the academic office approves from its queue
    page = login(page, "office")
    with page.expect_navigation():
        page.click(f'.queue-item[data-case="{case_id}"] a')
    page.click('[data-fire="office_approve"]')  # a final step asks to confirm (issue 12)
    expect(page.locator('[data-confirm="office_approve"] [data-confirm-text]')).to_contain_text("办理后不能撤销")
    with page.expect_navigation():
        page.click('[data-confirm-fire="office_approve"]')
    expect(page.locator(".state-badge")).to_have_text("教导处已审核")
    logout(page)

    # 3. the principal approves
    page = login(page, "principal")
    with page.expect_navigation():
        page.click(f'.queue-item[data-case="{case_id}"] a')
    page.click('[data-fire="principal_approve"]')  # a final step asks to confirm (issue 12)
    expect(page.locator('[data-confirm="principal_approve"] [data-confirm-text]')).to_contain_text("办理后不能撤销")
    with page.expect_navigation():
        page.click('[data-confirm-fire="principal_approve"]')
    expect(page.locator(".state-badge")).to_have_text("校长已批准")
    logout(page)

    # 4. the center office files it, reaching the case from oversight: school → class → case
    page = login(page, "center_office")
    assert page.url.endswith("/oversight")
    with page.expect_navigation():
        page.click(f'tr[data-school="{world.branch.id}"] a')
    with page.expect_navigation():
        page.click(f'[data-class="{world.klass.id}"] a')
    with page.expect_navigation():
        page.click(f'[data-case="{case_id}"] a')
    page.click('[data-fire="center_file"]')  # a final step asks to confirm (issue 12)
    expect(page.locator('[data-confirm="center_file"] [data-confirm-text]')).to_contain_text("办理后不能撤销")
    with page.expect_navigation():
        page.click('[data-confirm-fire="center_file"]')
    expect(page.locator(".state-badge")).to_have_text("休学中")
    expect(page.locator("[data-student-status]")).to_have_text("休学")
    expect(page.locator("#history")).to_contain_text("中心校备案")
    shot(page, "case-suspended")

    session.expire_all()
    assert session.get(Student, pupil.id).status == "suspended"
    case = session.get(Case, case_id)
    assert case.state == "suspended"
    assert [h.user.username for h in case.history] == ["teacher", "teacher", "office", "principal", "center_office"]


def test_a_blocked_transition_is_disabled_with_its_reason(world, pupil, session, pages):
    teacher = world["teacher"]
    case = engine.create_case(session, scope_for(session, teacher), teacher, "suspension", pupil.id,
                              {"start": "2026-10-15", "end": "2027-03-01"}, today=TODAY)
    page = login(pages(PHONE), "teacher")
    page.goto(f"/cases/{case.id}")
    button = page.locator('[data-fire="submit"]')
    expect(button).to_be_disabled()
    reason = page.locator('[data-blocked="submit"]')
    expect(reason).to_contain_text("需要家长本人到校的记录（电话不算）")
    expect(reason).to_contain_text("需要上传休学依据")
    assert no_horizontal_scroll(page), overflowing(page)
    shot(page, "case-blocked-phone")


def test_teacher_takes_attendance_on_a_phone(world, pupil, factory, session, pages):
    other = factory.student(world.klass, world.village, name="王小红")
    page = login(pages(PHONE), "teacher")
    page.goto("/attendance")
    assert no_horizontal_scroll(page), overflowing(page)
    expect(page.locator(f"#st-{other.id}-present")).to_be_checked()
    page.click(f'label[for="st-{pupil.id}-unexcused"]')
    page.click(f'label[for="st-{other.id}-sick_leave"]')
    shot(page, "attendance-phone-before")
    with page.expect_navigation():
        page.click("[data-submit]")
    expect(page.locator(".alert-success")).to_contain_text("旷课 1 人，病假 1 人")
    expect(page.locator(f"#st-{pupil.id}-unexcused")).to_be_checked()
    case = session.scalars(select(Case).where(Case.student_id == pupil.id, Case.process == "absence")).one()
    expect(page.locator(f'[data-absence-case="{case.id}"]')).to_contain_text("李小明")
    assert no_horizontal_scroll(page), overflowing(page)
    shot(page, "attendance-phone-after")


@pytest.mark.parametrize("username, path", [
    ("teacher", "/queue"), ("teacher", "/case"), ("office", "/students"), ("center_head", "/oversight"),
    ("center_head", "/oversight/school"), ("supervisor", "/oversight"),
])
def test_pages_fit_a_360px_phone(username, path, world, pupil, session, pages):
    case = _absence_at(session, pupil, "visit_3", overdue=True)
    target = {"/case": f"/cases/{case.id}", "/students": f"/students/{pupil.id}",
              "/oversight/school": f"/oversight/schools/{world.branch.id}"}.get(path, path)
    page = login(pages(PHONE), username)
    page.goto(target)
    expect(page.locator("h1")).to_be_visible()
    assert no_horizontal_scroll(page), (target, overflowing(page))
    shot(page, f"phone-{username}-{path.strip('/').replace('/', '-')}")


def test_oversight_shows_a_branch_schools_overdue_count_in_red(world, pupil, session, pages):
    _absence_at(session, pupil, "visit_2", overdue=True)
    page = login(pages(), "center_head")
    assert page.url.endswith("/oversight")
    cell = page.locator(f'tr[data-school="{world.branch.id}"] [data-col="overdue"]')
    expect(cell).to_have_text("1")
    assert cell.evaluate("e => getComputedStyle(e).color") == "rgb(176, 0, 32)"
    expect(page.locator(f'tr[data-school="{world.branch2.id}"] [data-col="overdue"]')).to_have_text("0")
    expect(page.locator("svg.trend-chart")).to_be_visible()
    shot(page, "oversight-center")


def test_village_liaison_logs_a_joint_visit_on_a_phone(world, pupil, session, pages):
    case = _absence_at(session, pupil, "village_joint")
    page = login(pages(PHONE), "liaison")
    assert page.url.endswith("/liaison")
    assert no_horizontal_scroll(page), overflowing(page)
    with page.expect_navigation():
        page.click(f'[data-case-id="{case.id}"]')
    page.check(f"#p{world['teacher'].id}")
    page.fill("#outcome", "家长同意明天送孩子返校")
    with page.expect_navigation():
        page.click("form[data-visit-form] button[type=submit]")
    expect(page.locator(".alert-success")).to_contain_text("联合家访已登记")
    assert no_horizontal_scroll(page), overflowing(page)
    shot(page, "liaison-joint-visit-phone")
    session.expire_all()
    visit = session.get(Case, case.id).visits[0]
    assert visit.kind == "village_joint" and {u.username for u in visit.participants} >= {"teacher"}
