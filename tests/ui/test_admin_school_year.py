"""档案管理 and issue 13: a school's level, a student's joining day (enrolled_on) and the close-watch
flags on the forms; an edit keeps who changed what."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from models import Enrolment, School, Student, StudentChange
from tests.ui.test_admin_forms import _student_form, _token


def test_student_form_takes_the_real_joining_day_and_new_flags(world, login, session):
    client = login(world["office"])
    data = _student_form(world, csrf_token=_token(client, "/admin/student/new/"), enrolled_on="2026-09-01",
                         orphan="y", migrant="y")
    resp = client.post("/admin/student/new/", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[-1500:]
    session.expire_all()
    st = session.scalars(select(Student).where(Student.name == "新生甲")).one()
    assert st.flags == ["left_behind", "orphan", "migrant"]
    assert [e.start_date for e in session.scalars(select(Enrolment).where(Enrolment.student_id == st.id))] == [
        dt.date(2026, 9, 1)]


def test_editing_a_student_keeps_the_change(world, factory, login, session):
    st = factory.student(world.klass, world.village, name="旧名")
    session.commit()
    client = login(world["office"])
    url = f"/admin/student/edit/?id={st.id}"
    data = {"csrf_token": _token(client, url), "name": "新名", "gender": st.gender, "birth_date": "2016-05-01",
            "student_no": "", "id_card_no": "", "village": str(world.village.id),
            "guardians-0-id": str(st.guardians[0].id), "guardians-0-name": st.guardians[0].name,
            "guardians-0-relation": "父亲", "guardians-0-phone": "13800000000"}
    resp = client.post(url, data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[-1500:]
    session.expire_all()
    rows = session.scalars(select(StudentChange).where(StudentChange.student_id == st.id)).all()
    assert [(r.field, r.old, r.new, r.user_id) for r in rows] == [("name", "旧名", "新名", world["office"].id)]


def test_admin_creates_a_primary_school(world, login, session):
    client = login(world["admin"])
    resp = client.post("/admin/school/new/", data={"csrf_token": _token(client, "/admin/school/new/"),
                                                   "name": "新村小学", "kind": "branch", "level": "primary",
                                                   "parent": str(world.center.id)})
    assert resp.status_code == 302, resp.get_data(as_text=True)[-1500:]
    session.expire_all()
    assert session.scalars(select(School).where(School.name == "新村小学")).one().level == "primary"
