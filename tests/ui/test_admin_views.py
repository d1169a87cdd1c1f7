"""档案管理 (Flask-Admin): what each role sees, 404 outside the scope, masking, export, language."""
from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook

from models import Student, Term

ID_CARD = "110101201605010012"
MASKED = "110101********0012"


@pytest.fixture
def pairs(world, factory, session):
    """For each admin view, one row the principal of `branch` (and center_head of `center`) may see
    and one of the other center they may not, each with a text that names it in the list."""
    w = world
    inner_student = factory.student(w.klass, w.village, name="内生甲")
    outer_student = factory.student(w.other_class, w.other_village, name="外生乙")
    rows = {
        "school": (w.branch, factory.school("外校乙", "branch", w.other_center), "东坡村小", "外校乙"),
        "village": (factory.village("内村甲", w.center), factory.village("外村乙", w.other_center), "内村甲", "外村乙"),
        "schoolclass": (factory.klass(w.branch, 5, "内班甲"), factory.klass(w.other_branch, 5, "外班乙"),
                        "内班甲", "外班乙"),
        "user": (factory.user("inner_a", "subject_teacher", klass=w.klass),
                 factory.user("outer_b", "subject_teacher", klass=w.other_class), "inner_a", "outer_b"),
        "student": (inner_student, outer_student, "内生甲", "外生乙"),
        "term": (factory.term(w.branch, school_year="2031-2032"), factory.term(w.other_branch, school_year="2041-2042"),
                 "2031-2032", "2041-2042"),
        "enrolment": (inner_student.enrolments[0], outer_student.enrolments[0], "内生甲", "外生乙"),
    }
    session.commit()
    return rows


VIEWS = ["school", "village", "schoolclass", "user", "student", "term", "enrolment"]
# (view, a role that may edit it): the edit page of an out-of-scope id must answer 404 for them.
EDITORS = [("school", "center_head"), ("village", "center_head"), ("schoolclass", "principal"),
           ("user", "principal"), ("student", "principal"), ("term", "principal"),
           ("schoolclass", "center_office"), ("student", "office")]


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("role", ["principal", "center_head"])
def test_list_shows_only_rows_in_scope(view, role, pairs, world, login):
    inner, outer, inner_text, outer_text = pairs[view]
    html = login(world[role]).get(f"/admin/{view}/").get_data(as_text=True)
    assert inner_text in html
    assert outer_text not in html


@pytest.mark.parametrize("view", VIEWS)
def test_details_of_out_of_scope_id_is_404(view, pairs, world, login):
    inner, outer, inner_text, _ = pairs[view]
    client = login(world["principal"])
    ok = client.get(f"/admin/{view}/details/?id={inner.id}")
    assert ok.status_code == 200 and inner_text in ok.get_data(as_text=True)
    assert client.get(f"/admin/{view}/details/?id={outer.id}").status_code == 404
    assert client.get(f"/admin/{view}/details/?id=not-a-number").status_code == 404


@pytest.mark.parametrize("view,role", EDITORS)
def test_edit_of_out_of_scope_id_is_404(view, role, pairs, world, login):
    inner, outer, _, _ = pairs[view]
    client = login(world[role])
    assert client.get(f"/admin/{view}/edit/?id={inner.id}").status_code == 200
    assert client.get(f"/admin/{view}/edit/?id={outer.id}").status_code == 404


def test_edit_of_out_of_scope_id_is_404_for_a_read_only_user_too(pairs, world, login):
    client = login(world["teacher"])
    inner, outer, _, _ = pairs["student"]
    assert client.get(f"/admin/student/edit/?id={outer.id}").status_code == 404
    # In scope but read-only: sent to the details page instead of an edit form.
    resp = client.get(f"/admin/student/edit/?id={inner.id}")
    assert resp.status_code == 302 and "/admin/student/details/" in resp.headers["Location"]


def test_post_to_out_of_scope_edit_changes_nothing(pairs, world, login, session):
    from tests.conftest import csrf_token_from

    _, outer, _, _ = pairs["student"]
    client = login(world["principal"])
    token = csrf_token_from(client.get("/admin/student/new/").get_data(as_text=True))
    resp = client.post(f"/admin/student/edit/?id={outer.id}", data={"csrf_token": token, "name": "改名"})
    assert resp.status_code == 404
    session.expire_all()
    assert session.get(Student, outer.id).name == "外生乙"


