"""Accounts as an attacker meets them (issue 11): the password policy, sessions and tokens that end
at a password change, a deactivation or a logout, and login throttling that nobody can turn into
a lock-out of someone else."""
from __future__ import annotations

import datetime as dt
import logging
import os
import threading

import pytest
from sqlalchemy import func, select

from models import LoginSession, LoginThrottle, User
from tests.conftest import csrf_token_from
from tests.factories import PASSWORD
from workflow import clock
from workflow.access import accounts
from workflow.demo import DEMO_PASSWORD

postgres_only = pytest.mark.skipif(
    not (os.environ.get("TEST_DATABASE_URL") or "").startswith("postgresql"),
    reason="concurrent logins need a server database: set TEST_DATABASE_URL to PostgreSQL")


def _login_page(client, username, password, address="127.0.0.1"):
    env = {"REMOTE_ADDR": address}
    token = csrf_token_from(client.get("/login", environ_base=env).get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base=env)


def _token_call(app, username, password, address="127.0.0.1"):
    return app.test_client().post("/api/v1/tokens", json={"username": username, "password": password},
                                  environ_base={"REMOTE_ADDR": address})


def _signed_in(client) -> bool:
    return client.get("/home/summary").status_code == 200


# --- the password policy -------------------------------------------------------------------------


@pytest.mark.parametrize("password,username,problem", [
    ("short-1", "newuser", "至少需要 10 个字符"),
    ("123456789", "newuser", "至少需要 10 个字符"),
    ("newuser-2026", "newuser", "不能包含用户名"),
    ("NEWUSER2026x", "newuser", "不能包含用户名"),
    ("zhangsan1234", "ZhangSan", "不能包含用户名"),
    ("123456789a", "newuser", "过于常见"),
    ("qwertyuiop", "newuser", "过于常见"),
    ("1qaz2wsx3edc", "newuser", "过于常见"),
    ("Woaini1314", "newuser", "过于常见"),
    ("1234567890", "newuser", "过于常见"),
    ("password123", "newuser", "过于常见"),
    ("Fresh-pass-2026x", "newuser", None),
    ("li-mountain-road", "li", None),  # a two-letter username is not searched for inside
])
def test_password_policy(password, username, problem):
    found = accounts.password_problem(password, username)
    if problem is None:
        assert found is None
    else:
        assert problem in found


def test_the_shipped_list_is_large_and_has_chinese_typical_entries():
    common = accounts.common_passwords()
    assert len(common) > 3000
    assert {"123456789a", "qwertyuiop", "1qaz2wsx", "woaini1314", "5201314", "a123456789"} <= common


def test_demo_password_passes_the_policy_for_every_demo_account():
    from admin.views.auth import DEMO_ACCOUNTS

    for username, _label in DEMO_ACCOUNTS:
        assert accounts.password_problem(DEMO_PASSWORD, username) is None, username


@pytest.mark.parametrize("password,fragment", [("short-1", "10 个字符"), ("principal-2026", "用户名"),
                                              ("qwertyuiop", "常见")])
def test_api_refuses_a_weak_password_and_writes_nothing(api, world, session, password, fragment):
    before = session.scalar(select(func.count()).select_from(User))
    r = api.as_user(world["principal"]).post("/users", json={
        "username": "principal-x", "password": password.replace("principal", "principal-x"), "name": "新",
        "roles": [{"role": "team_member", "school_id": world.branch.id}]})
    assert r.status_code == 422
    assert r.json["error"]["details"] == {"field": "password"} and fragment in r.json["error"]["message"]
    assert session.scalar(select(func.count()).select_from(User)) == before


def test_api_refuses_a_weak_new_password_and_keeps_the_old_one(api, world, session):
    teacher = world["teacher"]
    r = api.as_user(world["principal"]).request("PATCH", f"/users/{teacher.id}", json={"password": "1qaz2wsx3edc"})
    assert r.status_code == 422 and r.json["error"]["details"] == {"field": "password"}
    session.expire_all()
    assert session.get(User, teacher.id).check_password(PASSWORD)


def test_patch_user_replaces_roles_within_the_rule(api, world, session):
    teacher = world["teacher"]
    r = api.as_user(world["principal"]).request("PATCH", f"/users/{teacher.id}", json={
        "roles": [{"role": "subject_teacher", "class_id": world.klass2.id}]})
    assert r.status_code == 200, r.json
    assert r.json["roles"] == [{"role": "subject_teacher", "school_id": None, "class_id": world.klass2.id,
                                "village_id": None}]
    r = api.request("PATCH", f"/users/{teacher.id}", json={"roles": [{"role": "principal", "school_id": world.branch.id}]})
    assert r.status_code == 403 and r.json["error"]["details"] == {"field": "roles[0]"}


