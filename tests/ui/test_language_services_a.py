"""Issue 12, part A: the org, user, register and figures services' refusals and import problems read
in the user's language. English asked for (Accept-Language: en on the API, /lang/en on a page)
shows English with no Chinese but what people typed or must type (names, column headers quoted
「…」); Chinese, the default, shows the same message in Chinese."""
from __future__ import annotations

import datetime as dt
import html as html_lib
import io
import re

import pytest

from tests.conftest import csrf_token_from
from tests.ui.test_exam_pages import drive, pupils  # noqa: F401  (fixtures)
from tests.ui.test_exam_pages import xlsx as scores_xlsx
from tests.ui.test_language import english_catalogue  # noqa: F401  (fixture: the compiled .mo)
from tests.workflow.test_catchment import id_no, row
from tests.workflow.test_catchment import xlsx as register_xlsx

IDEOGRAPH = re.compile(r"[\u3400-\u9fff]")
QUOTED = re.compile(r"「[^」]*」")
EN = {"Accept-Language": "en"}
YEAR = "2026-2027"


def chinese_left(message: str, *typed: str) -> list[str]:
    """The ideographs left in `message` once the words people typed and the 「quoted」 literals
    they must type are taken out."""
    for word in sorted(typed, key=len, reverse=True):
        message = message.replace(word, " ")
    return IDEOGRAPH.findall(QUOTED.sub(" ", message))


def api_error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_json()
    return resp.get_json()["error"]


# --- org services --------------------------------------------------------------------------------


def test_a_duplicate_class_is_refused_in_english_and_in_chinese(api, world):
    as_admin = api.as_user(world["admin"])
    body = {"school_id": world.branch.id, "school_year": YEAR, "grade": 3, "name": world.klass.name}
    en = api_error(as_admin.post("/classes", json=body, headers=EN), 409)
    assert en["message"] == f'This school already has a class named "{world.klass.name}" in school year {YEAR}'
    assert chinese_left(en["message"], world.klass.name) == []
    zh = api_error(as_admin.post("/classes", json=body), 409)
    assert zh["message"] == f"该校 {YEAR} 学年已有名为“{world.klass.name}”的班级"
    assert en["code"] == zh["code"] == "duplicate" and en["details"] == zh["details"] == {"field": "name"}


def test_a_calendar_with_a_weekday_make_up_day_is_refused_in_english(api, world):
    as_admin = api.as_user(world["admin"])
    body = {"school_year": YEAR, "term": 1, "start": "2026-09-01", "end": "2027-01-20",
            "holidays": [], "workdays": ["2026-09-28"]}
    en = api_error(as_admin.put(f"/calendar/{world.branch.id}", json=body, headers=EN), 422)
    assert en["message"] == ("The make-up school day 2026-09-28 is a weekday, a school day anyway; "
                             "only a Saturday or Sunday can be one")
    zh = api_error(as_admin.put(f"/calendar/{world.branch.id}", json=body), 422)
    assert zh["message"] == "调休上课日 2026-09-28 是周一至周五，本来就上课；只能填周六或周日"
    assert en["details"] == zh["details"] == {"field": "workdays[0]"}


# --- user service: the password policy and who may grant what ------------------------------------


def _new_user(password="long-enough-1", **role):
    return {"username": "newteacher", "password": password, "name": "新老师", "roles": [role]}


def test_a_short_password_is_refused_in_english_and_in_chinese(api, world):
    as_admin = api.as_user(world["admin"])
    body = _new_user(password="short", role="team_member", school_id=world.branch.id)
    en = api_error(as_admin.post("/users", json=body, headers=EN), 422)
    assert en["message"] == "The password needs at least 10 characters"
    zh = api_error(as_admin.post("/users", json=body), 422)
    assert zh["message"] == "密码至少需要 10 个字符"
    assert en["details"] == zh["details"] == {"field": "password"}


def test_a_grant_beyond_the_granters_reach_is_refused_in_english(api, world):
    as_principal = api.as_user(world["principal"])
    body = _new_user(role="village_liaison", village_id=world.village.id)
    en = api_error(as_principal.post("/users", json=body, headers=EN), 403)
    assert en["message"] == ("You can only grant roles below your own highest role and within your area"
                             " (Village liaison)")
    zh = api_error(as_principal.post("/users", json=body), 403)
    assert zh["message"] == "您只能授予低于您本人最高角色、且在您管辖范围内的角色（村委联络员）"


def test_a_role_without_its_school_is_refused_in_english(api, world):
    body = _new_user(role="principal")
    en = api_error(api.as_user(world["admin"]).post("/users", json=body, headers=EN), 422)
    assert en["message"] == 'The role "Principal" needs a school'
    assert en["details"] == {"field": "roles[0].school_id"}


