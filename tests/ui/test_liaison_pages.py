"""Village liaison pages: the own village's open cases (overdue in red), a case page with the
joint-visit form (CSRF, photo), other villages' cases 404, other roles 403."""
from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from models import Document, Visit
from tests.conftest import csrf_token_from
from tests.workflow.ladder_helpers import (  # noqa: F401  (fixtures)
    absence_cases,
    day,
    fixed_clock_fixture,
    marks_fixture,
    sweep,
    term_fixture,
)

U = "unexcused"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 32


@pytest.fixture
def cases(session, factory, world, marks):
    """An overdue case in the liaison's village, one in the neighbouring village of the same
    center, one in another center's village."""
    factory.term(world.other_center)
    mine = factory.student(world.klass, world.village, name="张小明")
    neighbour = factory.student(world.klass, world.village2, name="李小红")
    far = factory.student(world.other_class, world.other_village, name="王小刚")
    session.commit()
    for offset in range(4):
        marks.record(world.klass, day(offset), {mine: U, neighbour: U})
        marks.record(world.other_class, day(offset), {far: U})
    sweep(session, day(3))
    return [absence_cases(session, p)[0] for p in (mine, neighbour, far)]


def test_liaison_sees_own_village_cases_with_rung_days_and_overdue(login, world, cases):
    mine, neighbour, far = cases
    page = login(world["liaison"]).get("/liaison")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "张小明" in html and "李小红" not in html and "王小刚" not in html
    assert "村校联合家访" in html and "连续旷课 4 个上课日" in html
    assert f'data-case-id="{mine.id}"' in html and "data-overdue" in html and "list-group-item-danger" in html
    assert 'name="viewport"' in html


def test_other_villages_cases_are_404(login, world, cases):
    mine, neighbour, far = cases
    client = login(world["liaison"])
    assert client.get(f"/liaison/cases/{mine.id}").status_code == 200
    assert client.get(f"/liaison/cases/{neighbour.id}").status_code == 404
    assert client.get(f"/liaison/cases/{far.id}").status_code == 404
    assert client.get("/liaison/cases/999999").status_code == 404


@pytest.mark.parametrize("who", ["teacher", "principal", "admin"])
def test_only_village_liaisons_use_the_pages(login, world, cases, who):
    client = login(world[who])
    assert client.get("/liaison").status_code == 403
    assert client.get(f"/liaison/cases/{cases[0].id}").status_code == 403


def test_anonymous_is_sent_to_login(client, world, cases):
    resp = client.get("/liaison")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_liaison_logs_a_joint_visit_with_a_photo_and_the_case_is_no_longer_due(login, world, cases, session):
    mine = cases[0]
    client = login(world["liaison"])
    page = client.get(f"/liaison/cases/{mine.id}").get_data(as_text=True)
    assert "登记村校联合家访" in page and world["teacher"].name in page
    resp = client.post(f"/liaison/cases/{mine.id}", data={
        "csrf_token": csrf_token_from(page), "date": day(3).isoformat(),
        "participant_ids": [str(world["teacher"].id), str(world["principal"].id)],
        "other_participants": "村支书 赵大山", "guardian_present": "1", "outcome": "家长同意明天送孩子上学",
        "notes": "", "photo": (io.BytesIO(PNG), "家访.png"),
    }, content_type="multipart/form-data")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:500]
    visit = session.scalars(select(Visit).where(Visit.case_id == mine.id)).one()
    assert (visit.kind, visit.created_by_id, visit.other_participants) == (
        "village_joint", world["liaison"].id, "村支书 赵大山")
    assert {u.id for u in visit.participants} == {world["teacher"].id, world["principal"].id}
    assert session.get(Document, visit.photo_document_id).kind == "visit_photo"
    sweep(session, day(4))
    after = client.get("/liaison").get_data(as_text=True)
    assert "data-overdue" not in after
    assert "家长同意明天送孩子上学" in client.get(f"/liaison/cases/{mine.id}").get_data(as_text=True)


def test_visit_form_without_csrf_token_is_refused(login, world, cases, session):
    client = login(world["liaison"])
    resp = client.post(f"/liaison/cases/{cases[0].id}", data={"date": day(3).isoformat(), "guardian_present": "1"})
    assert resp.status_code == 400
    assert session.scalar(select(func.count(Visit.id))) == 0


def test_bad_visit_date_is_shown_and_writes_nothing(login, world, cases, session):
    client = login(world["liaison"])
    page = client.get(f"/liaison/cases/{cases[0].id}").get_data(as_text=True)
    resp = client.post(f"/liaison/cases/{cases[0].id}", data={
        "csrf_token": csrf_token_from(page), "date": "2099-01-01", "guardian_present": "0",
        "outcome": "未见到家长"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "不能晚于今天" in html and "未见到家长" in html
    assert session.scalar(select(func.count(Visit.id))) == 0
