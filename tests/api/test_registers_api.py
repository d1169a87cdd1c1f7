"""The registers and reports API: catchment import/list/export/cross-check, weekly report, notice."""
from __future__ import annotations

import datetime as dt
import io

from openpyxl import load_workbook
from sqlalchemy import func, select

from models import Case, CaseHistory, CatchmentChild
from tests.workflow.test_catchment import id_no, row, xlsx


def upload(api, village_id, data, only_valid=None, filename="登记表.xlsx"):
    form = {"village_id": str(village_id), "file": (io.BytesIO(data), filename)}
    if only_valid is not None:
        form["only_valid"] = only_valid
    return api.request("POST", "/catchment/import", data=form, content_type="multipart/form-data")


def children(session) -> int:
    return session.scalar(select(func.count(CatchmentChild.id)))


BAD_FILE_ROWS = [
    ["东坡村", *row("张小明")],                          # 2 fine
    ["东坡村", *row("赵错日", birth="2016/02/30")],      # 3 bad date
    ["桃花村", *row("钱某某", birth="2015-03-03")],      # 4 unknown village
    ["东坡村", *row("孙某", idc=id_no(dt.date(2016, 5, 1), 3))],
    ["东坡村", *row("孙某某", idc=id_no(dt.date(2016, 5, 1), 3))],  # 6 duplicate ID
    ["东坡村", *row(" ", birth="2014-04-04")],           # 7 empty name
]
HEADERS = ["村", "姓名", "性别", "出生日期", "身份证号", "户籍", "就读状态", "就读学校/去向", "备注"]


def test_import_with_bad_rows_answers_422_listing_each_row_and_writes_nothing(api, world, session):
    r = upload(api.as_user(world["office"]), world.village.id, xlsx(BAD_FILE_ROWS, headers=HEADERS))
    assert r.status_code == 422
    err = r.json["error"]
    assert err["code"] == "invalid_rows" and "未导入任何数据" in err["message"]
    assert [(e["row"], e["field"]) for e in err["details"]["errors"]] == \
        [(3, "出生日期"), (4, "村"), (6, "身份证号"), (7, "姓名")]
    assert children(session) == 0


def test_only_valid_imports_the_good_rows(api, world, session):
    r = upload(api.as_user(world["office"]), world.village.id, xlsx(BAD_FILE_ROWS, headers=HEADERS),
               only_valid="true")
    assert r.status_code == 200
    assert r.json["imported"] == 2 and r.json["created"] == 2
    assert [e["row"] for e in r.json["errors"]] == [3, 4, 6, 7]
    assert children(session) == 2


def test_a_non_xlsx_file_is_422_with_a_chinese_message(api, world, session):
    r = upload(api.as_user(world["office"]), world.village.id, "姓名,性别\n张三,男\n".encode(), filename="a.csv")
    assert r.status_code == 422
    assert r.json["error"]["code"] == "invalid_file" and "xlsx" in r.json["error"]["message"]
    assert children(session) == 0


def test_missing_file_or_village_is_422_naming_the_field(api, world):
    api.as_user(world["office"])
    r = api.request("POST", "/catchment/import", data={"village_id": str(world.village.id)},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "file"
    r = api.request("POST", "/catchment/import", data={"file": (io.BytesIO(xlsx([row()])), "a.xlsx")},
                    content_type="multipart/form-data")
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == "village_id"


def test_export_then_reimport_is_clean_and_changes_nothing(api, world, session):
    api.as_user(world["office"])
    assert upload(api, world.village.id, xlsx([row("张小明"), row("王未读", birth="2015-09-09", status="未就读"),
                                               row("李小红", "女", idc=id_no(dt.date(2016, 5, 1), 9))])).status_code == 200
    r = api.get(f"/catchment/export?village_id={world.village.id}")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in r.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(r.data)).active
    assert sheet.max_row == 4
    again = upload(api, world.village.id, r.data)
    assert again.status_code == 200
    assert (again.json["created"], again.json["updated"], again.json["unchanged"]) == (0, 0, 3)
    assert children(session) == 3


def test_list_masks_id_numbers_for_the_center_head_and_shows_them_to_the_office(api, world):
    full = id_no(dt.date(2016, 5, 1), 9)
    upload(api.as_user(world["office"]), world.village.id, xlsx([row("李小红", "女", idc=full)]))
    r = api.get(f"/catchment?village_id={world.village.id}")
    assert r.status_code == 200 and r.json["total"] == 1 and r.json["items"][0]["id_card_no"] == full
    r = api.as_user(world["center_head"]).get(f"/catchment?village_id={world.village.id}")
    assert r.json["items"][0]["id_card_no"] == full[:6] + "********" + full[-4:]


