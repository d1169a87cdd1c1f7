"""Register and report pages as staff meet them: the catchment register with its import result,
the three ledgers, the weekly report and the printable status-change notice."""
from __future__ import annotations

import datetime as dt
import io
import re

from openpyxl import load_workbook
from sqlalchemy import func, select

from models import AttendanceRecord, Case, CaseHistory, CatchmentChild
from tests.conftest import csrf_token_from
from tests.workflow.test_catchment import id_no, row, xlsx


def post_import(client, village_id, data, only_valid=False):
    token = csrf_token_from(client.get(f"/registers/catchment?village_id={village_id}").get_data(as_text=True))
    form = {"csrf_token": token, "village_id": str(village_id), "file": (io.BytesIO(data), "登记表.xlsx")}
    if only_valid:
        form["only_valid"] = "1"
    return client.post("/registers/catchment/import", data=form, content_type="multipart/form-data")


def test_register_page_is_chinese_with_import_form_and_export_for_the_office(world, login):
    client = login(world["office"])
    html = client.get("/registers/catchment").get_data(as_text=True)
    for text in ("适龄儿童登记造册", "东坡村", "从 Excel 导入", "导出 Excel", "与学籍核对", "只导入正确的行"):
        assert text in html
    assert "河口村" not in html  # another center's village is not offered


def test_a_teacher_sees_the_register_without_the_import_form(world, login):
    html = login(world["teacher"]).get(f"/registers/catchment?village_id={world.village.id}").get_data(as_text=True)
    assert "导出 Excel" in html and "data-import-form" not in html and "与学籍核对" not in html


def test_import_with_bad_rows_shows_each_row_and_writes_nothing(world, login, session):
    client = login(world["office"])
    data = xlsx([row("张小明"), row("赵错日", birth="2016-02-30"), row("", birth="2014-04-04")])
    resp = post_import(client, world.village.id, data)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "未导入任何数据" in html
    assert re.findall(r'data-row="(\d+)"', html) == ["3", "4"]
    assert "出生日期无效" in html and "姓名不能为空" in html
    assert session.scalar(select(func.count(CatchmentChild.id))) == 0
    resp = post_import(client, world.village.id, data, only_valid=True)
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'data-imported="1"' in html and "张小明" in html


def test_a_non_xlsx_upload_is_refused_on_the_page(world, login, session):
    resp = post_import(login(world["office"]), world.village.id, b"not a spreadsheet")
    assert resp.status_code == 422 and "不是 Excel" in resp.get_data(as_text=True)


def test_export_button_downloads_a_workbook_that_reimports(world, login, session):
    client = login(world["office"])
    post_import(client, world.village.id, xlsx([row("张小明"), row("李小红", "女", idc=id_no(dt.date(2016, 5, 1), 9))]))
    resp = client.get(f"/registers/catchment/export?village_id={world.village.id}")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    assert load_workbook(io.BytesIO(resp.data)).active.max_row == 3
    html = post_import(client, world.village.id, resp.data).get_data(as_text=True)
    assert "新增 0，更新 0，无变化 2" in html


def test_crosscheck_button_reports_the_opened_recovery(world, login, session):
    client = login(world["office"])
    post_import(client, world.village.id, xlsx([row("王未读", birth="2015-09-09", status="未就读")]))
    token = csrf_token_from(client.get("/registers/catchment").get_data(as_text=True))
    resp = client.post("/registers/catchment/crosscheck", data={"csrf_token": token, "village_id": world.village.id})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "本次新开劝返案件 1 件" in html and "王未读" in html
    assert session.scalar(select(func.count(Case.id)).where(Case.process == "recovery")) == 1
    resp = client.post("/registers/catchment/crosscheck", data={"csrf_token": token})
    assert resp.status_code == 400


def test_another_centers_village_page_is_404(world, login):
    client = login(world["office"])
    assert client.get(f"/registers/catchment?village_id={world.other_village.id}").status_code == 404
    assert client.get(f"/registers/catchment/export?village_id={world.other_village.id}").status_code == 404
    assert client.get(f"/reports/weekly?school_id={world.other_branch.id}").status_code == 404
    assert client.get(f"/reports/notice?school_id={world.other_branch.id}").status_code == 404


