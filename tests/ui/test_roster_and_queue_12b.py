"""Issue 12 (part b) as the teacher and the office see it: the roster leads with the children
who have an open absence case and will not save until each of them is marked by hand; missing
attendance days and sister schools' incoming children are in the queue."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import AttendanceDay, AttendanceRecord, Case
from tests.ui.pages_support import TODAY, csrf, fixed_clock, term, text_of  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")


@pytest.fixture
def pupils(world, factory, session):
    out = [factory.student(world.klass, world.village, name=n) for n in ("安安", "贝贝", "赵小明")]
    session.commit()
    return out


@pytest.fixture
def open_case(session, pupils):
    """赵小明 has been absent since Monday: his case is at the second rung."""
    st = pupils[2]
    case = Case(process="absence", state="visit_2", student_id=st.id, school_id=st.school_id,
                opened_on=TODAY - dt.timedelta(days=2), is_open=True, data={})
    session.add(case)
    session.commit()
    return case


def _marks(session) -> dict[int, str]:
    session.expire_all()
    return dict(session.execute(select(AttendanceRecord.student_id, AttendanceRecord.status)
                                .where(AttendanceRecord.date == TODAY)).all())


def test_open_case_child_is_listed_first_marked_with_its_rung_and_without_a_default(world, pupils, open_case, login):
    html = login(world["teacher"]).get("/attendance").get_data(as_text=True)
    text = text_of(html)
    assert html.index(f'data-student="{pupils[2].id}"') < html.index(f'data-student="{pupils[0].id}"')
    assert "缺勤案件：连续第二次家访" in text or "缺勤案件：" in text
    assert f'data-open-case="{open_case.id}"' in html and 'data-rung="visit_2"' in html
    assert "请选择考勤" in text and "系统不替他们默认出勤" in text
    # no choice is checked for him; the others are present by default
    assert f'id="st-{pupils[2].id}-present" value="present" checked' not in html
    assert f'id="st-{pupils[0].id}-present" value="present" checked' in html


def test_saving_without_marking_the_open_case_child_is_refused_and_keeps_the_marks(
        world, pupils, open_case, session, login):
    client = login(world["teacher"])
    token = csrf(client.get("/attendance").get_data(as_text=True))
    base = {"csrf_token": token, "class_id": str(world.klass.id), "date": TODAY.isoformat()}
    resp = client.post("/attendance", data={**base, f"status-{pupils[0].id}": "present",
                                            f"status-{pupils[1].id}": "sick_leave"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "请为有进行中缺勤案件的学生逐一选择考勤（出勤也要点选）：赵小明" in text_of(html)
    assert f'id="st-{pupils[1].id}-sick_leave" value="sick_leave" checked' in html  # kept
    assert _marks(session) == {}
    assert session.scalars(select(AttendanceDay)).first() is None
    # marked by hand (here: he came back) the roll saves
    resp = client.post("/attendance", data={**base, f"status-{pupils[1].id}": "sick_leave",
                                            f"status-{pupils[2].id}": "present"}, follow_redirects=True)
    assert "考勤已保存" in text_of(resp.get_data(as_text=True))
    assert _marks(session) == {pupils[0].id: "present", pupils[1].id: "sick_leave", pupils[2].id: "present"}


def test_missing_days_of_the_term_are_in_the_homeroom_teachers_queue(world, pupils, session, factory, login):
    # the roll was taken on every school day of the term but Friday 9 and Monday 12 October
    taken_until = TODAY - dt.timedelta(days=1)
    day = dt.date(2026, 9, 1)
    while day <= taken_until:
        if day.weekday() < 5 and day not in (dt.date(2026, 10, 9), dt.date(2026, 10, 12)):
            session.add(AttendanceDay(class_id=world.klass.id, date=day))
        day += dt.timedelta(days=1)
    old = factory.klass(world.branch, name="去年三年级", school_year="2025-2026")
    factory.grant(world["teacher"], "homeroom_teacher", klass=old)
    session.commit()
    html = login(world["teacher"]).get("/queue").get_data(as_text=True)
    text = text_of(html)
    assert "本学期未登记考勤的上课日（共 2 天次）" in text
    assert "三年级1班 2026-10-12 没有登记考勤：缺勤天数暂停计算，请补登。" in text
    assert f'data-missing-day="{world.klass.id}:2026-10-09"' in html
    assert f"/attendance?class_id={world.klass.id}&amp;date=2026-10-12" in html
    assert "去年三年级" not in text  # last year's class is asked for nothing
    assert "目前没有需要您办理的事项" not in text


def test_a_long_gap_shows_the_latest_three_days_and_folds_the_rest(world, pupils, session, login):
    # nothing taken this term: the latest three days stay in view, the others are folded away
    html = login(world["teacher"]).get("/queue").get_data(as_text=True)
    shown, _, folded = html.partition("data-missing-more")
    assert shown.count("data-missing-day=") == 3
    assert folded.count("data-missing-day=") > 0
    assert f"另有 {folded.count('data-missing-day=')} 个上课日未登记（展开）" in text_of(html)


def test_the_oversight_count_and_the_queue_are_one_rule(world, pupils, session):
    from workflow.access.scope import scope_for
    from workflow.cases.queue import missing_attendance_items
    from workflow.figures.oversight import missing_attendance

    items = missing_attendance_items(session, scope_for(session, world["teacher"]), today=TODAY)
    recent = [i for i in items if i["date"] >= TODAY - dt.timedelta(days=14)]
    assert missing_attendance(session, [world.branch.id], today=TODAY, days=14)[world.branch.id] == \
        len(recent) + 10  # klass2 (no homeroom teacher here) misses the same ten school days


# --- visits: an empty one is refused and the form keeps what was typed -------------------------


def test_teachers_empty_visit_is_refused_in_chinese_and_the_form_keeps_its_input(
        world, pupils, open_case, session, login):
    client = login(world["teacher"])
    token = csrf(client.get(f"/cases/{open_case.id}").get_data(as_text=True))
    resp = client.post(f"/cases/{open_case.id}/visits", data={
        "csrf_token": token, "date": TODAY.isoformat(), "kind": "home_visit", "other_participants": "村医 李某",
        "outcome": "", "notes": ""})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "家访记录至少需要一名参与人（本校教职工或本村联络员）" in text_of(html)
    assert 'value="村医 李某"' in html and f'id="vp-{world["teacher"].id}" ' in html
    assert f'id="vp-{world["teacher"].id}" checked' not in html  # what was posted, not the default
    resp = client.post(f"/cases/{open_case.id}/visits", data={
        "csrf_token": token, "date": TODAY.isoformat(), "kind": "home_visit",
        "participant_ids": [str(world["teacher"].id)], "notes": "   "})
    assert resp.status_code == 422
    assert "请填写家访结果（家长的答复、学生情况等）" in text_of(resp.get_data(as_text=True))
    assert session.scalars(select(Case.id).join(Case.visits)).first() is None
    resp = client.post(f"/cases/{open_case.id}/visits", data={
        "csrf_token": token, "date": TODAY.isoformat(), "kind": "home_visit",
        "participant_ids": [str(world["teacher"].id), str(world["team"].id)], "notes": "孩子在家帮忙秋收，家长答应周五送回"},
        follow_redirects=True)
    assert "家访记录已保存" in text_of(resp.get_data(as_text=True))


def test_liaisons_empty_joint_visit_is_refused_and_the_form_keeps_its_input(world, pupils, open_case, login):
    client = login(world["liaison"])
    page = client.get(f"/liaison/cases/{open_case.id}").get_data(as_text=True)
    assert "至少勾选一名参加人，并填写家访结果或备注。" in text_of(page)
    resp = client.post(f"/liaison/cases/{open_case.id}", data={
        "csrf_token": csrf(page), "date": TODAY.isoformat(), "guardian_present": "0",
        "participant_ids": [str(world["liaison"].id)], "outcome": "", "notes": "", "other_participants": "村主任 王某"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "请填写家访结果（家长的答复、学生情况等）" in text_of(html)
    assert 'value="村主任 王某"' in html and 'id="gp0" value="0" checked' in html


# --- classes of this school year; sister schools' children in the office's queue -----------------


def test_case_page_offers_only_this_years_classes(world, pupils, session, factory, login):
    from tests.ui.pages_support import add_suspension_evidence, new_suspension  # noqa: F401

    factory.klass(world.branch, name="去年四年级", school_year="2025-2026")
    session.commit()
    st = pupils[0]
    case = Case(process="suspension", state="suspended", student_id=st.id, school_id=st.school_id,
                opened_on=TODAY, is_open=True, data={"start": "2026-09-01", "end": "2027-03-01"})
    st.status = "suspended"
    session.add(case)
    session.commit()
    html = login(world["office"]).get(f"/cases/{case.id}").get_data(as_text=True)
    block = html[html.index('data-transition="resume"'):]
    block = block[:block.index("</form>")]
    assert "四年级1班（2026-2027）" in block and "去年四年级" not in block


def test_incoming_child_from_a_sister_school_is_in_the_receiving_offices_queue(world, session, factory, login):
    st = factory.student(world.klass, world.village, name="转学生小刘", status="transferred_out")
    session.add(Case(process="transfer_out", state="transferred", student_id=st.id, school_id=st.school_id,
                     opened_on=TODAY, is_open=True, data={"destination_school_id": world.branch2.id}))
    office2 = factory.user("office2", "academic_office", school=world.branch2)
    session.commit()
    html = login(office2).get("/queue").get_data(as_text=True)
    text = text_of(html)
    assert "兄弟学校转来、待接收的学生" in text and "转学生小刘（由东坡村小转来）" in text
    link = f"/cases/new/transfer-in?source=sister&amp;student_id={st.id}"
    assert link in html
    page = login(office2).get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert f'<option value="{st.id}" selected' in page
    # the sending school's office waits for the arrival, it has nothing to receive
    assert "data-incoming" not in login(world["office"]).get("/queue").get_data(as_text=True)