def test_a_wrong_password_is_answered_in_english_and_in_chinese(api, world):
    anonymous = api.anonymous()
    en = api_error(anonymous.post("/tokens", json={"username": "teacher", "password": "wrong-password"},
                                  headers=EN), 401)
    assert en["message"] == "Wrong username or password"
    zh = api_error(anonymous.post("/tokens", json={"username": "teacher", "password": "wrong-password"}), 401)
    assert zh["message"] == "用户名或密码错误"


# --- the catchment register's import --------------------------------------------------------------

BAD_ROWS = [
    ["东坡村", *row("张小明")],                                    # 2 fine
    ["东坡村", *row("赵错日", birth="2016/02/30")],                # 3 a date that does not exist
    ["桃花村", *row("钱某某", birth="2015-03-03")],                # 4 a village nobody knows
    ["东坡村", *row("孙某", idc=id_no(dt.date(2016, 5, 1), 3))],
    ["东坡村", *row("孙某某", idc=id_no(dt.date(2016, 5, 1), 3))],  # 6 the same ID
    ["东坡村", *row("李某", gender="未知")],                       # 7 a gender that is no gender
]
REGISTER_HEADERS = ["村", "姓名", "性别", "出生日期", "身份证号", "户籍", "就读状态", "就读学校/去向", "备注"]
TYPED = ("2016/02/30", "桃花村", "未知", "东坡村")


def _import_register(api, world, headers=None):
    form = {"village_id": str(world.village.id),
            "file": (io.BytesIO(register_xlsx(BAD_ROWS, headers=REGISTER_HEADERS)), "登记表.xlsx")}
    return api.as_user(world["office"]).request("POST", "/catchment/import", data=form,
                                                content_type="multipart/form-data", headers=headers)


def test_the_register_imports_row_problems_through_the_api_in_english(api, world):
    en = api_error(_import_register(api, world, EN), 422)
    zh = api_error(_import_register(api, world), 422)
    assert en["message"] == ('4 rows of the file have errors; nothing was imported. Correct them and import '
                             'again, or choose "Import only valid rows"')
    assert zh["message"].startswith("文件有 4 行有误，未导入任何数据")
    reasons = {e["row"]: e["reason"] for e in en["details"]["errors"]}
    assert reasons == {
        3: "Invalid birth date: 「2016/02/30」 (write a date such as 2016-05-01)",
        4: "Unknown village: 「桃花村」",
        6: "The ID number repeats row 5",
        7: "The gender must be 「男」 (male) or 「女」 (female) (the file says 「未知」)",
    }
    for reason in reasons.values():
        assert chinese_left(reason, *TYPED) == []
    assert {e["row"]: e["reason"] for e in zh["details"]["errors"]}[4] == "未知的村：「桃花村」"
    # the rows and the columns (the file's own headers) are the same in both languages
    assert [(e["row"], e["field"]) for e in en["details"]["errors"]] == \
        [(e["row"], e["field"]) for e in zh["details"]["errors"]]


def _page_import(client, world):
    page = client.get(f"/registers/catchment?village_id={world.village.id}").get_data(as_text=True)
    form = {"csrf_token": csrf_token_from(page), "village_id": str(world.village.id),
            "file": (io.BytesIO(register_xlsx(BAD_ROWS, headers=REGISTER_HEADERS)), "登记表.xlsx")}
    resp = client.post("/registers/catchment/import", data=form, content_type="multipart/form-data")
    assert resp.status_code == 422
    return resp.get_data(as_text=True)


def _row_reasons(html: str) -> dict[int, str]:
    rows = re.findall(r'<tr data-row="(\d+)">.*?<td class="wrap">(.*?)</td>', html, re.S)
    return {int(n): html_lib.unescape(reason) for n, reason in rows}


def test_the_register_page_lists_the_bad_rows_in_the_chosen_language(world, login):
    client = login(world["office"])
    zh = _row_reasons(_page_import(client, world))
    assert zh[4] == "未知的村：「桃花村」" and zh[6] == "身份证号与第 5 行重复"
    client.get("/lang/en")
    html = _page_import(client, world)
    en = _row_reasons(html)
    assert en[4] == "Unknown village: 「桃花村」" and en[6] == "The ID number repeats row 5"
    assert all(chinese_left(reason, *TYPED) == [] for reason in en.values())
    alert = html_lib.unescape(re.search(r'role="alert">(.*?)</p>', html, re.S).group(1))
    assert alert.startswith("4 rows of the file have errors; nothing was imported.")


# --- exam scores' import --------------------------------------------------------------------------


