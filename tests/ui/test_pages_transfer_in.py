"""The transfer-in page (/cases/new/transfer-in): the receiving school's academic office opens a
transfer-in in the browser, for a new child or one a sister school transferred out, and the
chosen class's homeroom teacher takes the child in from the case page."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Case, Student
from tests.ui.pages_support import TODAY, csrf, fixed_clock, term, text_of  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")
URL = "/cases/new/transfer-in"


def _new_student_form(world, token, **over):
    form = {"csrf_token": token, "source": "new", "class_id": str(world.klass.id), "origin_school": "外省某小学",
            "name": "王小花", "gender": "F", "birth_date": "2017-03-02", "village_id": str(world.village.id),
            "guardian_name": "王大山", "guardian_relation": "父亲", "guardian_phone": "13800000000"}
    form.update(over)
    return form


def _counts(session) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Case)),
            session.scalar(select(func.count()).select_from(Student)))


def _accept_on_case_page(client, case_id):
    html = client.get(f"/cases/{case_id}").get_data(as_text=True)
    block = html[html.index('data-transition="accept"'):]
    block = block[:block.index("</form>")]
    version = block.split('name="version" value="')[1].split('"')[0]
    resp = client.post(f"/cases/{case_id}/transitions/accept", data={"csrf_token": csrf(html), "version": version})
    assert resp.status_code == 302
    return client.get(resp.headers["Location"]).get_data(as_text=True)


def test_office_opens_transfer_in_for_new_student_and_homeroom_teacher_takes_them_in(
        world, session, login, app):
    office = login(world["office"])
    page = office.get(URL).get_data(as_text=True)
    assert 'data-nav="transfer-in"' in page and "三年级1班" in page and "东坡村" in page
    resp = office.post(URL, data=_new_student_form(world, csrf(page)))
    assert resp.status_code == 302
    case = session.scalars(select(Case).where(Case.process == "transfer_in")).one()
    assert resp.headers["Location"].endswith(f"/cases/{case.id}")
    assert case.state == "submitted" and case.data["class_id"] == world.klass.id
    student = case.student
    assert (student.name, student.status, student.school_id) == ("王小花", "incoming", world.branch.id)
    assert [(g.name, g.relation, g.phone) for g in student.guardians] == [("王大山", "父亲", "13800000000")]
    assert "已为王小花办理转入立案" in text_of(office.get(resp.headers["Location"]).get_data(as_text=True))
    office.post("/logout", data={"csrf_token": csrf(page)})

    teacher = login(world["teacher"])
    assert f"/cases/{case.id}" in teacher.get("/queue").get_data(as_text=True)
    assert "已办理「接收入班」" in text_of(_accept_on_case_page(teacher, case.id))
    session.expire_all()
    student = session.get(Student, student.id)
    assert (student.status, student.class_id) == ("active", world.klass.id)
    assert session.get(Case, case.id).state == "enrolled"


def test_student_transferred_out_by_sister_school_is_listed_and_can_be_taken_in(world, factory, session, login):
    sent = factory.student(world.other_class, name="赵小军", status="transferred_out")
    elsewhere = factory.student(world.other_class, name="钱小丽", status="transferred_out")
    for st, dest in ((sent, world.branch.id), (elsewhere, world.other_center.id)):
        session.add(Case(process="transfer_out", state="transferred", version=3, student_id=st.id,
                         school_id=world.other_branch.id, is_open=True, opened_on=TODAY,
                         data={"destination_school_id": dest}))
    session.commit()
    office = login(world["office"])
    page = office.get(URL).get_data(as_text=True)
    sisters = page[page.index("data-sisters"):page.index("</select>", page.index("data-sisters"))]
    assert "赵小军" in sisters and "钱小丽" not in sisters
    resp = office.post(URL, data={"csrf_token": csrf(page), "source": "sister", "student_id": str(sent.id),
                                  "class_id": str(world.klass2.id), "origin_school": "河口村小"})
    assert resp.status_code == 302
    case = session.scalars(select(Case).where(Case.process == "transfer_in")).one()
    assert (case.student_id, case.state, case.data["class_id"]) == (sent.id, "submitted", world.klass2.id)
    # with its transfer-in open, the child is no longer offered
    page = office.get(URL).get_data(as_text=True)
    assert "data-sisters-empty" in page and "赵小军" not in page[page.index("data-sisters-empty"):]


def test_teacher_may_not_open_the_transfer_in_page(world, login):
    client = login(world["teacher"])
    assert client.get(URL).status_code == 403
    assert 'data-nav="transfer-in"' not in client.get("/queue").get_data(as_text=True)


def test_missing_name_is_refused_in_chinese_and_nothing_is_written(world, session, login):
    office = login(world["office"])
    page = office.get(URL).get_data(as_text=True)
    before = _counts(session)
    resp = office.post(URL, data=_new_student_form(world, csrf(page), name=""))
    assert resp.status_code == 422
    text = text_of(resp.get_data(as_text=True))
    # the field is named by its label, never by its key (workflow.fieldnames)
    assert "输入有误" in text and "「姓名」" in text and "data.student.name" not in text
    # the entered values are shown again
    assert 'value="外省某小学"' in resp.get_data(as_text=True) and 'value="王大山"' in resp.get_data(as_text=True)
    assert _counts(session) == before


def test_post_without_csrf_token_is_rejected(world, session, login):
    office = login(world["office"])
    before = _counts(session)
    form = _new_student_form(world, "")
    del form["csrf_token"]
    assert office.post(URL, data=form).status_code == 400
    assert _counts(session) == before


def test_class_choices_name_school_class_and_year_in_the_users_language(world, login):
    client = login(world["office"])
    chinese = client.get(URL).get_data(as_text=True)
    assert f'<option value="{world.klass.id}"' in chinese and "东坡村小 三年级1班（2026-2027）" in chinese
    client.get("/lang/en")
    english = client.get(URL).get_data(as_text=True)
    assert "东坡村小 三年级1班 (2026-2027)" in english and "（2026-2027）" not in english
