"""Support pages (issue 15): the public fee page and the no-login survey page, the staff pages,
the panel on the child's page and the recovery case, receipts, scope 404s, escaping."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from models import Case, Fee, Payment, SurveyAnswer
from tests.conftest import csrf_token_from
from tests.support_helpers import publish_fee_schedule
from tests.workflow.conftest import Flow
from workflow.access.scope import scope_for
from workflow.support import aid, fees, learning, survey

YEAR = "2026-2027"
TODAY = dt.date(2026, 10, 12)


@pytest.fixture
def flow(session, factory, world):
    return Flow(session, factory, world)


def test_the_fee_schedule_is_public_without_login_and_escaped(client, world, session):
    publish_fee_schedule(session, world.branch, {"<b>作业本费</b>": "20"})
    fees.save_schedule(session, scope_for(session, world["office"]), world["office"], school_id=world.branch.id,
                       school_year="2027-2028", items=[{"name": "草稿里的项目", "amount": "1"}])
    session.commit()
    html = client.get("/fees").get_data(as_text=True)
    assert "东坡村小" in html and "&lt;b&gt;作业本费&lt;/b&gt;" in html and "<b>作业本费" not in html
    assert "草稿里的项目" not in html


def _open(session, world, factory, n=6):
    for _ in range(n):
        factory.student(world.klass, world.village)
    s, codes = survey.open_survey(session, scope_for(session, world["office"]), world["office"],
                                  class_id=world.klass.id, school_year=YEAR, term=1, today=TODAY)
    session.commit()
    return s, codes


def test_a_child_answers_on_the_phone_page_without_login_and_only_once(client, world, factory, session):
    s, codes = _open(session, world, factory)
    page = client.get("/s").get_data(as_text=True)
    token = csrf_token_from(page)
    form = client.post("/s", data={"csrf_token": token, "code": codes[0]})
    html = form.get_data(as_text=True)
    assert form.status_code == 200 and world["teacher"].name in html and 'name="step" value="answer"' in html
    answers = {f"q_{t.user_id}_{i}": "4" for t in s.teachers for i in range(len(survey.QUESTIONS))}
    done = client.post("/s", data={"csrf_token": token, "code": codes[0], "step": "answer", **answers})
    assert done.status_code == 200 and "data-done" in done.get_data(as_text=True)
    again = client.post("/s", data={"csrf_token": token, "code": codes[0], "step": "answer", **answers})
    assert again.status_code == 422 and "已经用过" in again.get_data(as_text=True)
    missing = dict(answers)
    missing.pop(next(iter(missing)))
    partial = client.post("/s", data={"csrf_token": token, "code": codes[1], "step": "answer", **missing})
    assert partial.status_code == 422 and "请回答每一个问题" in partial.get_data(as_text=True)
    wrong = client.post("/s", data={"csrf_token": token, "code": "ZZZZ-ZZZZ"})
    assert wrong.status_code == 422 and "代码不正确" in wrong.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(SurveyAnswer)) == 1


def test_the_office_opens_a_survey_and_gets_printable_slips(world, factory, login, session):
    for _ in range(3):
        factory.student(world.klass, world.village)
    client = login(world["office"])
    page = client.get("/support/surveys").get_data(as_text=True)
    token = csrf_token_from(page)
    term = re.search(r'name="term".*?value="(\d)" selected', page, re.S)
    slips = client.post("/support/surveys", data={"csrf_token": token, "class_id": world.klass.id,
                                                  "school_year": YEAR, "term": term.group(1) if term else "1"})
    html = slips.get_data(as_text=True)
    assert slips.status_code == 200
    assert len(re.findall(r'data-code>([A-Z0-9]{4}-[A-Z0-9]{4})<', html)) == 3


def test_staff_pages_render_and_out_of_scope_is_404(world, factory, login, session):
    child = factory.student(world.klass, world.village, learning_difficulty=True, poor=True)
    scope, office = scope_for(session, world["office"]), world["office"]
    f = learning.open_file(session, scope, office, student_id=child.id, helper_id=world["teacher"].id)
    aid.grant_aid(session, scope, office, student_id=child.id, school_year=YEAR, term=1, kind="living_allowance",
                  amount="625", granted_on="2026-09-10", today=TODAY)
    s, _codes = _open(session, world, factory, n=1)
    session.commit()
    client = login(world["office"])
    for url in ("/support", "/support/learning", f"/support/learning/{f.id}", "/support/aid", "/support/surveys",
                f"/support/surveys/{s.id}", "/support/fees", "/support/teachers",
                f"/support/teachers/{world['teacher'].id}"):
        assert client.get(url).status_code == 200, url
    student_page = client.get(f"/students/{child.id}").get_data(as_text=True)
    assert "data-support-panel" in student_page and 'data-aid="living_allowance"' in student_page
    other = login(world["other_office"])
    for url in (f"/support/learning/{f.id}", f"/support/surveys/{s.id}", f"/support/teachers/{world['teacher'].id}"):
        assert other.get(url).status_code == 404, url


def test_the_recovery_case_shows_the_aid_as_a_measure(world, factory, login, session, flow):
    child = flow.student("dropped_out", poor=True)
    case = flow.create("office", "recovery", child)
    aid.grant_aid(session, scope_for(session, world["office"]), world["office"], student_id=child.id,
                  school_year=YEAR, term=1, kind="fee_waiver", amount="120", granted_on="2026-09-10", today=TODAY)
    session.commit()
    html = login(world["office"]).get(f"/cases/{case.id}").get_data(as_text=True)
    assert "data-support-panel" in html and 'data-aid="fee_waiver"' in html


def test_a_payment_prints_a_receipt_in_scope(world, login, session, flow):
    case = flow.create("office", "return", flow.student("dropped_out"))
    fee = Fee(case_id=case.id, item="课本费", amount_due=120)
    session.add(fee)
    session.flush()
    pay = Payment(case_id=case.id, fee_id=fee.id, amount=100, receipt_no="SJ-0001")
    session.add(pay)
    session.commit()
    client = login(world["office"])
    assert "data-receipt-link" in client.get(f"/cases/{case.id}").get_data(as_text=True)
    html = client.get(f"/support/receipts/{pay.id}").get_data(as_text=True)
    assert "SJ-0001" in html and "东坡村小" in html and "100.00" in html and case.student.name in html
    assert login(world["other_office"]).get(f"/support/receipts/{pay.id}").status_code == 404
    assert session.get(Case, case.id) is not None


@pytest.mark.parametrize("url", ["/support", "/support/aid", "/support/fees"])
def test_staff_pages_need_a_login(client, url):
    assert client.get(url).status_code in (302, 401)
