"""Error pages in Chinese (English when chosen) for every status a page can answer, JSON under
/api/ (issue 12): CSRF failure, 400, 405, 413, 429, 500."""
from __future__ import annotations

import pytest
from flask import abort

from tests.ui.pages_support import text_of


@pytest.fixture(scope="module")
def failing_client(database_url, tmp_path_factory):
    """A client of an app of its own with routes that fail on purpose (routes cannot be added
    to the session's app once it has served a request); the requests are anonymous."""
    from admin.app import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                      "UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads-errors"))})

    def boom():
        raise RuntimeError("boom")

    app.add_url_rule("/_test/boom", "_test_boom", boom)
    app.add_url_rule("/_test/limited", "_test_limited", lambda: abort(429))
    app.add_url_rule("/_test/bad", "_test_bad", lambda: abort(400))
    app.add_url_rule("/api/v1/_test/boom", "_test_api_boom", boom)
    return app.test_client()


def test_csrf_failure_is_a_chinese_page_and_saves_nothing(world, login, app):
    client = login(world["teacher"])
    resp = client.post("/logout", data={"csrf_token": "stale"})
    assert resp.status_code == 400
    text = text_of(resp.get_data(as_text=True))
    assert "页面已过期" in text and "请返回上一页，刷新后重新填写提交" in text
    assert "Bad Request" not in text
    assert client.get("/queue").status_code == 200  # still logged in: the logout did not happen


def test_405_and_400_pages_in_chinese(world, login, failing_client):
    resp = login(world["teacher"]).get("/logout")
    assert resp.status_code == 405
    assert "不能这样打开这个地址" in resp.get_data(as_text=True)
    resp = failing_client.get("/_test/bad")
    assert resp.status_code == 400 and "请求有误" in resp.get_data(as_text=True)


def test_429_page(failing_client):
    resp = failing_client.get("/_test/limited")
    assert resp.status_code == 429 and "操作过于频繁" in resp.get_data(as_text=True)


def test_413_page_names_the_limit(world, login, app):
    client = login(world["teacher"])
    limit = app.config["MAX_CONTENT_LENGTH"]
    resp = client.post("/logout", data=b"x" * (limit + 1), content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 413
    html = resp.get_data(as_text=True)
    assert "上传的文件过大" in html and f"{app.config['MAX_UPLOAD_BYTES'] // (1024 * 1024)} MB" in html


def test_500_page_in_chinese_without_the_error_text(failing_client):
    failing_client.application.config["PROPAGATE_EXCEPTIONS"] = False
    resp = failing_client.get("/_test/boom")
    assert resp.status_code == 500
    html = resp.get_data(as_text=True)
    assert "系统出错" in html and "本次操作没有保存" in html and "boom" not in html
    resp = failing_client.get("/api/v1/_test/boom")
    assert resp.status_code == 500 and resp.get_json()["error"]["code"] == "error"


def test_error_page_in_english_when_chosen(world, login):
    client = login(world["teacher"])
    client.get("/lang/en")
    resp = client.get("/logout")
    assert resp.status_code == 405
    html = resp.get_data(as_text=True)
    assert "不能这样打开这个地址" not in html and "This address cannot be opened this way" in html


def test_api_keeps_json_errors(api, world):
    resp = api.as_user(world["teacher"]).request("PATCH", "/api/v1/cases")
    assert resp.status_code == 405
    assert resp.get_json()["error"]["code"] == "method_not_allowed"
