"""No page shows another school's data (404 out of scope) and every form needs its CSRF token."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Case, CaseHistory, Document, Fee, GuardianContact, Payment, Visit
from tests.ui.pages_support import (  # noqa: F401  (fixtures)
    PDF,
    TODAY,
    csrf,
    fixed_clock,
    term,
    upload,
)
from workflow.access.scope import scope_for
from workflow.cases import engine

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")


@pytest.fixture
def two_cases(world, factory, session):
    """A suspension in world.branch (center) and one in other_branch (other center)."""
    mine = factory.student(world.klass, world.village, name="本校生")
    theirs = factory.student(world.other_class, world.other_village, name="外校生")
    session.commit()
    out = {}
    for key, st, teacher in (("mine", mine, world["teacher"]), ("theirs", theirs, world["other_teacher"])):
        out[key] = engine.create_case(session, scope_for(session, teacher), teacher, "suspension", st.id,
                                      {"start": "2026-10-15", "end": "2027-03-01"}, today=TODAY)
    session.commit()
    out["mine_student"], out["theirs_student"] = mine, theirs
    return out


def _writes(session) -> tuple:
    session.expire_all()
    return tuple(session.scalar(select(func.count()).select_from(m))
                 for m in (Case, CaseHistory, Visit, Document, Fee, Payment, GuardianContact))


ROLES = ["teacher", "subject", "office", "principal", "team", "center_head", "center_office", "liaison"]


def _get_pages(c, w):
    return [f"/cases/{c['theirs'].id}", f"/students/{c['theirs_student'].id}",
            f"/attendance?class_id={w.other_class.id}"]


@pytest.mark.parametrize("role", ROLES)
def test_pages_of_another_centers_case_and_student_are_not_found(role, world, two_cases, login):
    client = login(world[role])
    for path in _get_pages(two_cases, world):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert "外校生" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("role", ["teacher", "office", "principal", "center_head"])
def test_queue_and_lists_never_name_another_centers_student(role, world, two_cases, login):
    client = login(world[role])
    for path in ("/queue", "/home/summary", f"/students/{two_cases['mine_student'].id}", "/attendance"):
        resp = client.get(path)
        assert resp.status_code in (200, 403), path
        assert "外校生" not in resp.get_data(as_text=True), path


def _posts(case_id: int, student_id: int) -> list[tuple[str, dict]]:
    return [
        (f"/cases/{case_id}/transitions/withdraw", {"version": "1"}),
        (f"/cases/{case_id}/visits", {"date": TODAY.isoformat(), "kind": "home_visit"}),
        (f"/cases/{case_id}/documents", {"kind": "other", "file": upload(PDF, "a.pdf")}),
        (f"/cases/{case_id}/fees", {"item": "书费", "amount_due": "10"}),
        (f"/cases/{case_id}/payments", {"fee_id": "1", "amount": "1", "receipt_no": "R1"}),
        (f"/cases/{case_id}/contacts", {"contacted_at": "2026-10-14T09:00", "channel": "phone"}),
        (f"/students/{student_id}/cases", {"process": "suspension"}),
    ]


@pytest.mark.parametrize("index", range(7))
@pytest.mark.parametrize("role", ["teacher", "office", "center_office"])
def test_forms_posted_at_another_centers_case_are_not_found_and_write_nothing(
        index, role, world, two_cases, session, login):
    client = login(world[role])
    token = csrf(client.get("/queue").get_data(as_text=True))
    path, data = _posts(two_cases["theirs"].id, two_cases["theirs_student"].id)[index]
    before = _writes(session)
    resp = client.post(path, data={"csrf_token": token, **data}, content_type="multipart/form-data")
    assert resp.status_code == 404
    assert _writes(session) == before


def test_another_centers_class_is_not_found_on_the_attendance_form(world, two_cases, session, login):
    client = login(world["office"])
    token = csrf(client.get("/attendance").get_data(as_text=True))
    before = _writes(session)
    client.post("/attendance", data={"csrf_token": token, "class_id": str(world.other_class.id),
                                     "date": TODAY.isoformat()})
    assert _writes(session) == before


@pytest.mark.parametrize("index", range(7))
def test_every_case_form_needs_the_csrf_token(index, world, two_cases, session, login):
    client = login(world["teacher"])
    path, data = _posts(two_cases["mine"].id, two_cases["mine_student"].id)[index]
    before = _writes(session)
    resp = client.post(path, data=data, content_type="multipart/form-data")
    assert resp.status_code == 400
    assert _writes(session) == before


def test_the_attendance_form_needs_the_csrf_token(world, two_cases, session, login):
    client = login(world["teacher"])
    resp = client.post("/attendance", data={"class_id": str(world.klass.id), "date": TODAY.isoformat()})
    assert resp.status_code == 400
    session.expire_all()
    from models import AttendanceRecord

    assert session.scalar(select(func.count()).select_from(AttendanceRecord)) == 0


def test_every_rendered_form_carries_a_csrf_token(world, two_cases, login):
    client = login(world["teacher"])
    for path in (f"/cases/{two_cases['mine'].id}", f"/students/{two_cases['mine_student'].id}", "/attendance"):
        html = client.get(path).get_data(as_text=True)
        posts = html.count('method="post"')
        assert posts > 1 and html.count('name="csrf_token"') == posts, path


def test_case_admin_list_is_scoped_read_only_and_exports(world, two_cases, login):
    client = login(world["center_head"])
    html = client.get("/admin/case/").get_data(as_text=True)
    assert "本校生" in html and "外校生" not in html and "休学" in html
    assert client.get("/admin/case/new/").status_code in (302, 403, 404)
    assert client.get(f"/admin/case/edit/?id={two_cases['theirs'].id}").status_code in (302, 404)
    resp = client.get("/admin/case/export/xlsx/")
    assert resp.status_code == 200 and resp.data[:2] == b"PK"
    from io import BytesIO

    from openpyxl import load_workbook

    rows = list(load_workbook(BytesIO(resp.data)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "事项", "状态")
    assert [r[3] for r in rows[1:]] == ["本校生"] and rows[1][1] == "休学" and rows[1][2] == "草稿"
