"""The English catalogue and how the language is chosen: Chinese by default, English when a user
picks it at /lang/en (pages) or asks for it with Accept-Language: en (API)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages import frontend
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from admin.extensions import babel
from tests.conftest import csrf_token_from

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "admin" / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
POT = TRANSLATIONS / "messages.pot"
# The same keywords as `make translations-update` (pybabel's defaults plus -k _l -k lazy_gettext).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]")
CJK = re.compile(r"[\u3400-\u9fff]")
# Chinese may stay only where the English text quotes a literal the user must type or will see,
# such as a required Excel column header: 「学籍号」 (student number).
QUOTED_LITERAL = re.compile(r"「[^」]*」")


@pytest.fixture(scope="module", autouse=True)
def english_catalogue(app):
    """Build the .mo the app reads (make does this too) so a plain `pytest` run works."""
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        with PO.open("rb") as src:
            catalog = read_po(src, locale="en")
        with MO.open("wb") as out:
            write_mo(out, catalog)
        # Flask-Babel caches a loaded catalogue per locale: drop any English loaded before.
        with app.app_context():
            babel.domain_instance.cache.clear()


def _extract_msgids() -> set[str]:
    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse(cfg)
    return {msgid if isinstance(msgid, str) else msgid[0]
            for _file, _line, msgid, _comments, _context in extract_from_dir(
                str(ROOT), method_map, options_map, keywords=KEYWORDS)}


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    return _extract_msgids()


def _read(path: Path):
    with path.open("rb") as fh:
        return read_po(fh, locale="en" if path == PO else None)


def test_the_template_lists_exactly_the_strings_in_the_code(extracted):
    in_pot = {m.id for m in _read(POT) if m.id}
    assert extracted, "extraction found no strings: babel.cfg or its paths are wrong"
    assert sorted(extracted - in_pot) == [], "run `make translations-update`"
    assert sorted(in_pot - extracted) == [], "run `make translations-update`"


def test_every_string_in_the_code_has_an_english_translation(extracted):
    catalog = _read(PO)
    problems = []
    for msgid in sorted(extracted):
        msg = catalog.get(msgid)
        if msg is None:
            problems.append(f"missing: {msgid}")
        elif not msg.string or not msg.string.strip():
            problems.append(f"empty: {msgid}")
        elif msg.fuzzy:
            problems.append(f"fuzzy: {msgid}")
        elif sorted(PLACEHOLDER.findall(msgid)) != sorted(PLACEHOLDER.findall(msg.string)):
            problems.append(f"placeholders differ: {msgid} -> {msg.string}")
        elif CJK.search(QUOTED_LITERAL.sub("", msg.string)):
            problems.append(f"Chinese left in the English text: {msgid} -> {msg.string}")
    assert problems == []


def _login_button(html: str) -> str:
    m = re.search(r'<button[^>]*type="submit"[^>]*>(.*?)</button>', html, re.S)
    assert m, "login form has no submit button"
    return m.group(1).strip()


def test_login_page_is_chinese_by_default(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in html
    assert "登录保学系统" in html and _login_button(html) == "登录"
    assert "Log in" not in html


def test_choosing_english_turns_the_login_page_english_and_back(client):
    resp = client.get("/lang/en")
    assert resp.status_code == 302
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert _login_button(html) == "Log in"
    assert "Log in to Baoxue" in html and "Username" in html and "Password" in html
    assert "登录保学系统" not in html

    client.get("/lang/zh_CN")
    html = client.get("/login").get_data(as_text=True)
    assert _login_button(html) == "登录"


def test_an_unknown_language_code_leaves_the_pages_chinese(client):
    client.get("/lang/fr")
    assert _login_button(client.get("/login").get_data(as_text=True)) == "登录"


def test_pages_ignore_the_browser_language_until_the_user_picks_english(client):
    html = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert _login_button(html) == "登录"


def test_a_failed_login_is_reported_in_the_chosen_language(world, client):
    client.get("/lang/en")
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    html = client.post("/login", data={"username": "teacher", "password": "wrong-password",
                                       "csrf_token": token}).get_data(as_text=True)
    assert "Wrong username or password." in html
    assert "用户名或密码错误" not in html


def test_home_page_after_login_follows_the_chosen_language(world, client, login):
    login(world["teacher"])
    assert "我的待办" in client.get("/", follow_redirects=True).get_data(as_text=True)
    client.get("/lang/en")
    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "My queue" in html and "我的待办" not in html


def test_api_error_without_token_is_chinese_by_default(api):
    resp = api.anonymous().get("/students", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert resp.status_code == 401
    assert resp.get_json()["error"]["message"].startswith("需要登录")


def test_api_error_without_token_is_english_when_asked_for(api):
    resp = api.anonymous().get("/students", headers={"Accept-Language": "en-GB,en;q=0.8,zh;q=0.5"})
    assert resp.status_code == 401
    error = resp.get_json()["error"]
    assert error["code"] == "unauthorized"
    assert error["message"].startswith("Login required")


def test_api_answers_chinese_without_an_accept_language_header(app):
    resp = app.test_client().get("/api/v1/students")
    assert resp.status_code == 401
    assert resp.get_json()["error"]["message"].startswith("需要登录")


def test_api_validation_messages_are_english_when_asked_for(api):
    zh = api.anonymous().post("/tokens", json={"username": "teacher"})
    en = api.anonymous().post("/tokens", json={"username": "teacher"}, headers={"Accept-Language": "en"})
    assert zh.status_code == en.status_code == 422
    assert zh.get_json()["error"]["message"] == "缺少必填字段：password"
    assert en.get_json()["error"]["message"] == "Missing required field: password"
    assert en.get_json()["error"]["details"] == zh.get_json()["error"]["details"] == {"field": "password"}


def test_flask_admin_pages_are_chinese_by_default(world, client, login):
    login(world["admin"])
    html = client.get("/admin/").get_data(as_text=True)
    for menu in ("档案管理", "学校", "班级", "学生", "校历", "案件"):
        assert menu in html
    listing = client.get("/admin/school/").get_data(as_text=True)
    # Flask-Admin's own strings come from its bundled Chinese catalogue.
    assert "列表" in listing and "创建" in listing
    assert ">List<" not in listing


def test_flask_admin_pages_follow_the_english_choice(world, client, login):
    login(world["admin"])
    client.get("/lang/en")
    html = client.get("/admin/").get_data(as_text=True)
    for menu in ("Records", "School", "Class", "Student", "School calendars", "Cases"):
        assert menu in html
    assert "档案管理" not in html
    listing = client.get("/admin/school/").get_data(as_text=True)
    assert "List" in listing and "Create" in listing
    assert "列表" not in listing
