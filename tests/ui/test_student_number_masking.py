"""The 全国学籍号 ("G" + the ID-card number) is masked like the ID number for every role that
sees the ID number masked, on every screen that shows it (issue 11, item 6): the JSON API, the
change history, the 档案管理 list, details, edit form and exports. And none of the Flask-Admin
student screens answers 500, for any role that can reach them."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from workflow.access.masking import mask_student_no

ID_CARD = "110101201605010012"
STUDENT_NO = "G" + ID_CARD
MASKED_NO = "G110101********0012"
ROLES = [("admin", True), ("office", True), ("principal", True), ("center_office", True),
         ("center_head", False), ("teacher", False), ("subject", False), ("team", False), ("supervisor", False)]


@pytest.fixture
def child(world, factory, session):
    st = factory.student(world.klass, world.village, name="学籍生", id_card_no=ID_CARD, student_no=STUDENT_NO)
    session.commit()
    return st


def test_mask_keeps_the_g_and_masks_the_id_number_inside():
    assert mask_student_no(STUDENT_NO) == MASKED_NO
    assert mask_student_no("32010220160501") == "320102****0501"  # another form: first 6 + last 4
    assert mask_student_no("12345") == "*****"
    assert mask_student_no(None) is None


@pytest.mark.parametrize("role,full", ROLES)
def test_admin_screens_mask_the_student_number(role, full, world, child, login):
    client = login(world[role])
    for url in ("/admin/student/", f"/admin/student/details/?id={child.id}"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        html = resp.get_data(as_text=True)
        assert "学籍生" in html
        if full:
            assert STUDENT_NO in html
        else:
            assert ID_CARD not in html and MASKED_NO in html, url  # not even inside the 学籍号
    csv_text = client.get("/admin/student/export/csv/").get_data(as_text=True)
    ws = load_workbook(io.BytesIO(client.get("/admin/student/export/xlsx/").data)).active
    cells = [str(c) for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    if full:
        assert STUDENT_NO in csv_text and STUDENT_NO in cells
    else:
        assert ID_CARD not in csv_text and MASKED_NO in csv_text
        assert not any(ID_CARD in c for c in cells) and MASKED_NO in cells


@pytest.mark.parametrize("role,full", ROLES)
def test_api_masks_the_student_number(role, full, world, child, api):
    body = api.as_user(world[role]).get(f"/students/{child.id}").json
    assert body["student_no"] == (STUDENT_NO if full else MASKED_NO)
    assert body["id_card_no"] == (ID_CARD if full else "110101********0012")


def test_change_history_masks_the_student_number(world, child, api):
    r = api.as_user(world["office"]).request("PATCH", f"/students/{child.id}", json={"student_no": "G110101201605020015"})
    assert r.status_code == 200
    changes = api.as_user(world["teacher"]).get(f"/students/{child.id}/changes").json["items"]
    change = next(c for c in changes if c["field"] == "student_no")
    assert (change["old"], change["new"]) == (MASKED_NO, "G110101********0015")


@pytest.mark.parametrize("role,_full", ROLES)
def test_no_student_screen_answers_500(role, _full, world, child, login):
    """List (with a flag and a filter), details, create, edit and both exports: a page, a
    redirect or a refusal, never a server error; a masked role's edit form has no 学籍号 field."""
    child.left_behind = True
    client = login(world[role])
    urls = ["/admin/student/", f"/admin/student/?flt0_0={world.klass.id}", "/admin/student/?search=学籍",
            f"/admin/student/details/?id={child.id}", "/admin/student/new/", f"/admin/student/edit/?id={child.id}",
            "/admin/student/export/csv/", "/admin/student/export/xlsx/"]
    for url in urls:
        resp = client.get(url)
        assert resp.status_code in (200, 302, 403), (url, resp.status_code)
    edit = client.get(f"/admin/student/edit/?id={child.id}")
    if edit.status_code == 200:
        assert ID_CARD not in edit.get_data(as_text=True) or _full


def test_a_masked_editor_saves_the_form_without_touching_the_numbers(world, child, login, session):
    """A center head edits students but sees the numbers masked: the form has neither field, and
    saving it keeps both numbers as they were (a masked value is never written back)."""
    from models import Student
    from tests.conftest import csrf_token_from

    client = login(world["center_head"])
    url = f"/admin/student/edit/?id={child.id}"
    html = client.get(url).get_data(as_text=True)
    assert 'name="student_no"' not in html and 'name="id_card_no"' not in html
    resp = client.post(url, data={"csrf_token": csrf_token_from(html), "name": "改名生", "gender": "M",
                                  "birth_date": "2016-05-01", "village": str(world.village.id),
                                  "klass": str(world.klass.id)})
    assert resp.status_code == 302
    session.expire_all()
    st = session.get(Student, child.id)
    assert (st.name, st.student_no, st.id_card_no) == ("改名生", STUDENT_NO, ID_CARD)
