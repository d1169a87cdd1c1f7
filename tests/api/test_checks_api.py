"""The suspected-dropout list import, the comparisons (四查三比对), the poor-household list and the
close-watch groups over the API (SPEC §3.10, §5; API.md)."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from models import AttendanceDay, AttendanceRecord, Case, CatchmentChild
from workflow import clock
from workflow.org.calendar import SchoolCalendar

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def id_card(body17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body17 + "10X98765432"[sum(int(c) * w for c, w in zip(body17, weights, strict=True)) % 11]


def xlsx(rows) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(api, path, data: bytes, **fields):
    return api.post(path, data={"file": (io.BytesIO(data), "名单.xlsx", XLSX), **fields},
                    content_type="multipart/form-data")


@pytest.fixture
def term(factory, world, session):
    today = clock.today()
    start = dt.date(today.year if today.month >= 9 else today.year - 1, 9, 1)
    for school in (world.center, world.branch, world.other_branch):
        factory.term(school, start=start, end=start + dt.timedelta(days=140),
                     school_year=f"{start.year}-{start.year + 1}")
    session.commit()


def _checks(session):
    return session.scalar(select(func.count(Case.id)).where(Case.process == "dropout_check"))


# --- the outside list ------------------------------------------------------------------------------


def test_national_list_reports_bad_and_unmatched_rows_and_opens_checks(api, factory, session, world, term):
    a = factory.student(world.klass, world.village, name="张三", id_card_no=id_card("52010120160501001"))
    b = factory.student(world.klass, world.village, name="李四", student_no="G52010120160502002")
    factory.student(world.other_class, world.other_village, name="外县", id_card_no=id_card("52010120160503003"))
    data = xlsx([
        ["姓名", "身份证号", "全国学籍号", "户籍村", "来源说明"],
        ["张三", a.id_card_no, None, "东坡村", "国家平台比对 2026-11"],
        ["李四", None, "G52010120160502002", "东坡村", None],
        ["王五", "520101201605040049", None, None, None],           # wrong check digit
        ["", id_card("52010120160505005"), None, None, None],       # no name
        ["赵六", None, None, None, None],                            # neither number
        ["外县", id_card("52010120160503003"), None, None, None],    # another center's child: not seen
        ["张冒", id_card("52010120160501001"), None, None, None],    # same ID twice
    ])
    api.as_user(world["office"])
    resp = upload(api, "/dropout-checks/import", data)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["rows"] == 7 and body["matched"] == 2 and body["opened"] == 0
    assert {(e["row"], e["column"]) for e in body["errors"]} == {(4, "身份证号"), (5, "姓名"), (6, "身份证号"), (8, "身份证号")}
    assert [u["row"] for u in body["unmatched"]] == [7]
    assert _checks(session) == 0  # check mode writes nothing

    resp = upload(api, "/dropout-checks/import", data, mode="all")
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "invalid_rows"
    assert _checks(session) == 0

    resp = upload(api, "/dropout-checks/import", data, mode="valid_only")
    assert resp.status_code == 200 and resp.get_json()["opened"] == 2
    cases = session.scalars(select(Case).where(Case.process == "dropout_check").order_by(Case.id)).all()
    assert [c.student_id for c in cases] == [a.id, b.id]
    assert cases[0].data["source"] == "national_list" and cases[0].data["note"] == "国家平台比对 2026-11"
    # the same list again opens nothing
    again = upload(api, "/dropout-checks/import", data, mode="valid_only").get_json()
    assert (again["opened"], again["already_open"]) == (0, 2)
    assert _checks(session) == 2


def test_a_file_that_is_not_xlsx_is_refused(api, world):
    api.as_user(world["office"])
    resp = upload(api, "/dropout-checks/import", b"name,id\n", mode="valid_only")
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "invalid_file"


def test_a_teacher_may_not_import_a_list(api, world):
    api.as_user(world["teacher"])
    resp = upload(api, "/dropout-checks/import", xlsx([["姓名", "身份证号"], ["张三", None]]))
    assert resp.status_code == 403


# --- the comparisons -------------------------------------------------------------------------------


def _last_school_days(session, school_id, n=10):
    cal = SchoolCalendar.load(session, school_id)
    today = clock.today()
    days = [today] if cal.is_school_day(today) else []
    while len(days) < n:
        days.append(cal.previous_school_day(days[-1] if days else today))
    return days


def test_comparisons_open_checks_once(api, factory, session, world, term):
    # rolls ↔ attendance: one child unseen for ten school days, one seen yesterday
    unseen = factory.student(world.klass, world.village, name="名在人不在")
    seen = factory.student(world.klass, world.village, name="天天来")
    for day in _last_school_days(session, world.branch.id):
        session.add(AttendanceDay(class_id=world.klass.id, date=day))
        session.add(AttendanceRecord(student_id=unseen.id, class_id=world.klass.id, date=day, status="unexcused"))
        session.add(AttendanceRecord(student_id=seen.id, class_id=world.klass.id, date=day, status="present"))
    # register ↔ rolls: a child enrolled nowhere with a student record, one without
    dropped = factory.student(world.klass, world.village, name="已辍学", status="dropped_out",
                              id_card_no=id_card("52010120160601001"))
    session.add(CatchmentChild(village_id=world.village.id, name="已辍学", gender="M", birth_date=dt.date(2016, 6, 1),
                               id_card_no=dropped.id_card_no, household_status="local", status="not_enrolled"))
    session.add(CatchmentChild(village_id=world.village2.id, name="无学籍", gender="F", birth_date=dt.date(2015, 3, 1),
                               household_status="local", status="not_enrolled"))
    session.commit()
    api.as_user(world["center_head"])
    # dropouts ↔ the formerly poor households
    poor = xlsx([["户主姓名", "姓名", "身份证号", "户籍村"], ["王大", "已辍学", dropped.id_card_no, "东坡村"]])
    resp = upload(api, "/poor-households/import", poor, center_school_id=str(world.center.id), mode="replace")
    assert resp.status_code == 200 and resp.get_json()["imported"] == 1

    resp = api.post("/comparisons/run", {"center_school_id": world.center.id})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["by_kind"] == {"not_enrolled": 2, "absent_on_roll": 1, "poor_household": 1}
    assert body["opened"] == 2 and body["already_open"] == 1  # the dropped-out child: one open check
    assert [i["student_id"] for i in body["items"]["absent_on_roll"]] == [unseen.id]
    nowhere = {i["name"]: i for i in body["items"]["not_enrolled"]}
    assert nowhere["无学籍"]["case_id"] is None and nowhere["已辍学"]["case_id"] is not None
    checks = session.scalars(select(Case).where(Case.process == "dropout_check")).all()
    assert {c.student_id for c in checks} == {unseen.id, dropped.id}
    assert all(c.data["source"] == "comparison" for c in checks)

    second = api.post("/comparisons/run", {"center_school_id": world.center.id}).get_json()
    assert second["opened"] == 0 and second["by_kind"] == body["by_kind"]
    assert _checks(session) == 2


def test_comparisons_of_another_county_answer_404(api, factory, session, world):
    elsewhere = factory.school("远方县教育局", "county")
    far_center = factory.school("远方中心校", "center", elsewhere)
    session.commit()
    api.as_user(world["supervisor"])
    assert api.post("/comparisons/run", {"center_school_id": far_center.id}).status_code == 404
    assert api.post("/comparisons/run", {"center_school_id": world.center.id}).status_code == 200
    api.as_user(world["center_head"])
    assert api.post("/comparisons/run", {"center_school_id": world.other_center.id}).status_code == 404
    api.as_user(world["principal"])
    assert api.post("/comparisons/run", {"center_school_id": world.center.id}).status_code == 404
    api.as_user(world["center_head"])
    assert api.post("/comparisons/run", {"center_school_id": "x"}).status_code == 422


def test_poor_household_list_with_a_bad_row_writes_nothing(api, world):
    api.as_user(world["center_office"])
    data = xlsx([["户主姓名", "姓名", "身份证号"], ["王大", "王小", "520101201605040049"], ["", "李小", None]])
    resp = upload(api, "/poor-households/import", data, center_school_id=str(world.center.id), mode="replace")
    assert resp.status_code == 422
    assert {(e["row"], e["column"]) for e in resp.get_json()["error"]["details"]["errors"]} == {(2, "身份证号"), (3, "户主姓名")}


# --- close-watch groups ----------------------------------------------------------------------------


def test_close_watch_counts_per_group_and_school(api, factory, session, world, term):
    orphan = factory.student(world.klass, world.village, name="孤儿甲", orphan=True, left_behind=True)
    factory.student(world.klass, world.village, name="留守乙", left_behind=True)
    factory.student(world.center_class, world.village, name="留守丙", left_behind=True)
    factory.student(world.klass, world.village, name="毕业丁", left_behind=True, status="graduated")
    factory.student(world.other_class, world.other_village, name="外校", left_behind=True)
    api.as_user(world["office"])
    case = api.post("/cases", {"process": "dropout_check", "student_id": orphan.id,
                               "data": {"source": "manual"}}).get_json()
    api.as_user(world["center_head"])
    resp = api.get(f"/close-watch?center_school_id={world.center.id}")
    assert resp.status_code == 200
    groups = {g["flag"]: g for g in resp.get_json()["groups"]}
    assert (groups["left_behind"]["total"], groups["left_behind"]["with_open_case"]) == (3, 1)
    assert {(r["school_id"], r["total"]) for r in groups["left_behind"]["by_school"]} == {
        (world.branch.id, 2), (world.center.id, 1)}
    assert groups["orphan"]["children"] == [{"student_id": orphan.id, "name": "孤儿甲", "school_id": world.branch.id,
                                             "school": world.branch.name,
                                             "cases": [{"id": case["id"], "process": "dropout_check", "state": "open"}]}]
    assert groups["justice_involved"]["total"] == 0
    # another center's children are not counted, and a teacher may not see the panel
    api.as_user(world["other_center_head"])
    other = {g["flag"]: g for g in api.get("/close-watch").get_json()["groups"]}
    assert other["left_behind"]["total"] == 1 and other["orphan"]["total"] == 0
    api.as_user(world["teacher"])
    assert api.get("/close-watch").status_code == 403


@pytest.mark.parametrize("body", [{"center_school_id": 2**40}, {"center_school_id": True}, {"center_school_id": "1"},
                                  {}, {"center_school_id": 1, "extra": 1}])
def test_malformed_comparison_runs_answer_422_and_write_nothing(api, session, world, body):
    api.as_user(world["admin"])
    resp = api.post("/comparisons/run", body)
    assert resp.status_code == 422, resp.get_json()
    assert _checks(session) == 0


def test_bad_poor_household_center_id_is_refused(api, world):
    api.as_user(world["admin"])
    data = xlsx([["户主姓名", "姓名"], ["王大", "王小"]])
    assert upload(api, "/poor-households/import", data, center_school_id="abc").status_code == 422
    assert upload(api, "/poor-households/import", data, center_school_id="99999999999").status_code == 422
    assert upload(api, "/poor-households/import", data, center_school_id=str(world.branch.id)).status_code == 422