def test_ledgers_have_three_tabs_and_each_exports(world, login, session):
    session.add(CatchmentChild(village_id=world.village.id, name="东坡娃", gender="M", birth_date=dt.date(2016, 1, 1),
                               household_status="local", status="enrolled_here"))
    session.commit()
    client = login(world["supervisor"])
    html = client.get(f"/registers/ledgers?county_id={world.county.id}").get_data(as_text=True)
    for text in ("适龄儿童台账", "疑似辍学台账", "辍学劝返台账", "东坡娃"):
        assert text in html
    for kind in ("children", "suspected", "recoveries"):
        resp = client.get(f"/registers/ledgers?kind={kind}&county_id={world.county.id}")
        assert resp.status_code == 200 and f'data-ledger="{kind}"' in resp.get_data(as_text=True)
        resp = client.get(f"/registers/ledgers/export?kind={kind}&county_id={world.county.id}")
        assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    assert client.get("/registers/ledgers?kind=nonsense").status_code == 404


def test_weekly_report_page_shows_the_rollup_with_a_total(world, login, factory, session):
    st = factory.student(world.klass, world.village)
    session.add(AttendanceRecord(student_id=st.id, class_id=world.klass.id, date=dt.date(2026, 10, 13),
                                 status="unexcused"))
    session.commit()
    html = login(world["center_head"]).get(
        f"/reports/weekly?center_school_id={world.center.id}&week_of=2026-10-14").get_data(as_text=True)
    assert "控辍保学周报" in html and "2026-10-12（周一）至 2026-10-18（周日）" in html
    assert world.branch2.name in html
    branch_row = re.search(rf'data-school="{world.branch.id}">(.*?)</tr>', html, re.S).group(1)
    total_row = re.search(r"data-total[^>]*>(.*?)</tr>", html, re.S).group(1)
    for cells in (branch_row, total_row):
        assert re.search(r'data-cell="unexcused">1 / 1<', cells)


def test_notice_page_is_printable_on_a4_and_shows_no_id_number(world, login, factory, session):
    st = factory.student(world.klass, world.village, name="丁休学", status="suspended",
                         id_card_no=id_no(dt.date(2016, 5, 1), 4))
    case = Case(process="suspension", state="suspended", student_id=st.id, school_id=world.branch.id,
                opened_on=dt.date(2026, 10, 1), data={})
    session.add(case)
    session.flush()
    session.add(CaseHistory(case_id=case.id, transition="center_file", from_state="approved", to_state="suspended",
                            role="center_office", effective_date=dt.date(2026, 10, 13)))
    session.commit()
    html = login(world["office"]).get(
        f"/reports/notice?school_id={world.branch.id}&from=2026-10-01&to=2026-10-31").get_data(as_text=True)
    assert "学生学籍异动公示" in html and "丁休学" in html and "休学" in html and "2026-10-13" in html
    assert "@page { size: A4" in html and ".no-print" in html
    assert st.id_card_no not in html and st.id_card_no[:6] + "*" not in html


def test_crosscheck_asks_for_confirmation_saying_it_opens_recovery_cases(world, login):
    html = login(world["office"]).get(f"/registers/catchment?village_id={world.village.id}").get_data(as_text=True)
    form = html[html.index('action="/registers/catchment/crosscheck"'):]
    form = form[:form.index("</form>")]
    # the first click only opens the box; the submit button is inside it, and says what it does
    box = form[form.index('<details class="confirm-step" data-confirm="crosscheck"'):]
    assert '<summary' in box and 'data-confirm-fire="crosscheck"' in box and "onclick" not in form
    assert form.count('type="submit"') == 1 and form.index('type="submit"') > form.index("<details")
    text = re.sub(r"<[^>]+>", " ", box)
    assert "东坡村" in text and "开启一件劝返案件" in text and "确定核对并开启劝返案件" in text
