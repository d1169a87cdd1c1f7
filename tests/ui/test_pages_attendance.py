"""考勤: a teacher takes the class's attendance on a phone page."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import AttendanceRecord, Case
from tests.ui.pages_support import TODAY, csrf, fixed_clock, term, text_of  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")


@pytest.fixture
def pupils(world, factory, session):
    out = [factory.student(world.klass, world.village, name=n) for n in ("张一", "张二", "张三")]
    factory.student(world.klass, world.village, name="已转走", status="transferred_out")
    session.commit()
    return out


def _marks(session) -> dict[int, str]:
    session.expire_all()
    return {r.student_id: r.status for r in session.scalars(select(AttendanceRecord).where(
        AttendanceRecord.date == TODAY))}


def test_page_lists_the_active_students_present_by_default(world, pupils, login):
    html = login(world["teacher"]).get("/attendance").get_data(as_text=True)
    text = text_of(html)
    assert "考勤登记" in text and "默认全部出勤" in text and "已转走" not in text
    for p in pupils:
        assert f'name="status-{p.id}" id="st-{p.id}-present" value="present" checked' in html
        for label in ("出勤", "旷课", "病假", "事假"):
            assert f'for="st-{p.id}-' in html and label in html
    assert f'value="{TODAY.isoformat()}"' in html


def test_teacher_sees_only_own_classes(world, pupils, login):
    html = login(world["teacher"]).get("/attendance").get_data(as_text=True)
    assert f'<option value="{world.klass.id}"' in html
    assert f'<option value="{world.klass2.id}"' not in html
    office = login(world["office"]).get("/attendance").get_data(as_text=True)
    assert f'<option value="{world.klass.id}"' in office and f'<option value="{world.klass2.id}"' in office


def test_submitting_records_the_marks_and_opens_an_absence_case(world, pupils, session, login):
    client = login(world["teacher"])
    html = client.get("/attendance").get_data(as_text=True)
    resp = client.post("/attendance", data={
        "csrf_token": csrf(html), "class_id": str(world.klass.id), "date": TODAY.isoformat(),
        f"status-{pupils[0].id}": "unexcused", f"status-{pupils[1].id}": "sick_leave",
        f"status-{pupils[2].id}": "present"}, follow_redirects=True)
    body = resp.get_data(as_text=True)
    assert "考勤已保存：旷课 1 人，病假 1 人，事假 0 人" in body
    assert _marks(session) == {pupils[0].id: "unexcused", pupils[1].id: "sick_leave", pupils[2].id: "present"}
    case = session.scalars(select(Case).where(Case.student_id == pupils[0].id, Case.process == "absence")).one()
    assert "已开启缺勤案件 1 件" in body and f'data-absence-case="{case.id}"' in body
    # the page shows the marks just saved
    assert f'id="st-{pupils[1].id}-sick_leave" value="sick_leave" checked' in body
    assert "本日考勤已登记" in body


def test_recording_again_replaces_the_day(world, pupils, session, login):
    client = login(world["teacher"])
    token = csrf(client.get("/attendance").get_data(as_text=True))
    base = {"csrf_token": token, "class_id": str(world.klass.id), "date": TODAY.isoformat()}
    client.post("/attendance", data={**base, f"status-{pupils[1].id}": "personal_leave"})
    client.post("/attendance", data={**base, f"status-{pupils[2].id}": "sick_leave"})
    assert _marks(session) == {pupils[0].id: "present", pupils[1].id: "present", pupils[2].id: "sick_leave"}


def test_a_weekend_is_not_a_school_day(world, pupils, session, login):
    saturday = dt.date(2026, 10, 10)
    client = login(world["teacher"])
    html = client.get(f"/attendance?date={saturday.isoformat()}").get_data(as_text=True)
    assert "不是上课日" in html and 'data-form="attendance"' not in html
    resp = client.post("/attendance", data={"csrf_token": csrf(html), "class_id": str(world.klass.id),
                                            "date": saturday.isoformat()}, follow_redirects=True)
    assert "不是上课日" in resp.get_data(as_text=True)
    assert session.scalars(select(AttendanceRecord)).first() is None


def test_a_future_day_cannot_be_recorded(world, pupils, login):
    html = login(world["teacher"]).get("/attendance?date=2026-10-15").get_data(as_text=True)
    assert "尚未到来" in html and 'data-form="attendance"' not in html


def test_a_class_of_another_school_is_not_found(world, pupils, login):
    client = login(world["teacher"])
    assert client.get(f"/attendance?class_id={world.other_class.id}").status_code == 404
    html = client.get("/attendance").get_data(as_text=True)
    resp = client.post("/attendance", data={"csrf_token": csrf(html), "class_id": str(world.other_class.id),
                                            "date": TODAY.isoformat()}, follow_redirects=True)
    assert "未找到" in resp.get_data(as_text=True)


def test_a_user_without_classes_is_told_so(world, login):
    html = login(world["center_head"]).get("/attendance").get_data(as_text=True)
    assert "没有可以登记考勤的班级" in html
