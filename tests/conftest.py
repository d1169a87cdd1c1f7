"""Fixtures: one app per session on a real database (SQLite file, or PostgreSQL when
TEST_DATABASE_URL is set), every table emptied after each test, API and login helpers."""
from __future__ import annotations

import os

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import event, text

from admin.app import create_app
from admin.extensions import db as _db
from models import Base
from tests.factories import PASSWORD, Factory, build_world
from workflow.access.accounts import issue_token


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


class FreshGlobalsClient(FlaskClient):
    """A test client whose every request gets a fresh `flask.g`.

    The autouse fixture keeps an app context open for the whole test, and Flask reuses an open
    context for requests: without this, `g.scope` or Flask-Login's cached user of one request
    would leak into the next, as it never does in production."""

    def open(self, *args, **kwargs):
        ctx = _cv_app.get(None)
        if ctx is None:
            return super().open(*args, **kwargs)
        saved = ctx.g
        ctx.g = ctx.app.app_ctx_globals_class()
        try:
            return super().open(*args, **kwargs)
        finally:
            ctx.g = saved


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "UPLOAD_DIR": str(tmp_path_factory.mktemp("uploads")),
    })
    app.test_client_class = FreshGlobalsClient
    with app.app_context():
        Base.metadata.drop_all(_db.engine)
        _drop_alembic_version()
        Base.metadata.create_all(_db.engine)
    yield app
    with app.app_context():
        _db.session.remove()
        Base.metadata.drop_all(_db.engine)


def _drop_alembic_version():
    with _db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def _empty_all_tables():
    _db.session.rollback()
    _db.session.remove()
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with _db.engine.begin() as conn:
        if _db.engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))


@pytest.fixture(autouse=True)
def _ctx(app):
    """Each test runs inside an app context and leaves every table empty behind it."""
    with app.app_context():
        yield
        _empty_all_tables()


@pytest.fixture(scope="module")
def module_session(app):
    """The session of a module whose tests all read one data set built once by a module-scoped
    fixture (the demo township): one app context for the whole module, every table emptied at
    its end. Such a module overrides `_ctx` with one that uses `read_only`, so that its tables
    are not emptied after each test."""
    with app.app_context():
        yield _db.session
        _empty_all_tables()


@pytest.fixture
def read_only(module_session):
    """Each test of such a module: one that writes (flushes a change) fails, since the module's
    other tests read the same rows; whatever it left in the session is rolled back after it."""
    current = module_session()

    def refuse(*_args):
        raise AssertionError("this module's data is built once and shared: its tests may only read")

    event.listen(current, "before_flush", refuse)
    yield
    event.remove(current, "before_flush", refuse)
    module_session.rollback()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def session(app):
    return _db.session


@pytest.fixture
def factory(session):
    return Factory(session)


@pytest.fixture
def world(factory, session):
    w = build_world(factory)
    session.commit()
    return w


class ApiClient:
    """Calls the JSON API as a user. Commits the test's session first so the request sees it."""

    def __init__(self, app, session):
        self.client = app.test_client()
        self.session = session
        self.token: str | None = None

    def as_user(self, user) -> ApiClient:
        self.session.commit()
        plain, _ = issue_token(self.session, user)
        self.session.commit()
        self.token = plain
        return self

    def anonymous(self) -> ApiClient:
        self.token = None
        return self

    def _headers(self, extra=None):
        h = {"Accept-Language": "zh-CN"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(extra or {})
        return h

    def request(self, method, path, json=None, headers=None, **kw):
        self.session.commit()
        url = path if path.startswith("/api/") else "/api/v1" + path
        resp = self.client.open(url, method=method, json=json, headers=self._headers(headers), **kw)
        self.session.expire_all()
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, json=None, **kw):
        return self.request("POST", path, json=json, **kw)

    def put(self, path, json=None, **kw):
        return self.request("PUT", path, json=json, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def api(app, session):
    return ApiClient(app, session)


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_token_from(html: str) -> str:
    import re

    m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


@pytest.fixture
def login(client, session):
    """login(user) logs the test client in through the real login form (CSRF included)."""

    def _login(user, password: str = PASSWORD):
        session.commit()
        page = client.get("/login")
        token = csrf_token_from(page.get_data(as_text=True))
        resp = client.post("/login", data={"username": user.username, "password": password,
                                           "csrf_token": token})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return client

    return _login


# --- CI guard: the browser tests must really run where CI asks for them ----------------------
_browser_passed = {"n": 0}


def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed and "browser" in report.keywords:
        _browser_passed["n"] += 1


def pytest_sessionfinish(session, exitstatus):
    """With REQUIRE_BROWSER_TESTS=1 (set by .ci/run) a run in which no browser test passed fails:
    a skipped Chromium must not pass for a green build."""
    if os.environ.get("REQUIRE_BROWSER_TESTS") == "1" and _browser_passed["n"] == 0 and exitstatus == 0:
        session.exitstatus = 1
        print("\nREQUIRE_BROWSER_TESTS=1 but no browser test passed")
