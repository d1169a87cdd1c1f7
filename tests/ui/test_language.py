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
from tests.ui.pages_support import fixed_clock, new_suspension, term  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "admin" / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
POT = TRANSLATIONS / "messages.pot"
# The same keywords as `make translations-update` (pybabel's defaults plus -k _l -k lazy_gettext
# -k NP_:1c,2, workflow's marker of a msgid with a context).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "NP_": ((1, "c"), 2)}
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


def _extract_with_context() -> set[tuple[str, str | None]]:
    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse(cfg)
    return {(msgid if isinstance(msgid, str) else msgid[0], context)
            for _file, _line, msgid, _comments, context in extract_from_dir(
                str(ROOT), method_map, options_map, keywords=KEYWORDS)}


def test_every_string_in_the_code_has_an_english_translation():
    catalog = _read(PO)
    problems = []
    # a word with two meanings (NP_("action", "确认辍学")) is looked up in its context
    for msgid, context in sorted(_extract_with_context(), key=lambda pair: (pair[0], pair[1] or "")):
        msg = catalog.get(msgid, context=context)
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


# --- The domain's words: processes, states, actions, guards, errors (issue 12) --------------------

IDEOGRAPH = re.compile(r"[\u3400-\u9fff]+")
WORKFLOW = ROOT / "workflow"
# Functions whose Chinese message arguments reach a user (an API error or a flashed message).
ERROR_CALLS = {"Invalid", "NotFound", "Forbidden", "Conflict", "DomainError", "invalid_field", "FieldInvalid"}


def _name_tables() -> dict[str, dict]:
    """Every table in workflow that names codes for people, by where it lives."""
    from workflow.absence import ladder
    from workflow.access.scope import ROLE_NAMES
    from workflow.cases.guards import DOCUMENT_NAMES
    from workflow.org.services import GENDER_NAMES, SCHOOL_KIND_NAMES, STUDENT_STATUS_NAMES
    from workflow.processes import REGISTRY
    from workflow.registers import catchment

    tables = {"roles": ROLE_NAMES, "student statuses": STUDENT_STATUS_NAMES, "genders": GENDER_NAMES,
              "school kinds": SCHOOL_KIND_NAMES, "visit kinds": ladder.KIND_NAMES,
              "ladder rungs": ladder.RUNG_NAMES, "documents": DOCUMENT_NAMES,
              "households": catchment.HOUSEHOLD_LABELS, "register statuses": catchment.STATUS_LABELS}
    for name, proc in REGISTRY.items():
        tables[f"process {name}"] = {"(name)": proc.label}
        tables[f"{name} states"] = dict(proc.state_labels)
        tables[f"{name} actions"] = {t.name: t.label for t in proc.transitions if t.label}
    return tables


def test_every_process_state_action_and_code_name_is_marked_and_translated():
    """What the case page, the queue and the API show for a process (its name, states, actions)
    and the names of roles, statuses, kinds and rungs: each is marked (a workflow.errors.Msg, so
    the pages and the API translate it) and has an English translation without Chinese."""
    from workflow.errors import Msg

    catalog = _read(PO)
    problems = []
    for table, names in _name_tables().items():
        for code, label in names.items():
            if not isinstance(label, Msg):
                problems.append(f"{table}: {code} = {label!r} is not marked with N_")
                continue
            msg = catalog.get(str(label), context=label.context)
            if msg is None or not msg.string.strip() or msg.fuzzy:
                problems.append(f"{table}: {code} = {label} has no English translation")
            elif CJK.search(QUOTED_LITERAL.sub("", msg.string)):
                problems.append(f"{table}: {code} = {label} -> {msg.string} still Chinese")
    assert problems == []


