"""档案管理 forms: creation through workflow.org, CSRF, role grants, deletes and bulk actions."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import (
    CalendarDay,
    Enrolment,
    Guardian,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Term,
    User,
    Village,
)
from tests.conftest import csrf_token_from
from tests.factories import PASSWORD


def _token(client, url="/admin/") -> str:
    return csrf_token_from(client.get(url).get_data(as_text=True))


def _student_form(world, **over):
    data = {
        "name": "新生甲", "gender": "F", "birth_date": "2017-03-04", "student_no": "G1101012017030400",
        "id_card_no": "", "klass": str(world.klass.id), "village": str(world.village.id), "left_behind": "y",
        "guardians-0-name": "王芳", "guardians-0-relation": "母亲", "guardians-0-phone": "13900000000",
    }
    data.update(over)
    return data


def _flashes(client) -> str:
    return client.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["principal", "office", "center_head", "center_office", "admin"])
def test_creating_a_student_writes_an_enrolment(role, world, login, session):
    client = login(world[role])
    data = _student_form(world, csrf_token=_token(client, "/admin/student/new/"))
    resp = client.post("/admin/student/new/", data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[-2000:]
    session.expire_all()
    st = session.scalars(select(Student).where(Student.name == "新生甲")).one()
    assert (st.school_id, st.class_id, st.status, st.left_behind, st.poor) == (
        world.branch.id, world.klass.id, "active", True, False)
    assert [(g.name, g.relation) for g in st.guardians] == [("王芳", "母亲")]
    enrolments = session.scalars(select(Enrolment).where(Enrolment.student_id == st.id)).all()
    assert [(e.class_id, e.end_date) for e in enrolments] == [(world.klass.id, None)]


def test_creating_a_student_without_csrf_token_fails_and_writes_nothing(world, login, session):
    client = login(world["principal"])
    resp = client.post("/admin/student/new/", data=_student_form(world))
    assert resp.status_code == 400
    session.expire_all()
    assert session.scalar(select(Student).where(Student.name == "新生甲")) is None
    assert session.query(Enrolment).count() == 0


def test_student_in_a_class_outside_the_scope_is_refused(world, login, session):
    client = login(world["principal"])
    data = _student_form(world, klass=str(world.other_class.id), csrf_token=_token(client, "/admin/student/new/"))
    resp = client.post("/admin/student/new/", data=data)
    assert resp.status_code == 200  # the form again, with the error
    session.expire_all()
    assert session.query(Student).count() == 0


def test_teacher_cannot_create_students(world, login, session):
    client = login(world["teacher"])
    data = _student_form(world, csrf_token=_token(client))
    assert client.post("/admin/student/new/", data=data).status_code == 302
    session.expire_all()
    assert session.query(Student).count() == 0


def test_service_error_is_flashed_in_chinese_and_nothing_is_written(world, factory, session, login):
    factory.student(world.klass, world.village, name="老生")
    session.commit()
    client = login(world["office"])
    data = _student_form(world, birth_date="2099-01-01", csrf_token=_token(client, "/admin/student/new/"))
    html = client.post("/admin/student/new/", data=data).get_data(as_text=True)
    assert "字段 birth_date 不能晚于今天" in html
    session.expire_all()
    assert session.scalar(select(Student).where(Student.name == "新生甲")) is None
    assert session.query(Guardian).count() == 1


def test_duplicate_student_number_is_refused_in_chinese(world, factory, session, login):
    factory.student(world.klass, world.village, name="老生", student_no="DUP-1")
    session.commit()
    client = login(world["office"])
    data = _student_form(world, student_no="DUP-1", csrf_token=_token(client, "/admin/student/new/"))
    html = client.post("/admin/student/new/", data=data).get_data(as_text=True)
    assert "已经存在" in html or "已存在" in html
    session.expire_all()
    assert session.query(Student).count() == 1


def test_student_cannot_be_deleted_in_the_admin(world, factory, session, login):
    st = factory.student(world.klass, world.village)
    session.commit()
    client = login(world["admin"])
    assert "/admin/student/delete/" not in client.get("/admin/student/").get_data(as_text=True)
    client.post("/admin/student/delete/", data={"id": st.id, "csrf_token": _token(client)})
    session.expire_all()
    assert session.get(Student, st.id) is not None


def test_editing_a_student_keeps_its_class(world, factory, session, login):
    st = factory.student(world.klass, world.village, name="旧名")
    session.commit()
    client = login(world["office"])
    url = f"/admin/student/edit/?id={st.id}"
    token = _token(client, url)
    resp = client.post(url, data={"csrf_token": token, "name": "新名", "gender": "M", "birth_date": "2016-05-01",
                                  "village": str(world.village2.id), "klass": str(world.klass2.id)})
    assert resp.status_code == 302
    session.expire_all()
    st = session.get(Student, st.id)
    assert (st.name, st.village_id, st.class_id) == ("新名", world.village2.id, world.klass.id)


# --- users and role grants ------------------------------------------------------------------------


def _user_form(token, username, role, school=None, klass=None, village=None, password="long-enough-1"):
    data = {"csrf_token": token, "username": username, "name": "新同事", "is_active": "y",
            "password": password, "roles-0-role": role}
    for key, obj in (("school", school), ("klass", klass), ("village", village)):
        if obj is not None:
            data[f"roles-0-{key}"] = str(obj.id)
    return data


def test_principal_creates_a_teacher_of_their_school(world, login, session):
    client = login(world["principal"])
    data = _user_form(_token(client, "/admin/user/new/"), "newteacher", "homeroom_teacher", klass=world.klass2)
    assert client.post("/admin/user/new/", data=data).status_code == 302
    session.expire_all()
    user = session.scalars(select(User).where(User.username == "newteacher")).one()
    assert user.check_password("long-enough-1") and user.password_hash != "long-enough-1"
    assert [(r.role, r.class_id) for r in user.roles] == [("homeroom_teacher", world.klass2.id)]


@pytest.mark.parametrize("school_attr", ["branch", "center"])
def test_principal_cannot_create_a_center_head(school_attr, world, login, session):
    client = login(world["principal"])
    data = _user_form(_token(client, "/admin/user/new/"), "boss", "center_head", school=getattr(world, school_attr))
    client.post("/admin/user/new/", data=data)
    session.expire_all()
    assert session.scalar(select(User).where(User.username == "boss")) is None


def test_principal_cannot_grant_center_head_to_an_existing_user(world, login, session):
    teacher = world["teacher"]
    client = login(world["principal"])
    url = f"/admin/user/edit/?id={teacher.id}"
    ra = teacher.roles[0]
    data = {"csrf_token": _token(client, url), "name": teacher.name, "is_active": "y",
            "roles-0-id": str(ra.id), "roles-0-role": "homeroom_teacher", "roles-0-klass": str(world.klass.id),
            "roles-1-role": "principal", "roles-1-school": str(world.branch.id)}
    html = client.post(url, data=data, follow_redirects=True).get_data(as_text=True)
    assert "您只能授予低于您本人最高角色、且在您管辖范围内的角色" in html
    session.expire_all()
    roles = session.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == teacher.id)).all()
    assert roles == ["homeroom_teacher"]


def test_center_head_may_grant_principal_in_a_branch(world, login, session):
    teacher = world["teacher"]
    client = login(world["center_head"])
    url = f"/admin/user/edit/?id={teacher.id}"
    ra = teacher.roles[0]
    data = {"csrf_token": _token(client, url), "name": teacher.name, "is_active": "y",
            "roles-0-id": str(ra.id), "roles-0-role": "homeroom_teacher", "roles-0-klass": str(world.klass.id),
            "roles-1-role": "principal", "roles-1-school": str(world.branch2.id)}
    assert client.post(url, data=data).status_code == 302
    session.expire_all()
    roles = set(session.scalars(select(RoleAssignment.role).where(RoleAssignment.user_id == teacher.id)))
    assert roles == {"homeroom_teacher", "principal"}


def test_principal_cannot_edit_a_user_whose_role_they_could_not_grant(world, login):
    client = login(world["principal"])
    liaison = world["liaison"]
    # The principal sees the liaison of a village of their center, but may not grant that role.
    assert client.get(f"/admin/user/details/?id={liaison.id}").status_code == 200
    resp = client.get(f"/admin/user/edit/?id={liaison.id}")
    assert resp.status_code == 302 and "details" in resp.headers["Location"]


def test_new_password_is_hashed_on_save_and_works_at_login(world, login, session):
    from workflow.access.accounts import authenticate

    teacher = world["teacher"]
    client = login(world["principal"])
    url = f"/admin/user/edit/?id={teacher.id}"
    ra = teacher.roles[0]
    data = {"csrf_token": _token(client, url), "name": teacher.name, "is_active": "y", "password": "brand-new-pw-9",
            "roles-0-id": str(ra.id), "roles-0-role": "homeroom_teacher", "roles-0-klass": str(world.klass.id)}
    assert client.post(url, data=data).status_code == 302
    session.expire_all()
    assert session.get(User, teacher.id).password_hash != "brand-new-pw-9"
    assert authenticate(session, "teacher", "brand-new-pw-9").id == teacher.id


def test_empty_password_on_edit_keeps_the_old_one(world, login, session):
    teacher = world["teacher"]
    before = teacher.password_hash
    client = login(world["principal"])
    url = f"/admin/user/edit/?id={teacher.id}"
    ra = teacher.roles[0]
    data = {"csrf_token": _token(client, url), "name": "改了名", "is_active": "y", "password": "",
            "roles-0-id": str(ra.id), "roles-0-role": "homeroom_teacher", "roles-0-klass": str(world.klass.id)}
    assert client.post(url, data=data).status_code == 302
    session.expire_all()
    user = session.get(User, teacher.id)
    assert user.name == "改了名" and user.password_hash == before and user.check_password(PASSWORD)


# --- schools, villages, classes, calendar ----------------------------------------------------------


def test_center_head_adds_a_branch_school_to_their_center(world, login, session):
    client = login(world["center_head"])
    data = {"csrf_token": _token(client, "/admin/school/new/"), "name": "新建教学点", "kind": "branch",
            "parent": str(world.center.id)}
    assert client.post("/admin/school/new/", data=data).status_code == 302
    session.expire_all()
    school = session.scalars(select(School).where(School.name == "新建教学点")).one()
    assert (school.parent_id, school.center_id, school.county_id) == (world.center.id, world.center.id, world.county.id)


def test_center_head_cannot_create_a_center_school(world, login, session):
    client = login(world["center_head"])
    data = {"csrf_token": _token(client, "/admin/school/new/"), "name": "假中心校", "kind": "center",
            "parent": str(world.center.id)}
    client.post("/admin/school/new/", data=data)
    session.expire_all()
    assert session.scalar(select(School).where(School.name == "假中心校")) is None


@pytest.mark.parametrize("role,allowed", [("center_office", True), ("principal", False), ("supervisor", False)])
def test_who_may_add_a_village(role, allowed, world, login, session):
    client = login(world[role])
    data = {"csrf_token": _token(client), "name": "新村", "center_school": str(world.center.id)}
    client.post("/admin/village/new/", data=data)
    session.expire_all()
    assert (session.scalar(select(Village).where(Village.name == "新村")) is not None) is allowed


def test_principal_creates_a_class_in_their_school_only(world, login, session):
    client = login(world["principal"])
    token = _token(client, "/admin/schoolclass/new/")
    ok = {"csrf_token": token, "school": str(world.branch.id), "school_year": "2026-2027", "grade": "5",
          "name": "五年级1班"}
    assert client.post("/admin/schoolclass/new/", data=ok).status_code == 302
    client.post("/admin/schoolclass/new/", data={**ok, "school": str(world.branch2.id), "name": "五年级2班"})
    session.expire_all()
    names = set(session.scalars(select(SchoolClass.name).where(SchoolClass.grade == 5)))
    assert names == {"五年级1班"}


def test_class_with_students_cannot_be_deleted(world, factory, session, login):
    factory.student(world.klass, world.village)
    session.commit()
    client = login(world["principal"])
    html = client.post("/admin/schoolclass/delete/", data={"id": world.klass.id, "csrf_token": _token(client)},
                       follow_redirects=True).get_data(as_text=True)
    assert "该班级还有学生" in html
    session.expire_all()
    assert session.get(SchoolClass, world.klass.id) is not None


def test_bulk_delete_converts_ids_and_stays_in_scope(world, factory, session, login):
    empty = factory.klass(world.branch, 6, "空班")
    outer = factory.klass(world.other_branch, 6, "外校空班")
    session.commit()
    client = login(world["principal"])
    data = {"csrf_token": _token(client, "/admin/schoolclass/"), "action": "delete",
            "rowid": [str(empty.id), str(outer.id)]}
    assert client.post("/admin/schoolclass/action/", data=data).status_code == 302
    session.expire_all()
    assert session.get(SchoolClass, empty.id) is None
    assert session.get(SchoolClass, outer.id) is not None


def test_school_with_classes_cannot_be_deleted_even_by_admin(world, login, session):
    client = login(world["admin"])
    client.post("/admin/school/delete/", data={"id": world.branch.id, "csrf_token": _token(client)})
    session.expire_all()
    assert session.get(School, world.branch.id) is not None


def test_calendar_is_saved_through_the_calendar_service(world, login, session):
    client = login(world["office"])
    data = {"csrf_token": _token(client, "/admin/term/new/"), "school": str(world.branch.id),
            "school_year": "2026-2027", "term": "1", "start": "2026-09-01", "end": "2027-01-22",
            "days-0-date": "2026-10-01", "days-0-kind": "holiday",
            "days-1-date": "2026-10-10", "days-1-kind": "workday"}
    assert client.post("/admin/term/new/", data=data).status_code == 302
    session.expire_all()
    term = session.scalars(select(Term).where(Term.school_id == world.branch.id)).one()
    assert {(d.date, d.kind) for d in term.days} == {(dt.date(2026, 10, 1), "holiday"),
                                                     (dt.date(2026, 10, 10), "workday")}


def test_calendar_rule_violation_is_flashed_and_nothing_written(world, login, session):
    client = login(world["office"])
    data = {"csrf_token": _token(client, "/admin/term/new/"), "school": str(world.branch.id),
            "school_year": "2026-2027", "term": "1", "start": "2026-09-01", "end": "2027-01-22",
            "days-0-date": "2026-10-12", "days-0-kind": "workday"}  # a Monday is no make-up day
    html = client.post("/admin/term/new/", data=data, follow_redirects=True).get_data(as_text=True)
    assert "只能填周六或周日" in html
    session.expire_all()
    assert session.query(Term).count() == 0 and session.query(CalendarDay).count() == 0


def test_editing_a_term_replaces_its_days_but_not_which_term_it_is(world, factory, session, login):
    term = factory.term(world.branch)
    term.days.append(CalendarDay(date=dt.date(2026, 10, 1), kind="holiday"))
    session.commit()
    client = login(world["principal"])
    url = f"/admin/term/edit/?id={term.id}"
    data = {"csrf_token": _token(client, url), "school_year": "2030-2031", "term": "2",
            "start": "2026-09-02", "end": "2027-01-20", "days-0-date": "2026-10-02", "days-0-kind": "holiday"}
    assert client.post(url, data=data).status_code == 302
    session.expire_all()
    term = session.get(Term, term.id)
    assert (term.school_year, term.term, term.start) == ("2026-2027", 1, dt.date(2026, 9, 2))
    assert [(d.date, d.kind) for d in term.days] == [(dt.date(2026, 10, 2), "holiday")]
