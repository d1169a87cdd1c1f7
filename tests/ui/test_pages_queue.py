"""我的待办, the navigation bar's counts, where each role lands after login, Chinese error pages."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from models import Case
from tests.ui.pages_support import (  # noqa: F401  (fixtures)
    TODAY,
    fire,
    fixed_clock,
    new_suspension,
    submitted_suspension,
    term,
    text_of,
)

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")


@pytest.fixture
def students(world, factory, session):
    out = [factory.student(world.klass, world.village, name=n) for n in ("甲同学", "乙同学", "丙同学")]
    session.commit()
    return out


def _cases_in_order(html: str) -> list[int]:
    import re

    return [int(m) for m in re.findall(r'queue-item[^"]*" data-case="(\d+)"', html)]


def test_queue_lists_the_work_most_urgent_first_with_overdue_in_red(world, students, session, login):
    first = submitted_suspension(session, world, students[0])
    second = submitted_suspension(session, world, students[1])
    # the second was due yesterday (e.g. the sweep marked it): it comes first, in red
    late = session.get(Case, second.id)
    late.due_on, late.is_overdue = TODAY - dt.timedelta(days=1), True
    session.commit()
    html = login(world["office"]).get("/queue").get_data(as_text=True)
    assert _cases_in_order(html) == [second.id, first.id]
    item = html[html.index(f'data-case="{second.id}"') - 80:]
    assert "overdue-item" in item[:200]
    text = text_of(html)
    assert "我的待办" in text and "共 2 件，逾期 1 件" in text and "待教导处审核" in text
    assert "待教导处审核 已逾期（应于 2026-10-13 前办理）" in text and text.count("2026-10-13") == 1


def test_queue_of_a_user_with_nothing_to_do_says_so(world, session, login):
    html = login(world["principal"]).get("/queue").get_data(as_text=True)
    assert "目前没有需要您办理的事项" in html


def test_navigation_badge_counts_the_queue_and_turns_red_when_overdue(world, students, session, login):
    case = submitted_suspension(session, world, students[0])
    client = login(world["office"])
    html = client.get("/attendance").get_data(as_text=True)
    badge = html[html.index('data-count="queue"') - 60:html.index('data-count="queue"') + 120]
    assert "badge-light" in badge and ">1</span>" in badge
    row = session.get(Case, case.id)
    row.due_on, row.is_overdue = TODAY, True
    session.commit()
    html = client.get("/attendance").get_data(as_text=True)
    badge = html[html.index('data-count="queue"') - 60:html.index('data-count="queue"') + 120]
    assert "badge-danger" in badge


def test_a_case_leaves_the_queue_once_handled(world, students, session, login):
    case = submitted_suspension(session, world, students[0])
    client = login(world["office"])
    assert _cases_in_order(client.get("/queue").get_data(as_text=True)) == [case.id]
    fire(session, world["office"], case, "office_approve")
    html = client.get("/queue").get_data(as_text=True)
    assert _cases_in_order(html) == [] and 'data-count="queue"' not in html
    assert _cases_in_order(login(world["principal"]).get("/queue").get_data(as_text=True)) == [case.id]


def test_teacher_queue_reminds_of_attendance_not_taken_today(world, session, login):
    html = login(world["teacher"]).get("/queue").get_data(as_text=True)
    assert f'data-missing-attendance="{world.klass.id}"' in html and "还没有登记考勤" in html


@pytest.mark.parametrize("role, landing", [
    ("teacher", "/queue"), ("office", "/queue"), ("principal", "/queue"), ("subject", "/queue"),
    ("team", "/queue"), ("center_head", "/oversight"), ("center_office", "/oversight"),
    ("supervisor", "/oversight"), ("liaison", "/liaison"), ("admin", "/admin/"),
])
def test_each_role_lands_on_its_page_after_login(role, landing, world, login):
    client = login(world[role])
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"] == landing
    page = client.get(landing)
    assert page.status_code == 200
    assert 'lang="zh-CN"' in page.get_data(as_text=True) or "保学" in page.get_data(as_text=True)


def test_the_counts_page_stays_reachable(world, login):
    html = login(world["teacher"]).get("/home/summary").get_data(as_text=True)
    assert "您好" in html and "进行中的事项" in html


@pytest.mark.parametrize("role, items", [
    ("teacher", {"queue", "attendance", "archive"}),
    ("office", {"queue", "attendance", "archive"}),
    ("center_head", {"queue", "oversight", "archive"}),
    ("supervisor", {"queue", "oversight", "archive"}),
    ("liaison", {"queue", "liaison"}),
])
def test_menu_items_follow_the_role(role, items, world, login):
    html = login(world[role]).get("/home/summary").get_data(as_text=True)
    shown = {name for name in ("queue", "attendance", "liaison", "oversight", "archive")
             if f'data-nav="{name}"' in html}
    assert shown == items


def test_missing_and_forbidden_pages_are_in_chinese(world, login):
    client = login(world["teacher"])
    missing = client.get("/cases/999999")
    assert missing.status_code == 404 and "不在您的管辖范围内" in missing.get_data(as_text=True)
    forbidden = client.get("/oversight")
    assert forbidden.status_code == 403 and "无权访问" in forbidden.get_data(as_text=True)
    api = client.get("/api/v1/nothing-here")
    assert api.status_code in (401, 404) and api.is_json


# --- the monthly report in the center school's and the county's queues (issue 12) ---------------


@pytest.fixture
def overdue_report(world, session):
    """The branch school's October report, opened and left a draft past its deadline (11-06)."""
    from workflow.access.scope import scope_for
    from workflow.cases import engine

    office = world["office"]
    case = engine.create_case(session, scope_for(session, office), office, "monthly_report", None,
                              {"school_id": world.branch.id, "month": "2026-10"}, today=dt.date(2026, 11, 2))
    session.commit()
    return case


