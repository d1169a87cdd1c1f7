"""Excel downloads of the weekly report and of a school's class figures (issue 12): what the page
shows, in scope, with rates as percentages and typed names never run as formulas."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from models import AttendanceRecord, CaseHistory
from tests.ui.pages_support import TODAY, fixed_clock, term  # noqa: F401  (fixtures)
from tests.ui.test_pages_oversight import _case

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _sheet(resp):
    assert resp.status_code == 200 and resp.mimetype == XLSX
    assert "attachment" in resp.headers["Content-Disposition"]
    return load_workbook(io.BytesIO(resp.data)).active


def test_weekly_report_of_a_center_downloads_with_each_school_and_the_total(world, factory, session, login):
    st = factory.student(world.klass, world.village)
    session.add(AttendanceRecord(student_id=st.id, class_id=world.klass.id, date=dt.date(2026, 10, 13),
                                 status="unexcused"))
    session.commit()
    client = login(world["center_head"])
    page = client.get(f"/reports/weekly?center_school_id={world.center.id}&week_of=2026-10-14").get_data(as_text=True)
    assert f"/reports/weekly/export?center_school_id={world.center.id}" in page.replace("&amp;", "&")
    ws = _sheet(client.get(f"/reports/weekly/export?center_school_id={world.center.id}&week_of=2026-10-14"))
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0][0] == "控辍保学周报 2026-10-12 至 2026-10-18"
    assert rows[1][:3] == ["学校", "旷课人次", "旷课人数"]
    by_name = {r[0]: r for r in rows[2:] if r[0]}
    assert by_name[world.branch.name][1:3] == [1, 1]
    assert by_name["合计"][1:3] == [1, 1]
    assert world.branch2.name in by_name


def test_weekly_export_of_another_centers_school_is_404(world, login):
    client = login(world["center_head"])
    assert client.get(f"/reports/weekly/export?school_id={world.other_branch.id}").status_code == 404
    assert client.get("/reports/weekly/export").status_code == 400


def test_class_figures_download_with_the_loss_rate_as_a_percentage(world, factory, session, login):
    from workflow.access.scope import scope_for
    from workflow.figures.baselines import freeze_baselines

    world.klass.name = "=HYPERLINK(\"x\")"  # a class name typed like a formula stays text
    pupils = [factory.student(world.klass, world.village) for _ in range(20)]
    office = world["office"]
    freeze_baselines(session, scope_for(session, office), office, school_id=world.branch.id,
                     school_year="2026-2027", term=1, today=TODAY)
    pupils[0].status = "dropped_out"
    case = _case(session, pupils[0], "absence", "dropout_confirmed", is_open=False)
    session.add(CaseHistory(case_id=case.id, transition="confirm_dropout", from_state="village_joint",
                            to_state="dropout_confirmed", role="principal", effective_date=TODAY))
    session.commit()
    client = login(office)
    page = client.get(f"/figures?school_id={world.branch.id}&school_year=2026-2027&term=1").get_data(as_text=True)
    assert 'data-export="class-figures"' in page
    ws = _sheet(client.get(f"/figures/export?school_id={world.branch.id}&school_year=2026-2027&term=1"))
    assert ws["A1"].value == f"{world.branch.name} 考核数据 2026-2027 第1学期"
    assert [c.value for c in ws[2]] == ["班级", "基数", "流失", "流失率", "超标", "系数", "劝返"]
    row = next(r for r in ws.iter_rows(min_row=3) if r[0].value == world.klass.name)
    assert row[0].data_type == "s"  # text, not a formula
    assert [row[1].value, row[2].value, float(row[3].value), row[4].value] == [20, 1, 0.05, "是"]
    assert row[3].number_format == "0.00%"


def test_class_figures_of_another_centers_school_is_404(world, login):
    resp = login(world["office"]).get(f"/figures/export?school_id={world.other_branch.id}")
    assert resp.status_code == 404