def _ast_name(func) -> str | None:
    import ast

    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _bare_chinese(node) -> bool:
    """A literal or f-string with Chinese in it, not wrapped in N_(…) or Msg(…)."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(IDEOGRAPH.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(_bare_chinese(v) for v in node.values)
    if isinstance(node, ast.BinOp):
        return _bare_chinese(node.left) or _bare_chinese(node.right)
    if isinstance(node, ast.IfExp):
        return _bare_chinese(node.body) or _bare_chinese(node.orelse)
    return False


def _unmarked_messages(paths) -> list[str]:
    """Chinese messages in `paths` that no catalogue can translate: an error's message, a guard's
    or check's returned message, a transition's `label=` or a `state_labels` value written as a
    bare literal or an f-string instead of N_("… %(name)s …") / Msg(…)."""
    import ast

    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            candidates = []
            if isinstance(node, ast.Call) and _ast_name(node.func) in ERROR_CALLS:
                candidates = list(node.args)
            elif isinstance(node, ast.Call):
                candidates = [k.value for k in node.keywords if k.arg == "label"]
                for k in node.keywords:
                    if k.arg == "state_labels" and isinstance(k.value, ast.Dict):
                        candidates += list(k.value.values)
            elif isinstance(node, ast.Return) and node.value is not None:
                candidates = [node.value]
            for c in candidates:
                if _bare_chinese(c):
                    found.append(f"{path.relative_to(ROOT)}:{c.lineno}: {ast.unparse(c)[:80]}")
    return found


def test_processes_guards_and_the_engine_mark_every_message_for_the_catalogue():
    """The words of the case flows — process definitions, guards, the engine's refusals, the
    next-step lines and the diagram — are all marked: English mode shows no Chinese there."""
    paths = [*sorted((WORKFLOW / "processes").glob("*.py")),
             *(WORKFLOW / "cases" / name for name in ("definitions.py", "engine.py", "guards.py",
                                                      "nextstep.py", "diagram_svg.py"))]
    assert _unmarked_messages(p for p in paths if p.exists()) == []


def test_no_unmarked_message_anywhere_in_workflow():
    """Every service's refusal and row error in workflow/ (org, figures, registers, school year,
    reporting, support…) is marked too: English mode shows no Chinese message from the domain."""
    paths = [p for p in sorted(WORKFLOW.rglob("*.py")) if "demo" not in p.parts]
    assert _unmarked_messages(paths) == []


# --- English mode from a user's seat: a case page, the queue, a refused action -------------------


def _data_words(world, student, case) -> set[str]:
    """What people typed or named (shown as typed in both languages): names of the child, the
    guardians, the class, schools, villages and staff, and the case's reason."""
    words = {student.name, student.klass.name, student.school.name, (case.data or {}).get("reason", ""),
             "简体中文"}  # the language switch names Chinese in Chinese, on purpose
    words |= {g.name for g in student.guardians} | {g.relation for g in student.guardians}
    words |= {s.name for s in (world.center, world.branch, world.county)} | {world.village.name}
    words |= {u.name for u in world.users.values()}
    return {w for w in words if w}


def _chinese_left(html: str, data_words: set[str]) -> list[str]:
    from tests.ui.pages_support import text_of

    text = text_of(html)
    for word in sorted(data_words, key=len, reverse=True):
        text = text.replace(word, " ")
    return sorted(set(IDEOGRAPH.findall(text)))


@pytest.fixture
def blocked_suspension(world, factory, session, fixed_clock, term):  # noqa: F811  (fixtures)
    """A draft suspension of 李小明 whose submission is blocked (no visit, no grounds document)."""
    student = factory.student(world.klass, world.village, name="李小明")
    session.commit()
    return new_suspension(session, world, student)


@pytest.fixture
def english_teacher_case(world, blocked_suspension, login):
    """The homeroom teacher, in English mode, on `blocked_suspension`."""
    case = blocked_suspension
    student = case.student
    client = login(world["teacher"])
    client.get("/lang/en")
    return client, case, _data_words(world, student, case)