@pytest.mark.parametrize("body,field", [({"is_active": "no"}, "is_active"), ({"name": ""}, "name"),
                                        ({"roles": []}, "roles"), ({"email": "x"}, "email")])
def test_patch_user_malformed_is_422(api, world, body, field):
    r = api.as_user(world["principal"]).request("PATCH", f"/users/{world['teacher'].id}", json=body)
    assert r.status_code == 422 and r.json["error"]["details"]["field"] == field


def test_patch_user_out_of_scope_is_404_before_the_body_is_read(api, world):
    r = api.as_user(world["principal"]).request("PATCH", f"/users/{world['other_teacher'].id}", json={"x": 1})
    assert r.status_code == 404


def test_nobody_but_admin_changes_their_own_account_here(api, world):
    me = world["principal"]
    r = api.as_user(me).request("PATCH", f"/users/{me.id}", json={"name": "自己"})
    assert r.status_code == 403


# --- sessions and tokens end at once -----------------------------------------------------------


def _copy_cookie(src, dst):
    """Copy the session cookie of client `src` into client `dst` (a stolen cookie)."""
    cookie = src.get_cookie("session")
    dst.set_cookie("session", cookie.value)


def test_a_cookie_copied_before_logout_no_longer_works_after_it(app, world, session):
    browser, thief = app.test_client(), app.test_client()
    assert _login_page(browser, "teacher", PASSWORD).status_code == 302
    _copy_cookie(browser, thief)
    assert _signed_in(thief)
    token = csrf_token_from(browser.get("/home/summary").get_data(as_text=True))
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert not _signed_in(browser)
    assert not _signed_in(thief)
    assert session.scalar(select(func.count()).select_from(LoginSession)) == 0


@pytest.mark.parametrize("change", [{"password": "Fresh-pass-2026x"}, {"is_active": False}])
def test_password_change_or_deactivation_ends_sessions_and_tokens(app, api, world, session, change):
    teacher = world["teacher"]
    browser, thief = app.test_client(), app.test_client()
    _login_page(browser, "teacher", PASSWORD)
    _copy_cookie(browser, thief)
    teacher_api = api.__class__(app, session).as_user(teacher)
    assert _signed_in(browser) and teacher_api.get("/me").status_code == 200
    r = api.as_user(world["principal"]).request("PATCH", f"/users/{teacher.id}", json=change)
    assert r.status_code == 200
    assert not _signed_in(browser) and not _signed_in(thief)
    assert teacher_api.get("/me").status_code == 401
    if "password" in change:
        assert _login_page(app.test_client(), "teacher", "Fresh-pass-2026x").status_code == 302


def test_other_users_sessions_survive_a_password_change(app, api, world):
    other = app.test_client()
    _login_page(other, "subject", PASSWORD)
    api.as_user(world["principal"]).request("PATCH", f"/users/{world['teacher'].id}",
                                            json={"password": "Fresh-pass-2026x"})
    assert _signed_in(other)


def test_a_forged_session_without_the_server_side_id_is_refused(app, world):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = str(world["admin"].id)
        sess["_fresh"] = True
    assert not _signed_in(client)


# --- login throttling --------------------------------------------------------------------------


def test_unknown_username_gets_the_same_answer_and_work_as_a_wrong_password(app, world, monkeypatch):
    checks = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda h, p: checks.append(h) or real(h, p))
    wrong = _token_call(app, "teacher", "not-the-password")
    unknown = _token_call(app, "nobody-at-all", "not-the-password")
    assert (wrong.status_code, wrong.json) == (unknown.status_code, unknown.json) == (
        401, {"error": {"code": "unauthorized", "message": "用户名或密码错误", "details": {}}})
    assert len(checks) == 2  # one hash check each: no timing difference to tell them apart
    assert "用户名或密码错误" in _login_page(app.test_client(), "nobody-at-all", "x" * 12).get_data(as_text=True)


def test_unknown_usernames_are_throttled_like_known_ones(app, world):
    for _ in range(5):
        assert _token_call(app, "nobody-at-all", "wrong-wrong").status_code == 401
    assert _token_call(app, "nobody-at-all", "wrong-wrong").status_code == 429
    for _ in range(5):
        _token_call(app, "teacher", "wrong-wrong")
    assert _token_call(app, "teacher", "wrong-wrong").status_code == 429


def test_an_outsider_cannot_lock_someone_else_out(app, world):
    for _ in range(30):
        _token_call(app, "admin", "guess-guess", address="203.0.113.9")
    assert _token_call(app, "admin", "guess-guess", address="203.0.113.9").status_code == 429
    # the admin, from their own address, signs in at once
    assert _token_call(app, "admin", PASSWORD, address="198.51.100.7").status_code == 201
    assert _login_page(app.test_client(), "admin", PASSWORD, address="198.51.100.7").status_code == 302


