"""督导: the center's schools at a glance, drill-down, the eight-week chart, the JSON report."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from models import AttendanceDay, AttendanceRecord, Case, CaseHistory
from tests.ui.pages_support import (  # noqa: F401  (fixtures)
    TODAY,
    fixed_clock,
    submitted_suspension,
    term,
    text_of,
)
from workflow.figures import oversight as ov
from workflow.processes import REGISTRY

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")


def _case(session, student, process, state, *, opened_on=TODAY, is_open=True, overdue=False, due=None):
    case = Case(process=process, state=state, version=1, student_id=student.id, school_id=student.school_id,
                is_open=is_open, opened_on=opened_on, is_overdue=overdue, due_on=due, data={})
    session.add(case)
    session.flush()
    session.add(CaseHistory(case_id=case.id, transition="create", to_state=state, role="system",
                            effective_date=opened_on))
    return case


@pytest.fixture
def cases(world, factory, session):
    """branch: an overdue absence at visit_3, an open recovery, a submitted suspension;
    branch2: one absence on time; the other center: an overdue absence (never shown)."""
    a = factory.student(world.klass, world.village, name="甲")
    b = factory.student(world.klass, world.village, name="乙", status="dropped_out")
    c = factory.student(world.klass, world.village, name="丙")
    d_class = factory.klass(world.branch2, 2, "二年级1班")
    d = factory.student(d_class, world.village2, name="丁")
    e = factory.student(world.other_class, world.other_village, name="戊")
    out = {
        "suspected": _case(session, a, "absence", "visit_3", overdue=True, due=TODAY - dt.timedelta(days=1)),
        "recovery": _case(session, b, "recovery", "open"),
        "on_time": _case(session, d, "absence", "visit_1", due=TODAY + dt.timedelta(days=1)),
        "other": _case(session, e, "absence", "village_joint", overdue=True, due=TODAY),
        "d_class": d_class,
    }
    session.commit()
    out["suspension"] = submitted_suspension(session, world, c)
    return out


def _row(html: str, attr: str, ident: int) -> str:
    start = html.index(f'{attr}="{ident}"')
    return html[start:html.index("</tr>", start)]


def _cell(row: str, col: str) -> str:
    m = re.search(rf'data-col="{col}"[^>]*>([^<]*)<', row)
    assert m, col
    return m.group(1).strip()


@pytest.mark.parametrize("role", ["center_head", "center_office"])
def test_center_roles_see_each_school_of_their_center(role, world, cases, login):
    html = login(world[role]).get("/oversight").get_data(as_text=True)
    text = text_of(html)
    assert "清水镇中心校" in text and "控辍保学督导" in text
    branch = _row(html, "data-school", world.branch.id)
    assert (_cell(branch, "open"), _cell(branch, "overdue"), _cell(branch, "recovery"),
            _cell(branch, "suspected"), _cell(branch, "loss-rate")) == ("3", "1", "1", "1", "—")
    assert 'class="text-right overdue" data-col="overdue"' in branch
    absence = REGISTRY["absence"]
    assert f"{absence.label}：{absence.state_labels['visit_3']} 1" in text_of(branch)
    branch2 = _row(html, "data-school", world.branch2.id)
    assert (_cell(branch2, "open"), _cell(branch2, "overdue")) == ("1", "0")
    assert f'data-school="{world.other_branch.id}"' not in html and "河口" not in text


def test_the_breakdown_names_processes_and_states_in_english(world, cases, login):
    client = login(world["center_head"])
    client.get("/lang/en")
    branch = _row(client.get("/oversight").get_data(as_text=True), "data-school", world.branch.id)
    breakdown = text_of(branch[branch.index("data-breakdown"):])
    assert "Absence home visits: Third home visit (reported) 1" in breakdown
    assert "Suspension: " in breakdown and not re.search(r"[\u4e00-\u9fff]", breakdown)


def test_totals_and_the_counter_to_drive_to_zero(world, cases, login):
    html = login(world["center_head"]).get("/oversight").get_data(as_text=True)
    totals = dict(re.findall(r'data-total="(\w+)">(\d+)<', html))
    assert totals == {"open": "4", "overdue": "1", "recovery": "1", "suspected": "1"}


@pytest.mark.parametrize("role", ["teacher", "office", "principal", "liaison", "subject", "team"])
def test_other_roles_may_not_open_oversight(role, world, login):
    client = login(world[role])
    assert client.get("/oversight").status_code == 403
    assert client.get(f"/oversight/schools/{world.branch.id}").status_code == 403


def test_another_center_is_not_found(world, cases, login):
    client = login(world["center_head"])
    assert client.get(f"/oversight?center_id={world.other_center.id}").status_code == 404
    assert client.get(f"/oversight/schools/{world.other_branch.id}").status_code == 404
    assert client.get(f"/oversight/classes/{world.other_class.id}").status_code == 404
    assert client.get("/oversight?center_id=abc").status_code == 404


def test_supervisor_sees_the_centers_and_drills_down(world, cases, login):
    client = login(world["supervisor"])
    html = client.get("/oversight").get_data(as_text=True)
    assert "各中心校控辍保学情况" in html
    center = _row(html, "data-center", world.center.id)
    other = _row(html, "data-center", world.other_center.id)
    assert (_cell(center, "open"), _cell(center, "overdue"), _cell(center, "suspected")) == ("4", "1", "1")
    assert (_cell(other, "open"), _cell(other, "overdue"), _cell(other, "suspected")) == ("1", "1", "1")
    html = client.get(f"/oversight?center_id={world.other_center.id}").get_data(as_text=True)
    assert f'data-school="{world.other_branch.id}"' in html


def test_drill_down_from_school_to_class_to_case(world, cases, login):
    client = login(world["center_office"])
    html = client.get(f"/oversight/schools/{world.branch.id}").get_data(as_text=True)
    assert f'data-class="{world.klass.id}"' in html and f'data-class="{world.klass2.id}"' not in html
    klass = html[html.index(f'data-class="{world.klass.id}"'):]
    assert "3 件" in klass[:400] and "疑似辍学 1" in klass[:400]
    html = client.get(f"/oversight/classes/{world.klass.id}").get_data(as_text=True)
    order = [int(x) for x in re.findall(r'data-case="(\d+)"', html)]
    assert order[0] == cases["suspected"].id and set(order) == {cases["suspected"].id, cases["recovery"].id,
                                                           cases["suspension"].id}
    assert client.get(f"/cases/{cases['suspected'].id}").status_code == 200


def test_missing_attendance_days_count_school_days_without_attendance(world, cases, session, login):
    # the last 14 days before Wed 14 Oct: 30 Sep–13 Oct; 1–7 October is the national holiday
    # only in real calendars — this test calendar has none, so 10 school days per class
    session.add(AttendanceDay(class_id=world.klass.id, date=dt.date(2026, 10, 13)))
    session.commit()
    got = ov.missing_attendance(session, [world.branch.id, world.branch2.id], today=TODAY)
    assert got == {world.branch.id: 9 + 10, world.branch2.id: 10}
    html = login(world["center_head"]).get("/oversight").get_data(as_text=True)
    assert _cell(_row(html, "data-school", world.branch.id), "missing") == "19"


def test_chart_shows_open_cases_and_unexcused_absences_of_eight_weeks(world, cases, factory, session, login):
    st = factory.student(world.klass, world.village, name="己")
    session.add(AttendanceRecord(student_id=st.id, class_id=world.klass.id, date=dt.date(2026, 10, 5),
                                 status="unexcused"))
    session.add(AttendanceRecord(student_id=st.id, class_id=world.klass.id, date=dt.date(2026, 10, 6),
                                 status="unexcused"))
    # a case opened six weeks ago and closed (effective) three weeks ago
    old = _case(session, st, "suspension", "withdrawn", opened_on=dt.date(2026, 9, 1), is_open=False)
    session.add(CaseHistory(case_id=old.id, transition="withdraw", from_state="draft", to_state="withdrawn",
                            role="homeroom_teacher", effective_date=dt.date(2026, 9, 23)))
    session.commit()
    weeks = ov.weekly_series(session, [world.branch.id, world.branch2.id], today=TODAY)
    assert [w.start for w in weeks][-1] == dt.date(2026, 10, 12) and len(weeks) == 8
    assert [w.unexcused for w in weeks] == [0, 0, 0, 0, 0, 0, 2, 0]
    # open at each week's end (weeks from Mon 24 Aug): `old` at the ends of the weeks of 31 Aug,
    # 7 and 14 Sep, no longer on Sun 27 Sep; the four cases of the fixture this week
    assert [w.open_cases for w in weeks] == [0, 1, 1, 1, 0, 0, 0, 4]
    html = login(world["center_head"]).get("/oversight").get_data(as_text=True)
    assert 'data-week="2026-10-05" data-open="0" data-unexcused="2"' in html
    assert "近八周趋势" in html and "<svg" in html


def test_oversight_page_prints_without_navigation(world, login, app):
    css = login(world["center_head"]).get("/static/app.css").get_data(as_text=True)
    assert "@media print" in css and "nav, footer, .no-print { display: none !important; }" in css


# --- the JSON report -------------------------------------------------------------------------------


def test_report_api_gives_the_same_figures(world, cases, api):
    resp = api.as_user(world["center_office"]).get(f"/reports/oversight?center_school_id={world.center.id}")
    assert resp.status_code == 200
    items = {i["school_id"]: i for i in resp.json["items"]}
    branch = items[world.branch.id]
    assert (branch["open_cases"], branch["overdue"], branch["open_recovery"], branch["suspected_dropouts"],
            branch["loss_rate"]) == (3, 1, 1, 1, None)
    assert branch["open_by_process"]["absence"] == {"visit_3": 1}
    assert world.other_branch.id not in items
    # a user overseeing one center may leave the parameter out
    assert api.get("/reports/oversight").json["center_school_id"] == world.center.id


def test_report_api_refuses_other_roles_and_other_centers(world, cases, api):
    assert api.as_user(world["principal"]).get("/reports/oversight").status_code == 403
    resp = api.as_user(world["center_head"]).get(f"/reports/oversight?center_school_id={world.other_center.id}")
    assert resp.status_code == 404 and resp.json["error"]["code"] == "not_found"
    assert api.get("/reports/oversight?center_school_id=x").status_code == 422
    assert api.as_user(world["supervisor"]).get("/reports/oversight").status_code == 422  # two centers


def test_loss_rate_shows_once_baselines_are_frozen_and_red_over_the_threshold(world, factory, session, login):
    from workflow.access.scope import scope_for
    from workflow.figures.baselines import freeze_baselines

    pupils = [factory.student(world.klass, world.village, name=f"学{i}") for i in range(20)]
    session.commit()
    html = login(world["center_head"]).get("/oversight").get_data(as_text=True)
    assert _cell(_row(html, "data-school", world.branch.id), "loss-rate") == "—"
    office = world["office"]
    freeze_baselines(session, scope_for(session, office), office, school_id=world.branch.id,
                     school_year="2026-2027", term=1, today=TODAY)
    # one pupil's dropout took effect in the term: 1 / 20 = 5% > 2%
    gone = pupils[0]
    gone.status = "dropped_out"
    case = _case(session, gone, "absence", "dropout_confirmed", is_open=False)
    session.add(CaseHistory(case_id=case.id, transition="confirm_dropout", from_state="village_joint",
                            to_state="dropout_confirmed", role="principal", effective_date=TODAY))
    session.commit()
    html = login(world["center_head"]).get("/oversight").get_data(as_text=True)
    row = _row(html, "data-school", world.branch.id)
    assert _cell(row, "loss-rate") == "5.00%" and 'overdue" data-col="loss-rate"' in row
    assert _cell(_row(html, "data-school", world.branch2.id), "loss-rate") == "—"
    county = login(world["supervisor"]).get("/oversight").get_data(as_text=True)
    assert _cell(_row(county, "data-center", world.center.id), "loss-rate") == "5.00%"
