"""Roster import (SPEC §5, API.md POST /students/import): the whole file checked first, every bad
row by number, column and reason; nothing written unless clean (or only the valid rows when asked);
create-or-update by 全国学籍号; the same file twice changes nothing; real joining days feed the
baselines (SPEC §4)."""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from models import Enrolment, Guardian, Student, StudentChange
from workflow.org.services import id_card_check_char
from workflow.schoolyear import roster

HEADER = [h for _k, h in roster.COLUMNS]


def id_card(first17: str) -> str:
    return first17 + id_card_check_char(first17)


def row(n: int, **kw) -> list:
    """A clean row for child n of world.klass (三年级1班), joined on 2026-09-01."""
    values = {"姓名": f"学生{n}", "性别": "男" if n % 2 else "女", "出生日期": "2017-03-0" + str(1 + n % 8),
              "身份证号": None,
              "全国学籍号": f"G2026{n:05d}", "年级": 3, "班级": "三年级1班", "入学日期": "2026-09-01",
              "户籍村": "东坡村", "监护人姓名": f"家长{n}", "监护人关系": "父亲", "监护人电话": "13800000000",
              "特殊群体": ""}
    birth = values["出生日期"].replace("-", "")
    values["身份证号"] = id_card(f"110101{birth}{n:03d}")
    values.update(kw)
    return [values[h] for h in HEADER]


def wrong_check_digit(number: str) -> str:
    return number[:17] + ("0" if number[-1] != "0" else "1")