def test_the_delay_grows_and_passes(app, world, monkeypatch):
    t0 = clock.now()
    monkeypatch.setattr(clock, "now", lambda: t0)
    for _ in range(5):
        assert _token_call(app, "teacher", "wrong-wrong").status_code == 401
    first = _token_call(app, "teacher", PASSWORD)
    second = _token_call(app, "teacher", PASSWORD)
    assert first.status_code == second.status_code == 429
    assert second.json["error"]["details"]["retry_after"] > first.json["error"]["details"]["retry_after"]
    later = t0 + dt.timedelta(seconds=second.json["error"]["details"]["retry_after"] + 1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert _token_call(app, "teacher", PASSWORD).status_code == 201  # the right password, checked again
    assert _token_call(app, "teacher", "wrong-wrong").status_code == 401  # a success started the count over


def test_per_address_cap_over_all_usernames(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_ADDRESS_MAX_FAILURES", 8)
    for i in range(8):
        assert _token_call(app, f"spray{i}", "wrong-wrong", address="203.0.113.50").status_code == 401
    r = _token_call(app, "teacher", PASSWORD, address="203.0.113.50")
    assert r.status_code == 429 and "分钟后再试" in r.json["error"]["message"]
    assert _token_call(app, "teacher", PASSWORD, address="203.0.113.51").status_code == 201


def test_successful_logins_do_not_use_up_the_address_cap(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_ADDRESS_MAX_FAILURES", 3)
    for _ in range(6):  # a school behind one address: many good logins
        assert _token_call(app, "teacher", PASSWORD).status_code == 201


def test_security_log_lines(app, api, world, caplog):
    caplog.set_level(logging.INFO, logger="baoxue.security")
    _token_call(app, "teacher", "wrong-wrong", address="192.0.2.33")
    _token_call(app, "teacher", PASSWORD, address="192.0.2.33")
    api.as_user(world["principal"]).request("PATCH", f"/users/{world['teacher'].id}",
                                            json={"password": "Fresh-pass-2026x"})
    api.post("/users", json={"username": "newbie", "password": "Fresh-pass-2026x", "name": "新",
                             "roles": [{"role": "team_member", "school_id": world.branch.id}]})
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "baoxue.security"]
    assert ("WARNING", "login failed: username='teacher' address=192.0.2.33 attempts=1") in lines
    assert ("INFO", "login: username='teacher' address=192.0.2.33") in lines
    assert any(level == "INFO" and "password changed: user='teacher'" in m and "principal" in m for level, m in lines)
    assert any(level == "INFO" and "user created: user='newbie'" in m and "team_member" in m for level, m in lines)


@postgres_only
def test_24_simultaneous_wrong_passwords_are_not_all_checked(app, world, session, monkeypatch):
    checked = []
    real = accounts.check_password_hash
    lock = threading.Lock()

    def counting(h, p):
        with lock:
            checked.append(1)
        return real(h, p)

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    session.commit()
    barrier = threading.Barrier(24, timeout=60)
    statuses: list[int] = []

    def guess():
        client = app.test_client()
        barrier.wait()
        r = client.post("/api/v1/tokens", json={"username": "teacher", "password": "wrong-guess"},
                        environ_base={"REMOTE_ADDR": "203.0.113.77"})
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=guess) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(statuses)) == [401, 429]
    assert statuses.count(401) == len(checked) <= 5
    session.expire_all()
    assert session.scalar(select(LoginThrottle.attempts).where(
        LoginThrottle.key == "pair:203.0.113.77|teacher")) == 24  # every attempt counted, none lost


# --- create-admin --------------------------------------------------------------------------------


def test_create_admin_prompts_hidden_and_twice_without_password(app, session):
    result = app.test_cli_runner().invoke(args=["create-admin", "--username", "boss"],
                                          input="Strong-admin-2026\nStrong-admin-2026\n")
    assert result.exit_code == 0, result.output
    assert "Strong-admin-2026" not in result.output
    session.expire_all()
    assert session.scalars(select(User).where(User.username == "boss")).one().check_password("Strong-admin-2026")


@pytest.mark.parametrize("password", ["short", "boss-is-here", "qwertyuiop"])
def test_create_admin_refuses_a_weak_password(app, session, password):
    result = app.test_cli_runner().invoke(args=["create-admin", "--username", "boss", "--password", password])
    assert result.exit_code != 0
    assert session.scalar(select(func.count()).select_from(User)) == 0
