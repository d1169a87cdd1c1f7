"""Login, logout and the login requirement of pages, as a user meets them."""
from __future__ import annotations

import pytest

from models import User
from tests.conftest import csrf_token_from
from tests.factories import PASSWORD


def _token(client, url="/login") -> str:
    return csrf_token_from(client.get(url).get_data(as_text=True))


def _post_login(client, username, password, url="/login"):
    return client.post(url, data={"username": username, "password": password, "csrf_token": _token(client)})


def _logged_in(client) -> bool:
    resp = client.get("/home/summary")
    return resp.status_code == 200


@pytest.mark.parametrize("show", [True, False])
def test_login_page_is_chinese_and_lists_demo_accounts_only_when_configured(show, client, app, monkeypatch):
    monkeypatch.setitem(app.config, "SHOW_DEMO_ACCOUNTS", show)
    html = client.get("/login").get_data(as_text=True)
    for text in ("登录保学系统", "用户名", "密码", "登录"):
        assert text in html
    assert ("演示账号" in html) is show
    assert ("center_office" in html) is show


def test_login_with_the_right_password_opens_the_home_page(world, client):
    resp = _post_login(client, "teacher", PASSWORD)
    assert resp.status_code == 302 and resp.headers["Location"] == "/"
    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "我的待办" in html and world["teacher"].name in html


def test_wrong_password_flashes_a_chinese_error(world, client):
    resp = _post_login(client, "teacher", "wrong-password")
    assert resp.status_code == 200
    assert "用户名或密码错误" in resp.get_data(as_text=True)
    assert not _logged_in(client)


def test_unknown_user_gets_the_same_message_as_a_wrong_password(world, client):
    html = _post_login(client, "nobody-here", "whatever").get_data(as_text=True)
    assert "用户名或密码错误" in html


def test_repeated_failures_are_throttled_even_for_the_right_password(world, client, api, session):
    for _ in range(5):
        _post_login(client, "teacher", "wrong-password")
    resp = _post_login(client, "teacher", PASSWORD)
    assert resp.status_code == 429
    assert "登录尝试过于频繁" in resp.get_data(as_text=True) and "秒后再试" in resp.get_data(as_text=True)
    assert int(resp.headers["Retry-After"]) > 0
    assert not _logged_in(client)
    # the API shares the same count for the same (username, address) pair
    r = api.anonymous().post("/tokens", json={"username": "teacher", "password": PASSWORD})
    assert r.status_code == 429
    assert r.json["error"]["code"] == "throttled"


def test_four_failures_do_not_lock_the_account(world, client):
    for _ in range(4):
        _post_login(client, "teacher", "wrong-password")
    assert _post_login(client, "teacher", PASSWORD).status_code == 302
    assert _logged_in(client)


def test_inactive_user_is_refused(factory, session, client):
    factory.user("retired", "principal", active=False)
    session.commit()
    resp = _post_login(client, "retired", PASSWORD)
    assert resp.status_code == 200
    assert "该账号已停用" in resp.get_data(as_text=True)
    assert not _logged_in(client)


def test_deactivated_user_loses_an_open_session(world, login, session):
    client = login(world["teacher"])
    assert _logged_in(client)
    session.get(User, world["teacher"].id).is_active = False
    session.commit()
    resp = client.get("/admin/student/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_login_without_csrf_token_is_rejected(world, client):
    client.get("/login")
    resp = client.post("/login", data={"username": "teacher", "password": PASSWORD})
    assert resp.status_code == 400
    assert not _logged_in(client)


def test_logout_needs_a_post_with_csrf_token(world, login):
    client = login(world["teacher"])
    assert client.get("/logout").status_code == 405
    assert _logged_in(client)
    assert client.post("/logout").status_code == 400
    assert _logged_in(client)
    resp = client.post("/logout", data={"csrf_token": _token(client, "/home/summary")})
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert not _logged_in(client)


@pytest.mark.parametrize("target", ["http://evil.example/", "//evil.example/", "/\\evil.example/",
                                    "https:evil.example", "javascript:alert(1)"])
def test_next_pointing_to_another_site_is_ignored(target, world, client):
    resp = client.post("/login", query_string={"next": target},
                       data={"username": "teacher", "password": PASSWORD, "csrf_token": _token(client)})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"


def test_next_within_the_site_is_followed(world, client):
    resp = client.post("/login", query_string={"next": "/admin/student/?page_size=20"},
                       data={"username": "teacher", "password": PASSWORD, "csrf_token": _token(client)})
    assert resp.headers["Location"] == "/admin/student/?page_size=20"


@pytest.mark.parametrize("path", ["/", "/admin/", "/admin/student/", "/admin/user/details/?id=1"])
def test_pages_need_login(path, client):
    resp = client.get(path)
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/login")


def test_login_redirect_brings_the_user_back(world, client):
    location = client.get("/admin/student/").headers["Location"]
    resp = _post_login(client, "teacher", PASSWORD, url=location)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/admin/student/")