def _post_scores(client, world, data: bytes):
    token = csrf_token_from(client.get("/figures/exams/import").get_data(as_text=True))
    fields = {"csrf_token": token, "class_id": str(world.klass.id), "term": "1", "exam": "final", "subject": "",
              "file": (io.BytesIO(data), "成绩.xlsx")}
    return client.post("/figures/exams/import", data=fields, content_type="multipart/form-data")


def _score_reasons(html: str) -> dict[int, str]:
    rows = re.findall(r'<tr data-row="(\d+)"><td>[^<]*</td><td[^>]*>(.*?)</td>', html, re.S)
    return {int(n): html_lib.unescape(reason) for n, reason in rows}


def test_the_exam_import_page_lists_each_rows_problems_in_english(pupils, world, login):  # noqa: F811
    client = login(world["office"])
    client.get("/lang/en")
    resp = _post_scores(client, world, scores_xlsx([("G0001", "张三", "语文", 90), ("G9999", "", "", 80),
                                                    ("", "赵六", "语文", 70), ("G0002", "", "语文", "九十")]))
    assert resp.status_code == 422
    reasons = _score_reasons(resp.get_data(as_text=True))
    # a row with two problems lists both, each in English, joined the English way
    assert reasons[3] == "Student number G9999 is not a student of this class; The subject is empty"
    assert reasons[4] == 'This class has no student named "赵六"'
    assert reasons[5] == 'The score "九十" is not a number'
    for reason in reasons.values():
        assert chinese_left(reason, "赵六", "九十") == []
    client.get("/lang/zh_CN")
    resp = _post_scores(client, world, scores_xlsx([("G9999", "", "", 80)]))
    assert _score_reasons(resp.get_data(as_text=True))[2] == "学籍号 G9999 不是本班学生；科目为空"


def test_an_exam_file_without_a_score_column_is_refused_in_english(api, pupils, world):  # noqa: F811
    def upload(headers=None):
        form = {"class_id": str(world.klass.id), "school_year": YEAR, "term": "1",
                "file": (io.BytesIO(scores_xlsx([("G0001", "张三", "语文")], header=("学籍号", "姓名", "科目"))),
                         "成绩.xlsx")}
        return api.as_user(world["office"]).request("POST", "/exams/import", data=form,
                                                    content_type="multipart/form-data", headers=headers)

    en = api_error(upload(EN), 422)
    assert en["message"] == "The header row (row 1) lacks the columns 「分数」"
    zh = api_error(upload(), 422)
    assert zh["message"] == "表头缺少列：分数（第 1 行）"
    assert en["details"]["missing_columns"] == zh["details"]["missing_columns"] == ["分数"]


# --- figures: freezing the baselines ---------------------------------------------------------------


def test_freezing_baselines_without_a_calendar_is_refused_in_english(api, world):
    body = {"school_id": world.branch.id, "school_year": YEAR, "term": 1}
    as_office = api.as_user(world["office"])
    en = api_error(as_office.post("/baselines", json=body, headers=EN), 422)
    assert en["message"] == (f"{world.branch.name} has no calendar yet for term 1 of school year {YEAR},"
                             " so its baselines cannot be frozen")
    assert chinese_left(en["message"], world.branch.name) == []
    zh = api_error(as_office.post("/baselines", json=body), 422)
    assert zh["message"] == f"{world.branch.name} 尚未设置 {YEAR} 学年第1学期的校历，无法冻结基数"
    assert en["details"] == zh["details"] == {"field": "term"}


@pytest.mark.parametrize("term", [0, 3])
def test_a_term_other_than_1_or_2_is_refused_in_english(app, term):
    """The figures' term check (shared by baselines, losses and exams) in English."""
    from flask_babel import refresh

    from admin.labels import error_text
    from workflow.errors import Invalid
    from workflow.figures.common import check_term

    with pytest.raises(Invalid) as err:
        check_term(term)
    with app.test_request_context("/api/v1/baselines", headers=EN):
        refresh()
        assert error_text(err.value) == "The term must be 1 or 2"
    assert err.value.message == "学期必须是 1 或 2" and err.value.details == {"field": "term"}


@pytest.mark.parametrize("path, module", [
    ("/school-year", "workflow.schoolyear.roster"), ("/checks", "workflow.reporting.checks"),
    ("/registers/catchment", "workflow.registers.catchment")])
def test_import_pages_list_the_chinese_column_headers_verbatim_in_english(world, login, path, module):
    """A file must carry the template's Chinese headers, so the English page quotes them as they
    are: translating some ("Name") and not others ("全国学籍号") named columns no file has."""
    import importlib

    headers = [h for _k, h in importlib.import_module(module).COLUMNS]
    client = login(world["office"])
    client.get("/lang/en")
    page = html_lib.unescape(re.sub(r"<[^>]+>", " ", client.get(path).get_data(as_text=True)))
    assert "in Chinese as in the template: " + ", ".join(headers) in page
