"""The figures API (baselines, reports, exam import) and the /figures pages."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from models import Baseline, ExamScore
from tests.conftest import csrf_token_from
from tests.workflow.conftest import Flow
from tests.workflow.test_figures import YEAR, Drive


@pytest.fixture
def drive(session, factory, world):
    return Drive(session, factory, world, Flow(session, factory, world))


def freeze_body(world, **kw):
    return {"school_id": world.branch.id, "school_year": YEAR, "term": 1, **kw}


def classes_report(api, world, who="office", term=1):
    r = api.as_user(world[who]).get(f"/reports/classes?school_id={world.branch.id}&school_year={YEAR}&term={term}")
    assert r.status_code == 200, r.json
    return {i["class_id"]: i for i in r.json["items"]}


def xlsx(rows, header=("学籍号", "姓名", "科目", "分数")) -> bytes:
    wb = Workbook()
    wb.active.append(list(header))
    for row in rows:
        wb.active.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --- baselines and class figures --------------------------------------------------------------


def test_class_report_is_null_before_freezing_and_decimal_strings_after(api, drive, world):
    kids = drive.students(world.klass, 50)
    special = drive.students(world.klass, 1, disability=True)[0]
    drive.exclude(special)
    drive.dropout(kids[0], dt.date(2026, 10, 20))

    before = classes_report(api, world)[world.klass.id]
    assert before["baseline"] is None and before["loss_rate"] is None
    assert before["losses"] == 1 and before["coefficient"] == "0.98"

    r = api.as_user(world["office"]).post("/baselines", json=freeze_body(world))
    assert r.status_code == 200, r.json
    frozen = {b["class_id"]: b for b in r.json["items"]}
    assert frozen[world.klass.id]["count"] == 50 and frozen[world.klass.id]["rule"] == "term_start"
    assert special.id not in frozen[world.klass.id]["student_ids"]

    after = classes_report(api, world)[world.klass.id]
    assert after["baseline"] == 50
    assert after["loss_rate"] == "0.0200"
    assert after["over_threshold"] is False
    assert after["coefficient"] == "0.98"
    assert after["loss_student_ids"] == [kids[0].id]
    assert after["recovered"] == 0 and after["recovered_student_ids"] == []


def test_freezing_again_keeps_the_baseline_unless_refreeze(api, drive, session, world):
    drive.students(world.klass, 10)
    first = api.as_user(world["office"]).post("/baselines", json=freeze_body(world)).json["items"]
    drive.students(world.klass, 1)
    again = api.as_user(world["office"]).post("/baselines", json=freeze_body(world)).json["items"]
    assert [b["id"] for b in again] == [b["id"] for b in first]
    redo = api.as_user(world["principal"]).post("/baselines", json=freeze_body(world, refreeze=True, reason="补录"))
    assert redo.status_code == 200
    row = next(b for b in redo.json["items"] if b["class_id"] == world.klass.id)
    assert row["count"] == 11 and row["reason"] == "补录" and row["replaces_id"] is not None
    assert session.scalar(select(func.count()).select_from(Baseline).where(Baseline.class_id == world.klass.id)) == 2


@pytest.mark.parametrize("who, status", [("teacher", 403), ("team", 403), ("supervisor", 403),
                                         ("other_principal", 404), ("center_office", 200)])
def test_who_may_freeze_over_the_api(api, drive, world, who, status):
    r = api.as_user(world[who]).post("/baselines", json=freeze_body(world))
    assert r.status_code == status, r.json


@pytest.mark.parametrize("body, field", [
    ({"term": 3}, "term"), ({"school_year": "2026"}, "school_year"), ({"refreeze": "yes"}, "refreeze"),
    ({"extra": 1}, "extra"),
])
def test_malformed_freeze_is_422_naming_the_field(api, drive, world, body, field):
    r = api.as_user(world["office"]).post("/baselines", json=freeze_body(world, **body))
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == field


def test_freeze_without_a_calendar_is_422(api, factory, world):
    r = api.as_user(world["office"]).post("/baselines", json=freeze_body(world))
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "term"
    assert "校历" in r.json["error"]["message"]


def test_class_report_needs_year_and_term_and_hides_other_schools(api, drive, world):
    assert api.as_user(world["office"]).get(f"/reports/classes?school_id={world.branch.id}&term=1").status_code == 422
    r = api.as_user(world["other_principal"]).get(
        f"/reports/classes?school_id={world.branch.id}&school_year={YEAR}&term=1")
    assert r.status_code == 404


def test_teacher_sees_only_their_own_class(api, drive, world):
    drive.students(world.klass, 3)
    assert set(classes_report(api, world, who="teacher")) == {world.klass.id}


def test_two_losses_of_fifty_are_over_threshold(api, drive, world):
    kids = drive.students(world.klass, 50)
    api.as_user(world["office"]).post("/baselines", json=freeze_body(world))
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    drive.dropout(kids[1], dt.date(2026, 10, 27))
    row = classes_report(api, world)[world.klass.id]
    assert (row["loss_rate"], row["over_threshold"], row["coefficient"]) == ("0.0400", True, "0.96")


# --- ledger and school figures ----------------------------------------------------------------


def test_ledger_lines_are_money_strings_traceable_to_student_and_case(api, drive, world):
    kids = drive.students(world.klass, 20)
    case = drive.dropout(kids[0], dt.date(2026, 10, 20))
    r = api.as_user(world["principal"]).get(
        f"/reports/ledger?school_id={world.branch.id}&school_year={YEAR}&term=1")
    assert r.status_code == 200
    lines = {(li["user_id"], li["role"]): li for li in r.json["items"]}
    assert set(lines) == {(world["teacher"].id, "homeroom_teacher"), (world["team"].id, "team_member")}
    teacher = lines[(world["teacher"].id, "homeroom_teacher")]
    assert teacher["amount"] == "-50.00"
    assert (teacher["student_id"], teacher["case_id"], teacher["class_id"]) == (kids[0].id, case.id, world.klass.id)
    assert {t["amount"] for t in r.json["totals"]} == {"-50.00"}


def test_ledger_amounts_come_from_configuration(api, app, drive, world):
    kids = drive.students(world.klass, 5)
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    app.config["FIGURES"] = {"loss_amount": "-80"}
    try:
        r = api.as_user(world["principal"]).get(
            f"/reports/ledger?school_id={world.branch.id}&school_year={YEAR}&term=1")
    finally:
        app.config.pop("FIGURES")
    assert {li["amount"] for li in r.json["items"]} == {"-80.00"}


def test_school_report(api, drive, world):
    kids = drive.students(world.klass, 40)
    drive.dropout(kids[0], dt.date(2026, 11, 2))
    r = api.as_user(world["center_head"]).get(f"/reports/schools?school_id={world.branch.id}&school_year={YEAR}")
    assert r.status_code == 200, r.json
    assert (r.json["enrolment"], r.json["dropouts"], r.json["dropout_rate"]) == (40, 1, "0.0250")
    assert r.json["dropout_target"] == "0.02" and r.json["meets_target"] is False
    assert r.json["definition"] == {"count_suspensions": False, "count_deaths": False,
                                    "count_unconfirmed_transfers": False}


# --- exams ------------------------------------------------------------------------------------


def _upload(api, world, data, who="teacher", **form):
    fields = {"class_id": str(world.klass.id), "school_year": YEAR, "term": "1", **form,
              "file": (io.BytesIO(data), "成绩.xlsx")}
    return api.as_user(world[who]).request("POST", "/exams/import", data=fields,
                                           content_type="multipart/form-data")


def test_exam_import_and_accounted_report(api, drive, session, world):
    kids = drive.students(world.klass, 3)
    for i, kid in enumerate(kids):
        kid.student_no = f"S{i}"
    session.commit()
    r = _upload(api, world, xlsx([("S0", "", "数学", 90), ("S1", "", "数学", 70), ("S2", "", "数学", 50)]))
    assert r.status_code == 201, r.json
    assert (r.json["imported"], r.json["errors"]) == (3, [])
    drive.dropout(kids[1], dt.date(2026, 10, 20))

    report = api.as_user(world["office"]).get(f"/reports/exams?class_id={world.klass.id}&school_year={YEAR}&term=1")
    assert report.status_code == 200, report.json
    maths = report.json["subjects"][0]
    assert maths["raw"] == {"count": 3, "average": "70.00", "pass_rate": "0.6667", "excellent_rate": "0.3333"}
    assert maths["accounted"] == {"count": 3, "average": "46.67", "pass_rate": "0.3333",
                                  "excellent_rate": "0.3333"}
    assert report.json["lost"][0]["student_id"] == kids[1].id


def test_exam_import_with_bad_rows_is_422_listing_them_and_writes_nothing(api, drive, session, world):
    kids = drive.students(world.klass, 1)
    kids[0].student_no = "S0"
    session.commit()
    data = xlsx([("S0", "", "数学", 90), ("S9", "", "数学", 70), ("S0", "", "语文", "九十"), ("S0", "", "英语", 120)])
    r = _upload(api, world, data)
    assert r.status_code == 422
    assert r.json["error"]["code"] == "invalid_rows"
    assert [e["row"] for e in r.json["error"]["details"]["errors"]] == [3, 4, 5]
    assert session.scalar(select(func.count()).select_from(ExamScore)) == 0

    partial = _upload(api, world, data, only_valid="true")
    assert partial.status_code == 201 and partial.json["imported"] == 1 and partial.json["skipped"] == 3


def test_exam_import_refuses_a_file_that_is_not_xlsx(api, drive, world):
    r = _upload(api, world, "学籍号,分数\nS0,90\n".encode())
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "file"


# --- pages ------------------------------------------------------------------------------------


def test_figures_page_shows_rates_and_freezes_with_csrf(client, login, drive, world):
    kids = drive.students(world.klass, 50)
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    drive.dropout(kids[1], dt.date(2026, 10, 21))
    login(world["office"])
    url = f"/figures?school_id={world.branch.id}&school_year={YEAR}&term=1"
    page = client.get(url).get_data(as_text=True)
    assert "考核数据" in page and "data-freeze" in page
    assert client.post("/figures/freeze", data={"school_id": world.branch.id, "school_year": YEAR,
                                                 "term": 1}).status_code == 400  # no CSRF token
    r = client.post("/figures/freeze", data={"school_id": world.branch.id, "school_year": YEAR, "term": 1,
                                             "csrf_token": csrf_token_from(page)})
    assert r.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "4.00%" in page and "超标" in page and "0.96" in page
    assert "@media print" in page


def test_teacher_sees_no_freeze_button_and_drills_to_student_names(client, login, drive, world):
    kids = drive.students(world.klass, 5)
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    login(world["teacher"])
    page = client.get(f"/figures?school_id={world.branch.id}&school_year={YEAR}&term=1").get_data(as_text=True)
    assert "data-freeze" not in page
    detail = client.get(f"/figures/classes/{world.klass.id}?term=1").get_data(as_text=True)
    assert kids[0].name in detail and "流失学生" in detail
    assert client.get(f"/figures/classes/{world.other_class.id}?term=1").status_code == 404


def test_teacher_cannot_freeze_through_the_page(client, login, drive, world):
    login(world["teacher"])
    page = client.get("/figures").get_data(as_text=True)
    r = client.post("/figures/freeze", data={"school_id": world.branch.id, "school_year": YEAR, "term": 1,
                                             "csrf_token": csrf_token_from(page)})
    assert r.status_code == 403


def test_ledger_page_lists_penalties(client, login, drive, world):
    kids = drive.students(world.klass, 5)
    drive.dropout(kids[0], dt.date(2026, 10, 20))
    login(world["principal"])
    page = client.get(f"/figures/ledger?school_id={world.branch.id}&school_year={YEAR}&term=1").get_data(as_text=True)
    assert "奖惩台账" in page and "-50.00" in page and world["teacher"].name in page