@pytest.fixture
def late_clock(monkeypatch):
    from workflow import clock

    monkeypatch.setattr(clock, "now", lambda: dt.datetime(2026, 11, 9, 10, 0, tzinfo=clock.SCHOOL_TZ)
                        .astimezone(dt.UTC))


def _item_html(html: str, case_id: int) -> str:
    start = html.index(f'data-case="{case_id}"')
    return html[start:html.index("</li>", start)]


@pytest.mark.parametrize("who", ["center_office", "center_head"])
def test_center_queue_lists_a_branch_schools_overdue_report(world, overdue_report, late_clock, login, who):
    html = login(world[who]).get("/queue").get_data(as_text=True)
    item = _item_html(html, overdue_report.id)
    text = text_of(item)
    # which school, which month, due when, and a link to the report itself
    assert "东坡村小" in text and "2026-10" in text and "月报" in text
    assert "督促东坡村小提交 2026-10 的月报" in text and "已逾期（应于 2026-11-06 前办理）" in text
    assert text.count("2026-11-06") == 1
    assert f'href="/monthly/{overdue_report.id}"' in item
    # the report the line links to, and the case page, say the same next step
    for path in (f"/monthly/{overdue_report.id}", f"/cases/{overdue_report.id}"):
        r = login(world[who]).get(path)
        assert r.status_code == 200
        assert "下一步： 督促东坡村小提交 2026-10 的月报" in text_of(r.get_data(as_text=True)), path


def test_the_branch_office_reads_its_own_step_on_the_overdue_report(world, overdue_report, late_clock, login):
    text = text_of(login(world["office"]).get(f"/monthly/{overdue_report.id}").get_data(as_text=True))
    assert "下一步： 待提交月报" in text and "督促" not in text


def test_county_supervisor_has_a_queue_with_the_reports_to_review(world, overdue_report, late_clock, session,
                                                                 login):
    from workflow.access.scope import scope_for
    from workflow.cases import engine

    def fire_as(user, case, name):
        engine.fire(session, scope_for(session, user), user, case.id, name, version=case.version,
                    today=dt.date(2026, 11, 9))
        session.commit()

    client = login(world["supervisor"])
    html = client.get("/queue").get_data(as_text=True)
    assert f'data-case="{overdue_report.id}"' not in html and "目前没有需要您办理的事项" in html
    fire_as(world["office"], overdue_report, "submit")
    fire_as(world["principal"], overdue_report, "principal_approve")
    html = client.get("/oversight").get_data(as_text=True)   # where the county lands
    assert 'data-nav="queue"' in html and 'data-count="queue"' in html
    html = client.get("/queue").get_data(as_text=True)
    text = text_of(_item_html(html, overdue_report.id))
    assert "东坡村小" in text and "2026-10" in text and "待县局接收或县局退回" in text


def test_api_queue_carries_the_center_schools_overdue_report(api, world, overdue_report, late_clock):
    items = api.as_user(world["center_office"]).get("/queue").json["items"]
    item = next(i for i in items if i["id"] == overdue_report.id)
    assert item["process"] == "monthly_report" and item["period"] == "2026-10" and item["overdue"] is True
    assert item["due"] == "2026-11-06" and item["actions"] == [] and "东坡村小" in item["reason"]


def test_a_dropout_check_in_the_queue_names_its_deadline_once(world, students, session, login):
    from workflow.access.scope import scope_for
    from workflow.cases import engine

    office = world["office"]
    case = engine.create_case(session, scope_for(session, office), office, "dropout_check", students[0].id,
                              {"source": "manual"}, today=TODAY)
    session.commit()
    html = login(office).get("/queue").get_data(as_text=True)
    text = text_of(_item_html(html, case.id))
    assert "疑似辍学核实" in text and "请于" in text
    due = re.search(r"请于 (\d{4}-\d\d-\d\d) 前办理", text).group(1)
    assert text.count(due) == 1
