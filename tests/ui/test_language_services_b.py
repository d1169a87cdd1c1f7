"""Issue 12, "every domain label and message translated" (part B): the school-year, reporting and
support services' refusals and import errors read in English in English mode (`Accept-Language:
en` on the API, `/lang/en` on the pages) and in Chinese otherwise. What people typed or must type
(a village's, class's or fee item's name, an Excel column header) stays as it is."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from openpyxl import Workbook

from models import Case
from tests.api.test_roster_import import row, xlsx
from tests.conftest import csrf_token_from
from workflow import clock

YEAR = "2026-2027"
EN = {"Accept-Language": "en"}
IDEOGRAPH = re.compile(r"[\u3400-\u9fff]")
NOW = dt.datetime(2026, 11, 2, 10, 0, tzinfo=clock.SCHOOL_TZ)  # a Monday: October is over


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))


def english(text: str, *typed: str) -> str:
    """`text`, after checking that nothing Chinese is left once the typed words are taken out."""
    rest = text
    for word in sorted(typed, key=len, reverse=True):
        rest = rest.replace(word, " ")
    assert not IDEOGRAPH.search(rest), f"Chinese left in English mode: {text!r}"
    return text


def message(resp) -> str:
    return resp.json["error"]["message"]


def post_file(api, user, path: str, data: bytes, headers=None, **form):
    return api.as_user(user).post(path, data={"file": (io.BytesIO(data), "file.xlsx"), **form},
                                  content_type="multipart/form-data", headers=headers)


def sheet(rows) -> bytes:
    wb = Workbook()
    for r in rows:
        wb.active.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


# --- school year: roster import, rollover, placement, year-end verification -----------------------


def test_roster_import_row_errors_read_in_english(api, world):
    data = xlsx([row(1), row(2, 户籍村="河口村", 性别="X")])
    form = {"school_id": str(world.branch.id), "school_year": YEAR, "mode": "all"}

    r = post_file(api, world["office"], "/students/import", data, headers=EN, **form)
    assert r.status_code == 422 and r.json["error"]["code"] == "invalid_rows"
    assert english(message(r)) == "Rows with errors in the roster: 1; nothing was saved"
    errors = {e["column"]: e["message"] for e in r.json["error"]["details"]["errors"]}
    assert english(errors["户籍村"], "河口村") == "“河口村” is not a village served by this center school"
    assert english(errors["性别"], "男", "女").startswith("Gender must be")

    r = post_file(api, world["office"], "/students/import", data, **form)
    assert message(r) == "名册有 1 行有错误，未写入任何数据"
    errors = {e["column"]: e["message"] for e in r.json["error"]["details"]["errors"]}
    assert errors["户籍村"] == "“河口村”不是本中心校服务范围内的村"


def test_roster_page_shows_its_row_errors_in_english(client, login, world):
    login(world["office"])
    client.get("/lang/en")
    page = client.get("/school-year").get_data(as_text=True)
    resp = client.post("/school-year/roster", data={
        "csrf_token": csrf_token_from(page), "school_id": str(world.branch.id), "school_year": YEAR,
        "mode": "check", "file": (io.BytesIO(xlsx([row(1, 出生日期="昨天")])), "roster.xlsx")},
        content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    cells = re.findall(r'<td class="wrap">(.*?)</td>', html.split("data-errors", 1)[1])
    assert cells and all(english(c) for c in cells)
    assert "Invalid date of birth: write it like 2016-05-01" in cells


def test_an_xlsx_over_the_limits_is_refused_in_english(api, world):
    wide = sheet([[f"col{i}" for i in range(40)], ["x"] * 40])
    form = {"school_id": str(world.branch.id), "school_year": YEAR}
    r = post_file(api, world["office"], "/students/import", wide, headers=EN, **form)
    assert r.status_code == 422 and r.json["error"]["code"] == "invalid_file"
    assert english(message(r)) == "The file has more than 30 columns: keep only the columns needed"
    old_excel = b"\xd0\xcf\x11\xe0" + b"\0" * 60
    r = post_file(api, world["office"], "/students/import", old_excel, headers=EN, **form)
    assert english(message(r)).startswith("This is an old Excel (.xls) file")

    r = post_file(api, world["office"], "/students/import", wide, **form)
    assert message(r) == "文件超过 30 列，请只保留需要的列"


def test_rollover_refusal_reads_in_english(api, world):
    body = {"school_id": world.branch.id, "from_year": YEAR, "to_year": "2028-2029"}
    r = api.as_user(world["office"]).post("/school-years/rollover", json=body, headers=EN)
    assert r.status_code == 422
    assert english(message(r)) == f"The new school year must be the one after {YEAR}"
    assert message(api.as_user(world["office"]).post("/school-years/rollover", json=body)) == \
        f"升入学年必须是 {YEAR} 的下一学年"


def test_placement_refusal_reads_in_english(api, world, factory):
    child = factory.student(world.klass, world.village)
    body = {"school_id": world.branch.id, "school_year": YEAR, "grade": 1, "class_ids": [world.klass.id],
            "student_ids": [child.id]}
    r = api.as_user(world["office"]).post("/placements", json=body, headers=EN)
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "class_ids[0]"
    assert english(message(r), world.branch.name) == (
        f"Class {world.klass.id} is not a grade 1 class of {world.branch.name} in the {YEAR} school year")
    r = api.as_user(world["office"]).post("/placements", json={**body, "class_ids": []}, headers=EN)
    assert english(message(r)) == "Choose the classes to place the pupils into"

    r = api.as_user(world["office"]).post("/placements", json=body)
    assert message(r) == f"班级 {world.klass.id} 不是{world.branch.name} {YEAR} 学年的1年级班级"


def _roll_verification(api, world) -> int:
    r = api.as_user(world["office"]).post("/cases", json={"process": "roll_verification",
                                                          "data": {"class_id": world.klass.id}})
    assert r.status_code == 201, r.json
    return r.json["id"]


def _fire(api, user, case_id, name, headers=None, **body):
    version = api.session.get(Case, case_id).version
    return api.as_user(user).post(f"/cases/{case_id}/transitions/{name}", json={"version": version, **body},
                                  headers=headers)


def test_roll_verification_difference_errors_name_the_row_in_english(api, world):
    case_id = _roll_verification(api, world)
    diffs = [{"name": "张三", "kind": "not_on_roll", "note": "借读"}, {"name": "李四", "kind": "moved", "note": "?"}]
    r = _fire(api, world["teacher"], case_id, "submit", headers=EN, data={"differences": diffs})
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "data.differences[1].kind"
    assert english(message(r)) == \
        "Row 2: the kind of difference must be one of: absent_from_class, not_on_roll, details_wrong"
    r = _fire(api, world["teacher"], case_id, "submit", data={"differences": diffs})
    assert message(r) == "第 2 行：差异类别须为以下之一：absent_from_class, not_on_roll, details_wrong"

    # the office's approval is refused until each difference is resolved: the names are as typed
    assert _fire(api, world["teacher"], case_id, "submit", data={"differences": diffs[:1]}).status_code == 200
    r = _fire(api, world["office"], case_id, "office_approve", headers=EN, data={"resolutions": []})
    assert r.status_code == 409
    assert english(message(r), "张三").endswith("(open a process for the child, or correct the record and say how): 张三")


# --- reporting: the monthly report, the suspected-dropout list -------------------------------------


def test_monthly_report_refusal_reads_in_english(api, world, factory, session):
    factory.term(world.center)
    session.commit()
    body = {"process": "monthly_report", "data": {"school_id": world.branch.id, "month": "2026-10"}}
    first = api.as_user(world["office"]).post("/cases", json=body)
    assert first.status_code == 201, first.json
    r = api.as_user(world["office"]).post("/cases", json=body, headers=EN)
    assert r.status_code == 409 and r.json["error"]["code"] == "duplicate"
    assert english(message(r)).startswith("This school's monthly report for this month already exists")
    assert message(api.as_user(world["office"]).post("/cases", json=body)) == \
        f"该校本月的月报已经建立（#{first.json['id']}）"


def test_dropout_list_row_errors_read_in_english(api, world, factory):
    factory.student(world.klass, world.village, name="张三", student_no="G123456")
    data = sheet([["姓名", "全国学籍号"], ["", "G123456"], ["王五", ""], ["赵六", "G123456"]])
    r = post_file(api, world["office"], "/dropout-checks/import", data, headers=EN, mode="all")
    assert r.status_code == 422
    assert english(message(r)) == "Rows with errors in the list: 3; no check was opened"
    by_row = {e["row"]: e["message"] for e in r.json["error"]["details"]["errors"]}
    assert english(by_row[2]) == "The name must not be empty"
    assert english(by_row[3]) == "Fill in the ID number or the national student number (at least one)"
    assert english(by_row[4]) == "Same as row 2"

    r = post_file(api, world["office"], "/dropout-checks/import", data, mode="all")
    by_row = {e["row"]: e["message"] for e in r.json["error"]["details"]["errors"]}
    assert (by_row[3], by_row[4]) == ("身份证号和全国学籍号至少填一项", "与第 2 行重复")


def test_dropout_list_page_shows_unmatched_rows_in_english(client, login, world):
    login(world["office"])
    client.get("/lang/en")
    page = client.get("/checks").get_data(as_text=True)
    data = sheet([["姓名", "全国学籍号"], ["王五", "G000000"]])
    resp = client.post("/checks/import", data={"csrf_token": csrf_token_from(page), "mode": "check",
                                               "file": (io.BytesIO(data), "list.xlsx")},
                       content_type="multipart/form-data")
    unmatched = resp.get_data(as_text=True).split("data-unmatched", 1)[1].split("</ul>", 1)[0]
    assert "No child on the rolls of your schools matches" in english(unmatched, "王五")


# --- support: aid, the fee schedule, the survey ----------------------------------------------------


def test_aid_fee_and_survey_refusals_read_in_english(api, world, factory):
    child = factory.student(world.klass, world.village, poor=True)
    office = api.as_user(world["office"])
    grant = {"student_id": child.id, "school_year": YEAR, "term": 1, "kind": "fee_waiver", "amount": "50"}
    assert office.post("/aid-grants", json=grant).status_code == 201
    r = api.as_user(world["office"]).post("/aid-grants", json=grant, headers=EN)
    assert r.status_code == 409
    assert english(message(r)) == f"This student already has Waived miscellaneous fees recorded for term 1 of {YEAR}"
    r = api.as_user(world["office"]).post("/aid-grants", json={**grant, "term": 2, "amount": "0"}, headers=EN)
    assert r.status_code == 422 and english(message(r)) == "Amount must be more than 0"

    items = [{"name": "课本费", "amount": "120"}, {"name": "课本费", "amount": "10"}]
    body = {"school_id": world.branch.id, "school_year": YEAR, "items": items}
    r = api.as_user(world["office"]).post("/fee-schedules", json=body, headers=EN)
    assert r.status_code == 422 and english(message(r), "课本费") == "The fee item 「课本费」 is listed twice"
    r = api.as_user(world["office"]).post("/fee-schedules", json={**body, "items": [{"name": "书费", "amount": "x"}]},
                                          headers=EN)
    assert english(message(r)).startswith("The amount of fee item 1 must be an amount in yuan")
    assert message(api.as_user(world["office"]).post("/fee-schedules", json=body)) == "收费项目「课本费」重复"

    for _ in range(2):
        factory.student(world.klass, world.village)
    survey = {"class_id": world.klass.id, "school_year": YEAR, "term": 1}
    assert api.as_user(world["office"]).post("/surveys", json=survey).status_code == 201
    r = api.as_user(world["office"]).post("/surveys", json=survey, headers=EN)
    assert r.status_code == 409 and english(message(r), world.klass.name) == (
        f"The survey of 「{world.klass.name}」 for term 1 of {YEAR} has already been opened")
    assert message(api.as_user(world["office"]).post("/surveys", json=survey)) == \
        f"「{world.klass.name}」{YEAR} 学年第 1 学期的问卷已经发起过"
