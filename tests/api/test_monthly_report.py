"""monthly_report through the JSON API and the pages (SPEC §3.9): opened with POST /cases, moved
with the transitions, the county's roll-up and review list, the Excel export; a county of
another county gets 404 everywhere; the report page is printable and names the late schools."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from models import Case
from tests.conftest import csrf_token_from
from workflow import clock

NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=clock.SCHOOL_TZ)   # Monday: October is over


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))


@pytest.fixture
def term(factory, world, session):
    factory.term(world.center)
    session.commit()


def open_report(api, world, month="2026-10", school=None, who="office"):
    return api.as_user(world[who]).post("/cases", json={
        "process": "monthly_report", "data": {"school_id": (school or world.branch).id, "month": month}})


def fire(api, user, case_id, name, **body):
    version = api.session.get(Case, case_id).version
    return api.as_user(user).post(f"/cases/{case_id}/transitions/{name}", json={"version": version, **body})


@pytest.fixture
def stranger(factory, session):
    county = factory.school("远山县教育局", "county")
    user = factory.user("stranger", "county_supervisor", school=county)
    session.commit()
    return user


def test_the_api_runs_a_report_and_freezes_its_figures(api, world, term):
    r = open_report(api, world)
    assert r.status_code == 201, r.json
    case_id = r.json["id"]
    detail = api.as_user(world["office"]).get(f"/cases/{case_id}").json
    assert detail["student_id"] is None and detail["school_id"] == world.branch.id
    assert detail["due"] == "2026-11-06" and detail["available_transitions"] == ["submit"]
    assert fire(api, world["office"], case_id, "submit").status_code == 200
    detail = api.as_user(world["office"]).get(f"/cases/{case_id}").json
    assert detail["data"]["figures"]["month"] == "2026-10"
    r = fire(api, world["office"], case_id, "principal_approve")
    assert r.status_code == 403  # the office holds no principal role
    assert fire(api, world["principal"], case_id, "principal_approve").status_code == 200
    # the county's review list shows it; the school's roles see no such list
    review = api.as_user(world["supervisor"]).get("/monthly-reports/review").json
    assert [i["id"] for i in review["items"]] == [case_id] and review["items"][0]["month"] == "2026-10"
    assert api.as_user(world["office"]).get("/monthly-reports/review").json["items"] == []
    r = fire(api, world["supervisor"], case_id, "county_send_back")
    assert r.status_code == 422  # a comment naming what to correct
    r = fire(api, world["supervisor"], case_id, "county_send_back", comment="请补报转出学生去向")
    assert r.status_code == 200 and r.json["state"] == "draft"
    assert fire(api, world["office"], case_id, "submit").status_code == 200
    assert fire(api, world["principal"], case_id, "principal_approve").status_code == 200
    r = fire(api, world["supervisor"], case_id, "county_accept")
    assert r.status_code == 200 and r.json["state"] == "accepted"


def test_a_duplicate_and_bad_months_write_nothing(api, world, term, session):
    assert open_report(api, world).status_code == 201
    r = open_report(api, world)
    assert r.status_code == 409 and r.json["error"]["code"] == "duplicate"
    r = open_report(api, world, month="2026/10")
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "data.month"
    assert r.json["error"]["message"] == "月份必须是 YYYY-MM 格式，例如 2026-11"
    r = api.as_user(world["office"]).post("/cases", headers={"Accept-Language": "en"}, json={
        "process": "monthly_report", "data": {"school_id": world.branch.id, "month": "2026/10"}})
    assert r.json["error"]["message"] == "The month must be written as YYYY-MM, e.g. 2026-11"
    r = api.as_user(world["office"]).post("/cases", json={"process": "monthly_report", "student_id": 1,
                                                           "data": {"school_id": world.branch.id, "month": "2026-09"}})
    assert r.status_code == 422
    assert session.query(Case).count() == 1


def test_a_county_of_another_county_gets_404(api, world, term, stranger):
    case_id = open_report(api, world).json["id"]
    fire(api, world["office"], case_id, "submit")
    fire(api, world["principal"], case_id, "principal_approve")
    as_stranger = api.as_user(stranger)
    assert as_stranger.get(f"/cases/{case_id}").status_code == 404
    r = fire(api, stranger, case_id, "county_accept")
    assert r.status_code == 404
    assert as_stranger.get(f"/monthly-reports/{case_id}/export").status_code == 404
    assert as_stranger.get(f"/monthly-reports?school_id={world.branch.id}").status_code == 404
    assert as_stranger.get("/monthly-reports/review").json["items"] == []
    assert api.session.get(Case, case_id).state == "signed"


def test_the_rollup_names_late_schools(api, world, term, monkeypatch):
    case_id = open_report(api, world).json["id"]
    fire(api, world["office"], case_id, "submit")
    later = dt.datetime(2026, 11, 9, 10, 0, tzinfo=clock.SCHOOL_TZ)
    monkeypatch.setattr(clock, "now", lambda: later.astimezone(dt.UTC))
    r = api.as_user(world["supervisor"]).get("/monthly-reports?months=2026-10")
    assert r.status_code == 200
    cells = {i["school_id"]: i["months"][0] for i in r.json["items"]}
    assert cells[world.branch.id]["is_late"] is False and cells[world.branch.id]["state"] == "submitted"
    assert cells[world.branch2.id]["is_overdue"] is True and cells[world.branch2.id]["case_id"] is None
    assert world.county.id not in cells
    # a center sees its own schools only
    r = api.as_user(world["center_head"]).get("/monthly-reports?months=2026-10")
    assert {i["school_id"] for i in r.json["items"]} == {world.center.id, world.branch.id, world.branch2.id}
    assert api.as_user(world["teacher"]).get("/monthly-reports").status_code == 403
    assert api.as_user(world["supervisor"]).get("/monthly-reports?months=2026-13").status_code == 422


def test_the_export_is_the_frozen_report(api, world, term, factory, session):
    case_id = open_report(api, world).json["id"]
    assert api.as_user(world["office"]).get(f"/monthly-reports/{case_id}/export").status_code == 409
    fire(api, world["office"], case_id, "submit")
    r = api.as_user(world["supervisor"]).get(f"/monthly-reports/{case_id}/export")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(r.data)).active
    values = [row for row in ws.iter_rows(values_only=True)]
    assert ("月份", "2026-10") in [tuple(v[:2]) for v in values]


def test_a_formula_like_school_name_stays_text_in_the_export(api, world, term, session):
    world.branch.name = "=HYPERLINK(\"http://x\")"
    session.commit()
    case_id = open_report(api, world).json["id"]
    fire(api, world["office"], case_id, "submit")
    r = api.as_user(world["office"]).get(f"/monthly-reports/{case_id}/export")
    ws = load_workbook(io.BytesIO(r.data)).active
    cell = ws["B2"]
    assert cell.value == world.branch.name and cell.data_type == "s"


# --- pages ---------------------------------------------------------------------------------------


def test_pages_walk_a_report_through_its_steps(client, login, world, term, session):
    login(world["office"])
    page = client.get("/monthly/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "data-open-report" in html and "东坡村小" in html
    r = client.post("/monthly/open", data={"school_id": world.branch.id, "month": "2026-10",
                                           "csrf_token": csrf_token_from(html)})
    assert r.status_code == 302
    case = session.query(Case).filter_by(process="monthly_report").one()
    html = client.get(f"/monthly/{case.id}").get_data(as_text=True)
    assert 'data-step="submit"' in html and "2026-11-06" in html
    r = client.post(f"/monthly/{case.id}/transitions/submit",
                    data={"version": case.version, "csrf_token": csrf_token_from(html)})
    assert r.status_code == 302
    session.expire_all()
    assert session.get(Case, case.id).state == "submitted"
    html = client.get(f"/monthly/{case.id}").get_data(as_text=True)
    assert "data-figures" in html and "data-export" in html and 'data-step="principal_approve"' not in html


def test_the_county_page_lists_reports_to_review_and_drills_down(client, login, world, term, session, api):
    case_id = open_report(api, world).json["id"]
    fire(api, world["office"], case_id, "submit")
    fire(api, world["principal"], case_id, "principal_approve")
    login(world["supervisor"])
    html = client.get("/monthly/").get_data(as_text=True)
    assert f'data-review-case="{case_id}"' in html and "data-open-report" not in html
    html = client.get(f"/monthly/?school_id={world.branch.id}").get_data(as_text=True)
    assert f'data-drill="{world.branch.id}"' in html
    html = client.get(f"/monthly/{case_id}").get_data(as_text=True)
    assert 'data-step="county_accept"' in html and 'data-step="county_send_back"' in html
    r = client.post(f"/monthly/{case_id}/transitions/county_send_back",
                    data={"version": api.session.get(Case, case_id).version, "comment": "",
                          "csrf_token": csrf_token_from(html)})
    assert r.status_code == 302
    session.expire_all()
    assert session.get(Case, case_id).state == "signed"  # refused: no comment, nothing written


def test_pages_of_another_county_answer_404(client, login, world, term, stranger, api):
    case_id = open_report(api, world).json["id"]
    login(stranger)
    assert client.get(f"/monthly/{case_id}").status_code == 404
    assert client.get(f"/monthly/?school_id={world.branch.id}").status_code == 404
    assert client.get(f"/monthly/{case_id}/export").status_code == 404


def test_a_teacher_has_no_monthly_pages(client, login, world, term):
    login(world["teacher"])
    assert client.get("/monthly/").status_code == 403
    assert 'data-nav="monthly"' not in client.get("/").get_data(as_text=True)


def test_the_generic_case_page_shows_a_report(client, login, world, term, api):
    case_id = open_report(api, world).json["id"]
    login(world["office"])
    r = client.get(f"/cases/{case_id}")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "东坡村小" in html and "提交月报" in html


def test_the_report_page_reads_in_english(client, login, world, term, api):
    case_id = open_report(api, world).json["id"]
    fire(api, world["office"], case_id, "submit")
    login(world["office"])
    client.get("/lang/en")
    html = client.get(f"/monthly/{case_id}").get_data(as_text=True)
    assert "Monthly dropout-prevention report" in html and "Enrolled at the end of the month" in html
    assert "控辍保学月报" not in html and "月末在籍学生数" not in html
    html = client.get("/monthly/").get_data(as_text=True)
    assert "Monthly reports by school" in html and "Months late" in html