@pytest.mark.parametrize("role,full", [
    ("admin", True), ("office", True), ("principal", True), ("center_office", True),
    ("teacher", False), ("subject", False), ("team", False), ("center_head", False), ("supervisor", False),
])
def test_id_card_number_is_masked_except_for_records_roles(role, full, world, factory, session, login):
    st = factory.student(world.klass, world.village, name="身份证生", id_card_no=ID_CARD)
    session.commit()
    client = login(world[role])
    for url in ("/admin/student/", f"/admin/student/details/?id={st.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "身份证生" in html
        if full:
            assert ID_CARD in html
        else:
            assert ID_CARD not in html and MASKED in html


@pytest.mark.parametrize("lang,label", [("zh_CN", "留守儿童、贫困"), ("en", "Left-behind child")])
def test_student_list_names_each_childs_flags(lang, label, world, factory, session, login):
    factory.student(world.klass, world.village, name="留守生", left_behind=True, poor=True)
    session.commit()
    client = login(world["office"])
    client.get(f"/lang/{lang}")
    response = client.get("/admin/student/")
    assert response.status_code == 200
    assert label in response.get_data(as_text=True)


def test_masked_id_card_is_not_in_the_edit_form_of_a_center_head(world, factory, session, login):
    st = factory.student(world.klass, world.village, name="身份证生", id_card_no=ID_CARD)
    session.commit()
    html = login(world["center_head"]).get(f"/admin/student/edit/?id={st.id}").get_data(as_text=True)
    assert "身份证生" in html and ID_CARD not in html


def test_csv_export_contains_only_rows_in_scope(pairs, world, login):
    resp = login(world["principal"]).get("/admin/student/export/csv/")
    assert resp.status_code == 200
    text = resp.get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "姓名"
    names = {r[0] for r in rows[1:]}
    assert "内生甲" in names and "外生乙" not in names


def test_xlsx_export_contains_only_rows_in_scope_and_masks_for_teachers(world, factory, session, login):
    factory.student(world.klass, world.village, name="本班生", id_card_no=ID_CARD)
    factory.student(world.klass2, world.village, name="别班生")
    factory.student(world.other_class, world.other_village, name="外校生")
    session.commit()
    resp = login(world["teacher"]).get("/admin/student/export/xlsx/")
    assert resp.status_code == 200
    ws = load_workbook(io.BytesIO(resp.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "姓名"
    assert [r[0] for r in rows[1:]] == ["本班生"]
    assert MASKED in rows[1] and ID_CARD not in rows[1]


def test_export_follows_the_list_filter(world, factory, session, login):
    factory.student(world.klass, world.village, name="三班生")
    factory.student(world.klass2, world.village, name="四班生")
    session.commit()
    client = login(world["office"])
    html = client.get("/admin/student/").get_data(as_text=True)
    # The class filter is the first filter of the student list.
    assert "班级" in html
    text = client.get(f"/admin/student/export/csv/?flt0_0={world.klass.id}").get_data(as_text=True)
    assert "三班生" in text and "四班生" not in text


@pytest.mark.parametrize("role", ["principal", "teacher", "supervisor"])
def test_admin_pages_are_chinese(role, world, login):
    client = login(world[role])
    html = client.get("/admin/student/").get_data(as_text=True)
    for text in ("学生", "列表", "姓名", "学籍状态", "首页", "档案管理", "退出"):
        assert text in html
    assert ">List<" not in html and "Home" not in html
    index = client.get("/admin/").get_data(as_text=True)
    assert "学生" in index and 'href="/"' in index


def test_create_menu_is_chinese_for_an_editor(world, login):
    html = login(world["principal"]).get("/admin/student/").get_data(as_text=True)
    assert "创建" in html and "导出" in html
    form = login(world["principal"]).get("/admin/student/new/").get_data(as_text=True)
    assert "保存" in form and "监护人" in form


@pytest.mark.parametrize("view", VIEWS)
def test_anonymous_user_is_sent_to_login(view, client):
    resp = client.get(f"/admin/{view}/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_village_liaison_has_no_admin_access(world, login):
    client = login(world["liaison"])
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/student/").status_code == 403


@pytest.mark.parametrize("role", ["teacher", "subject", "team"])
def test_teachers_do_not_see_user_accounts(role, world, login):
    client = login(world[role])
    assert client.get("/admin/user/").status_code == 403
    assert "/admin/user/" not in client.get("/admin/student/").get_data(as_text=True)


@pytest.mark.parametrize("view", ["school", "village", "schoolclass", "user", "student", "term"])
def test_county_supervisor_is_read_only(view, world, login):
    client = login(world["supervisor"])
    html = client.get(f"/admin/{view}/").get_data(as_text=True)
    assert f"/admin/{view}/new/" not in html
    resp = client.get(f"/admin/{view}/new/")
    assert resp.status_code == 302


def test_county_supervisor_sees_every_center(pairs, world, login):
    html = login(world["supervisor"]).get("/admin/student/").get_data(as_text=True)
    assert "内生甲" in html and "外生乙" in html


@pytest.mark.parametrize("role", ["admin", "principal", "teacher"])
def test_enrolment_records_are_read_only(role, pairs, world, login, session):
    inner, _, _, _ = pairs["enrolment"]
    client = login(world[role])
    html = client.get("/admin/enrolment/").get_data(as_text=True)
    assert "/admin/enrolment/new/" not in html and "/admin/enrolment/edit/" not in html
    assert client.get("/admin/enrolment/new/").status_code == 302
    assert client.get(f"/admin/enrolment/edit/?id={inner.id}").status_code == 302


def test_user_pages_never_show_the_password_hash(world, login):
    client = login(world["admin"])
    teacher = world["teacher"]
    for url in ("/admin/user/", f"/admin/user/details/?id={teacher.id}", f"/admin/user/edit/?id={teacher.id}"):
        html = client.get(url).get_data(as_text=True)
        assert teacher.password_hash not in html
        assert "password_hash" not in html and "pbkdf2" not in html


def test_term_list_of_a_teacher_shows_their_school_calendar(world, factory, session, login):
    factory.term(world.branch, school_year="2031-2032")
    factory.term(world.other_branch, school_year="2041-2042")
    session.commit()
    html = login(world["teacher"]).get("/admin/term/").get_data(as_text=True)
    assert "2031-2032" in html and "2041-2042" not in html
    assert session.query(Term).count() == 2


@pytest.mark.parametrize("url", ["/admin/student/", "/admin/student/new/", "/admin/user/new/",
                                 "/admin/schoolclass/", "/admin/term/new/", "/admin/enrolment/"])
def test_filters_and_dropdowns_name_nothing_outside_the_scope(url, pairs, world, login):
    html = login(world["principal"]).get(url).get_data(as_text=True)
    # Filter options sit in the page as JSON with \uXXXX escapes.
    html = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), html)
    assert "外班乙" not in html and "河口村小" not in html and "河口村" not in html
    assert "东坡村小" in html