def test_english_case_page_shows_no_chinese_but_what_people_typed(english_teacher_case):
    client, case, data_words = english_teacher_case
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert _chinese_left(html, data_words) == []
    # the process, its state, its actions, the unmet guards and the diagram, in English
    for words in ("Suspension", "Draft", "Submit", "Withdraw", "Academic office review",
                  "Needs a record of the guardian coming to school in person",
                  "Upload Grounds for suspension", "Suspension process diagram"):
        assert words in html


def test_english_queue_shows_no_chinese_but_what_people_typed(english_teacher_case):
    client, case, data_words = english_teacher_case
    html = client.get("/queue", follow_redirects=True).get_data(as_text=True)
    assert f"/cases/{case.id}" in html
    assert _chinese_left(html, data_words) == []


def test_a_refused_action_is_explained_in_english(english_teacher_case):
    client, case, data_words = english_teacher_case
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    resp = client.post(f"/cases/{case.id}/transitions/submit", data={
        "csrf_token": csrf_token_from(page), "version": str(case.version)}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert ("Needs a record of the guardian coming to school in person (a phone call does not count)"
            "; Upload Grounds for suspension") in html
    assert _chinese_left(html, data_words) == []


def test_the_api_explains_a_refused_action_in_the_requests_language(world, blocked_suspension, api):
    case = blocked_suspension
    as_teacher = api.as_user(world["teacher"])
    body = {"version": case.version}
    zh = as_teacher.post(f"/cases/{case.id}/transitions/submit", json=body)
    en = as_teacher.post(f"/cases/{case.id}/transitions/submit", json=body, headers={"Accept-Language": "en"})
    assert zh.status_code == en.status_code == 409
    assert zh.get_json()["error"]["code"] == en.get_json()["error"]["code"] == "guard_failed"
    assert zh.get_json()["error"]["message"].startswith("需要家长本人到校的记录（电话不算）；需要上传休学依据")
    assert en.get_json()["error"]["message"] == (
        "Needs a record of the guardian coming to school in person (a phone call does not count)"
        "; Upload Grounds for suspension")
    assert en.get_json()["error"]["details"]["unmet"][1] == "Upload Grounds for suspension"
    detail = as_teacher.get(f"/cases/{case.id}", headers={"Accept-Language": "en"}).get_json()
    assert (detail["process_label"], detail["state_label"]) == ("Suspension", "Draft")
    assert as_teacher.get(f"/cases/{case.id}").get_json()["state_label"] == "草稿"


def test_a_domain_message_renders_its_values_lists_and_contexts_in_english(app):
    """A guard's message with a status's name in it, a list of names, and a word with two
    meanings (休学: the process vs the student's status) read right in English; the error keeps
    its Chinese `message` for logs and code."""
    from flask_babel import refresh

    from admin.labels import error_text, text
    from workflow.errors import N_, NAME_SEP, NP_, Conflict, Msg
    from workflow.org.services import STUDENT_STATUS_NAMES

    allowed = Msg.join(NAME_SEP, [STUDENT_STATUS_NAMES["active"], STUDENT_STATUS_NAMES["suspended"]])
    msg = Msg(N_("学生当前状态为「%(status)s」，须为「%(allowed)s」"),
              status=STUDENT_STATUS_NAMES["dropped_out"], allowed=allowed)
    error = Conflict(msg, code="guard_failed")
    assert error.message == "学生当前状态为「辍学」，须为「在校、休学」"
    with app.test_request_context("/api/v1/cases", headers={"Accept-Language": "en"}):
        refresh()  # the locale is cached in the app context the test already holds
        assert text(msg) == error_text(error) == 'The student\'s status is "Dropped out"; it must be "Enrolled, Suspended"'
        assert (text(NP_("process", "休学")), text(N_("休学"))) == ("Suspension", "Suspended")
    with app.test_request_context("/api/v1/cases"):
        refresh()
        assert error_text(error) == error.message
