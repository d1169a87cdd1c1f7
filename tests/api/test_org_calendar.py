"""PUT/GET /calendar/{school_id}: a term's dates, holidays and make-up days; branches inherit."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from models import CalendarDay, Term
from workflow import clock
from workflow.org.calendar import is_school_day


def counts(session):
    return (session.scalar(select(func.count()).select_from(Term)),
            session.scalar(select(func.count()).select_from(CalendarDay)))


# 2026-09-27 is a Sunday (make-up day before 国庆); 10-01..10-07 the National Day holiday.
NATIONAL_DAY = [f"2026-10-0{d}" for d in range(1, 8)]


def body(**kw):
    return {"school_year": "2026-2027", "term": 1, "start": "2026-09-01", "end": "2027-01-22",
            "holidays": NATIONAL_DAY, "workdays": ["2026-09-27", "2026-10-10"], **kw}


@pytest.mark.parametrize("role,school", [
    ("admin", "branch"),
    ("center_head", "center"),
    ("center_office", "branch2"),
    ("principal", "branch"),
    ("office", "branch"),
])
def test_allowed_roles_set_the_calendar(api, world, session, role, school):
    sid = getattr(world, school).id
    r = api.as_user(world[role]).put(f"/calendar/{sid}", json=body())
    assert r.status_code == 200, r.json
    assert r.json["holidays"] == NATIONAL_DAY
    assert r.json["workdays"] == ["2026-09-27", "2026-10-10"]
    assert (r.json["school_id"], r.json["source_school_id"], r.json["is_inherited"]) == (sid, sid, False)
    term = session.scalars(select(Term).where(Term.school_id == sid)).one()
    assert (term.start, term.end, term.term) == (dt.date(2026, 9, 1), dt.date(2027, 1, 22), 1)


def test_putting_a_term_again_replaces_it(api, world, session):
    api.as_user(world["office"])
    api.put(f"/calendar/{world.branch.id}", json=body())
    r = api.put(f"/calendar/{world.branch.id}", json=body(end="2027-01-15", holidays=["2026-10-01"], workdays=[]))
    assert r.status_code == 200
    assert counts(session) == (1, 1)
    got = api.get(f"/calendar/{world.branch.id}?school_year=2026-2027&term=1").json
    assert (got["end"], got["holidays"], got["workdays"]) == ("2027-01-15", ["2026-10-01"], [])


def test_school_days_follow_the_calendar(api, world, session):
    api.as_user(world["office"]).put(f"/calendar/{world.branch.id}", json=body())
    sid = world.branch.id
    assert is_school_day(session, sid, dt.date(2026, 9, 25))      # Friday
    assert not is_school_day(session, sid, dt.date(2026, 9, 26))  # Saturday
    assert is_school_day(session, sid, dt.date(2026, 9, 27))      # Sunday make-up day
    assert not is_school_day(session, sid, dt.date(2026, 10, 1))  # holiday on a Thursday
    assert not is_school_day(session, sid, dt.date(2026, 8, 31))  # before the term
    assert not is_school_day(session, world.other_branch.id, dt.date(2026, 9, 25))


@pytest.mark.parametrize("role,school,status", [
    ("principal", "branch2", 404),
    ("office", "center", 404),
    ("center_head", "other_branch", 404),
    ("teacher", "other_branch", 404),
    ("liaison", "branch", 404),
    ("teacher", "branch", 403),
    ("subject", "branch", 403),
    ("team", "branch", 403),
    ("supervisor", "branch", 403),
])
def test_others_may_not_set_the_calendar(api, world, session, role, school, status):
    r = api.as_user(world[role]).put(f"/calendar/{getattr(world, school).id}", json=body())
    assert r.status_code == status, r.json
    assert counts(session) == (0, 0)
    if status == 404:
        assert r.json["error"]["details"] == {"field": "school_id"}


# (change, details.field, what the message names): the body's shape errors name the JSON key;
# the calendar's own checks say what staff call the date
@pytest.mark.parametrize("change,field,named", [
    ({"school_year": "2026-2026"}, "school_year", "学年"),
    ({"term": 3}, "term", "term"),
    ({"start": "2026-9-1"}, "start", "start"),
    ({"start": "2027-02-01"}, "end", "学期结束日期"),
    ({"start": "2025-09-01"}, "start", "学期开始日期不在 2026-2027 学年之内"),
    ({"holidays": "2026-10-01"}, "holidays", "holidays"),
    ({"holidays": ["2026-10-32"]}, "holidays[0]", "holidays[0]"),
    ({"holidays": ["2026-08-31"]}, "holidays[0]", "节假日 2026-08-31"),
    ({"workdays": ["2026-09-28"]}, "workdays[0]", "调休上课日 2026-09-28"),
    ({"workdays": ["2027-02-06"]}, "workdays[0]", "调休上课日 2027-02-06"),
    ({"workdays": ["2026-10-03"]}, "workdays", "2026-10-03 不能同时是节假日和调休上课日"),
    ({"weekends": []}, "weekends", "weekends"),
])
def test_malformed_calendar_is_422_naming_the_field(api, world, session, change, field, named):
    r = api.as_user(world["admin"]).put(f"/calendar/{world.branch.id}", json=body(**change))
    assert r.status_code == 422, r.json
    assert r.json["error"]["details"]["field"] == field
    assert named in r.json["error"]["message"]
    assert counts(session) == (0, 0)


def test_workday_on_a_weekday_is_explained(api, world):
    r = api.as_user(world["admin"]).put(f"/calendar/{world.branch.id}", json=body(workdays=["2026-09-28"]))
    assert "周六或周日" in r.json["error"]["message"]


def test_holidays_are_required_but_workdays_are_not(api, world, session):
    data = body()
    del data["holidays"]
    r = api.as_user(world["admin"]).put(f"/calendar/{world.branch.id}", json=data)
    assert r.json["error"]["message"] == "缺少必填字段：holidays"
    data = body()
    del data["workdays"]
    assert api.put(f"/calendar/{world.branch.id}", json=data).status_code == 200


def test_a_failed_replacement_keeps_the_old_calendar(api, world, session):
    api.as_user(world["office"]).put(f"/calendar/{world.branch.id}", json=body())
    before = counts(session)
    r = api.put(f"/calendar/{world.branch.id}", json=body(holidays=["2027-03-01"]))
    assert r.status_code == 422
    assert counts(session) == before


def test_terms_of_a_year_may_not_overlap(api, world, session):
    api.as_user(world["office"]).put(f"/calendar/{world.branch.id}", json=body())
    r = api.put(f"/calendar/{world.branch.id}",
                json=body(term=2, start="2027-01-10", end="2027-07-01", holidays=[], workdays=[]))
    assert r.status_code == 422
    assert "第1学期" in r.json["error"]["message"]
    r = api.put(f"/calendar/{world.branch.id}",
                json=body(term=2, start="2027-02-22", end="2027-07-01", holidays=[], workdays=[]))
    assert r.status_code == 200


def test_county_node_has_no_calendar(api, world):
    r = api.as_user(world["admin"]).put(f"/calendar/{world.county.id}", json=body())
    assert r.status_code == 422
    assert r.json["error"]["details"] == {"field": "school_id"}


# --- GET: the calendar a school follows ------------------------------------------------------


def test_branch_without_its_own_calendar_follows_its_center(api, world):
    api.as_user(world["center_office"]).put(f"/calendar/{world.center.id}", json=body())
    r = api.as_user(world["teacher"]).get(f"/calendar/{world.branch.id}?school_year=2026-2027&term=1")
    assert r.status_code == 200
    assert (r.json["school_id"], r.json["source_school_id"], r.json["is_inherited"]) == \
        (world.branch.id, world.center.id, True)
    assert r.json["holidays"] == NATIONAL_DAY


def test_branch_with_its_own_calendar_keeps_it(api, world):
    api.as_user(world["center_office"]).put(f"/calendar/{world.center.id}", json=body())
    api.as_user(world["office"]).put(f"/calendar/{world.branch.id}", json=body(holidays=[]))
    r = api.get(f"/calendar/{world.branch.id}?school_year=2026-2027&term=1")
    assert (r.json["source_school_id"], r.json["holidays"]) == (world.branch.id, [])
    # the sister branch still follows the center
    r = api.as_user(world["center_head"]).get(f"/calendar/{world.branch2.id}?school_year=2026-2027&term=1")
    assert r.json["source_school_id"] == world.center.id


def test_another_centers_calendar_is_not_inherited(api, world):
    api.as_user(world["center_office"]).put(f"/calendar/{world.center.id}", json=body())
    r = api.as_user(world["other_principal"]).get(f"/calendar/{world.other_branch.id}?school_year=2026-2027&term=1")
    assert r.status_code == 404
    assert r.json["error"]["code"] == "no_calendar"


def test_without_a_term_the_current_one_is_answered(api, world, session, factory):
    today = clock.today()
    factory.term(world.center, start=today - dt.timedelta(days=10), end=today + dt.timedelta(days=10),
                 school_year=f"{today.year}-{today.year + 1}")
    r = api.as_user(world["principal"]).get(f"/calendar/{world.branch.id}")
    assert r.status_code == 200
    assert r.json["source_school_id"] == world.center.id


@pytest.mark.parametrize("role,school,status", [
    ("principal", "other_branch", 404),
    ("teacher", "branch2", 404),
    ("liaison", "branch", 404),
])
def test_calendar_of_a_school_out_of_scope_is_404(api, world, role, school, status):
    api.as_user(world["admin"]).put(f"/calendar/{getattr(world, school).id}", json=body())
    r = api.as_user(world[role]).get(f"/calendar/{getattr(world, school).id}?school_year=2026-2027&term=1")
    assert r.status_code == status


@pytest.mark.parametrize("query,field", [
    ("?school_year=2026-2027", "term"),
    ("?term=1", "school_year"),
    ("?school_year=2026-2027&term=x", "term"),
    ("?school_year=2026-2027&term=5", "term"),
    ("?school_year=26-27&term=1", "school_year"),
])
def test_bad_calendar_query_is_422(api, world, query, field):
    r = api.as_user(world["principal"]).get(f"/calendar/{world.branch.id}{query}")
    assert r.status_code == 422
    assert r.json["error"]["details"] == {"field": field}