def xlsx(rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def upload(api, user, school, data: bytes, mode="check", school_year="2026-2027"):
    return api.as_user(user).post("/students/import", data={
        "file": (io.BytesIO(data), "roster.xlsx"), "school_id": str(school.id), "school_year": school_year,
        "mode": mode}, content_type="multipart/form-data")


def counts(session):
    return tuple(session.scalar(select(func.count()).select_from(m))
                 for m in (Student, Guardian, Enrolment, StudentChange))


def test_clean_file_imports_and_the_same_file_twice_changes_nothing(api, world, session):
    data = xlsx([row(1), row(2, 特殊群体="留守儿童、孤儿"), row(3, 班级="四年级1班", 年级="四年级")])
    r = upload(api, world["office"], world.branch, data, mode="all")
    assert r.status_code == 200, r.json
    assert r.json == {"rows": 3, "created": 3, "updated": 0, "unchanged": 0, "errors": []}
    two = session.scalar(select(Student).where(Student.student_no == "G202600002"))
    assert two.flags == ["left_behind", "orphan"]
    assert [(e.class_id, e.start_date.isoformat()) for e in two.enrolments] == [(world.klass.id, "2026-09-01")]
    before = counts(session)
    again = upload(api, world["office"], world.branch, data, mode="all")
    assert again.json == {"rows": 3, "created": 0, "updated": 0, "unchanged": 3, "errors": []}
    assert counts(session) == before


def test_every_bad_row_is_reported_and_nothing_is_written(api, world, factory, session):
    factory.student(world.klass2, world.village, student_no="G_OTHER", id_card_no=id_card("11010120170301999"))
    taken = id_card("11010120170301999")
    data = xlsx([
        row(1),
        row(2, 身份证号=wrong_check_digit(row(2)[HEADER.index("身份证号")])),
        row(3, 入学日期="2026-02-30"),
        row(4, 班级="三年级9班"),
        row(5, 户籍村="河口村"),
        row(6, 全国学籍号="G202600001"),
        row(7, 身份证号=taken, 出生日期="2017-03-01"),
        row(8, 性别="未知", 特殊群体="富裕"),
    ])
    before = counts(session)
    r = upload(api, world["office"], world.branch, data, mode="all")
    assert r.status_code == 422, r.json
    assert r.json["error"]["code"] == "invalid_rows"
    errors = {(e["row"], e["column"]) for e in r.json["error"]["details"]["errors"]}
    assert errors == {(3, "身份证号"), (4, "入学日期"), (5, "班级"), (6, "户籍村"), (7, "全国学籍号"),
                      (8, "身份证号"), (9, "性别"), (9, "特殊群体")}
    messages = {(e["row"], e["column"]): e["message"] for e in r.json["error"]["details"]["errors"]}
    assert "校验位" in messages[(3, "身份证号")]
    assert "第 2 行" in messages[(7, "全国学籍号")]
    assert "另一名学生" in messages[(8, "身份证号")]
    assert "河口村" in messages[(6, "户籍村")]
    assert counts(session) == before
    # check mode: the same report, 200, still nothing written
    checked = upload(api, world["office"], world.branch, data, mode="check")
    assert checked.status_code == 200
    assert checked.json["created"] == 1 and len(checked.json["errors"]) == 8
    assert counts(session) == before
    # valid_only: the one clean row is written
    valid = upload(api, world["office"], world.branch, data, mode="valid_only")
    assert valid.json["created"] == 1
    assert session.scalar(select(func.count()).select_from(Student)) == before[0] + 1


def test_mid_term_roster_counts_children_from_their_real_joining_day(api, world, factory, session):
    factory.term(world.branch)  # 2026-09-01 .. 2027-01-22
    data = xlsx([row(1), row(2), row(3, 入学日期="2026-10-15")])
    assert upload(api, world["office"], world.branch, data, mode="all").status_code == 200
    r = api.as_user(world["office"]).post("/baselines", json={"school_id": world.branch.id,
                                                              "school_year": "2026-2027", "term": 1})
    assert r.status_code == 200, r.json
    by_class = {b["class_id"]: b["count"] for b in r.json["items"]}
    # counted at term start (SPEC §4): the two who joined on 09-01, not the one of 10-15 — and not
    # 0, which is what typing them in today would have given
    assert by_class[world.klass.id] == 2


def test_a_child_on_file_is_updated_and_the_change_kept(api, world, session):
    hand = api.as_user(world["office"]).post("/students", json={
        "name": "学生甲", "gender": "M", "birth_date": "2017-03-02", "class_id": world.klass.id,
        "village_id": world.village.id, "student_no": "G202600001", "guardians": []})
    assert hand.status_code == 201
    r = upload(api, world["office"], world.branch, xlsx([row(1)]), mode="all")
    assert r.json["updated"] == 1 and r.json["created"] == 0
    changes = api.get(f"/students/{hand.json['id']}/changes").json["items"]
    fields = {c["field"] for c in changes}
    assert {"name", "id_card_no", "guardians", "enrolled_on"} <= fields
    assert {c["source"] for c in changes} == {"roster_import"}
    assert api.get(f"/students/{hand.json['id']}").json["enrolled_on"] == "2026-09-01"
    assert session.scalar(select(func.count()).select_from(Student)) == 1


@pytest.mark.parametrize("role,school,status", [("teacher", "branch", 403), ("other_office", "branch", 404),
                                                ("office", "other_branch", 404)])
def test_who_may_import(api, world, session, role, school, status):
    before = counts(session)
    r = upload(api, world[role], getattr(world, school), xlsx([row(1)]), mode="all")
    assert r.status_code == status, r.json
    assert counts(session) == before


@pytest.mark.parametrize("data,code", [(b"not a workbook", "invalid_file"), (b"", "invalid_file")])
def test_not_an_xlsx_is_422(api, world, data, code):
    r = upload(api, world["office"], world.branch, data)
    assert r.status_code == 422 and r.json["error"]["code"] == code


def test_missing_column_is_named(api, world):
    wb = Workbook()
    wb.active.append(["姓名", "性别"])
    wb.active.append(["张三", "男"])
    out = io.BytesIO()
    wb.save(out)
    r = upload(api, world["office"], world.branch, out.getvalue())
    assert r.status_code == 422 and "全国学籍号" in r.json["error"]["message"]


def test_template_has_the_spec_header(api, world):
    r = api.as_user(world["office"]).get("/students/import/template")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.data)).active
    assert [c.value for c in ws[1]] == ["姓名", "性别", "出生日期", "身份证号", "全国学籍号", "年级", "班级", "入学日期",
                                        "户籍村", "监护人姓名", "监护人关系", "监护人电话", "特殊群体"]