def test_another_centers_village_answers_404_everywhere(api, world):
    api.as_user(world["office"])
    vid = world.other_village.id
    assert upload(api, vid, xlsx([row()])).status_code == 404
    assert api.get(f"/catchment?village_id={vid}").status_code == 404
    assert api.get(f"/catchment/export?village_id={vid}").status_code == 404
    assert api.post("/catchment/crosscheck", json={"village_id": vid}).status_code == 404
    assert api.get(f"/reports/weekly?school_id={world.other_branch.id}").status_code == 404
    assert api.get(f"/reports/notice?school_id={world.other_branch.id}&from=2026-10-01&to=2026-10-31").status_code == 404


def test_a_teacher_may_read_but_not_import_or_crosscheck(api, world):
    api.as_user(world["teacher"])
    assert api.get(f"/catchment?village_id={world.village.id}").status_code == 200
    assert upload(api, world.village.id, xlsx([row()])).status_code == 403
    assert api.post("/catchment/crosscheck", json={"village_id": world.village.id}).status_code == 403


def test_crosscheck_opens_one_recovery_and_none_on_the_second_call(api, world, session):
    api.as_user(world["office"])
    upload(api, world.village.id, xlsx([row("王未读", birth="2015-09-09", status="未就读"), row("张小明")]))
    r = api.post("/catchment/crosscheck", json={"village_id": world.village.id})
    assert r.status_code == 200
    assert len(r.json["opened_case_ids"]) == 1 and r.json["checked"] == 2
    assert [i["name"] for i in r.json["not_on_rolls"]] == ["张小明"]
    again = api.post("/catchment/crosscheck", json={"center_school_id": world.center.id})
    assert again.status_code == 200 and again.json["opened_case_ids"] == []
    assert session.scalar(select(func.count(Case.id)).where(Case.process == "recovery")) == 1


def test_crosscheck_body_is_validated(api, world):
    api.as_user(world["office"])
    assert api.post("/catchment/crosscheck", json={}).status_code == 422
    assert api.post("/catchment/crosscheck", json={"village_id": "x"}).status_code == 422
    r = api.post("/catchment/crosscheck", json={"village": 1})
    assert r.status_code == 422 and r.json["error"]["code"] == "unknown_field"


def test_weekly_report_and_notice_answer_for_a_school(api, world, factory, session):
    st = factory.student(world.klass, world.village, name="丁休学", status="suspended",
                         id_card_no=id_no(dt.date(2016, 5, 1), 4))
    for p in st.enrolments:
        p.end_date = dt.date(2026, 10, 13)
    case = Case(process="suspension", state="suspended", student_id=st.id, school_id=world.branch.id,
                opened_on=dt.date(2026, 10, 1), data={"end": "2027-03-01"})
    session.add(case)
    session.flush()
    session.add(CaseHistory(case_id=case.id, transition="center_file", from_state="approved", to_state="suspended",
                            role="center_office", effective_date=dt.date(2026, 10, 13)))
    session.commit()
    api.as_user(world["principal"])
    r = api.get(f"/reports/weekly?school_id={world.branch.id}&week_of=2026-10-15")
    assert r.status_code == 200
    assert (r.json["week_start"], r.json["week_end"]) == ("2026-10-12", "2026-10-18")
    assert r.json["schools"][0]["status_changes"]["suspended"] == 1
    r = api.as_user(world["center_head"]).get(f"/reports/weekly?center_school_id={world.center.id}&week_of=2026-10-15")
    assert r.status_code == 200 and r.json["total"]["status_changes"]["suspended"] == 1
    assert len(r.json["schools"]) == 3
    r = api.get(f"/reports/notice?school_id={world.branch.id}&from=2026-10-01&to=2026-10-31")
    assert r.status_code == 200
    assert [(i["student_name"], i["kind"], i["class_name"], i["effective_date"]) for i in r.json["items"]] == \
        [("丁休学", "suspended", "三年级1班", "2026-10-13")]
    assert st.id_card_no not in r.get_data(as_text=True)
    assert api.get(f"/reports/notice?school_id={world.branch.id}&from=2026-10-32&to=2026-10-31").status_code == 422
    assert api.get(f"/reports/weekly?school_id={world.branch.id}&center_school_id={world.center.id}").status_code == 422
