"""The request boundary (admin/boundary.py): a request commits once when it answers 2xx/3xx, and
writes nothing when it raises or answers 400 or more; views under admin/ never commit."""
from __future__ import annotations

import ast
import datetime as dt
import io
import os
from pathlib import Path

import pytest
from flask import abort, has_request_context
from sqlalchemy import event, func, select

from admin.boundary import keep_writes_on_error
from admin.extensions import db
from models import Case, Document, Fee, Village
from tests.conftest import csrf_token_from
from tests.factories import PASSWORD
from workflow import clock
from workflow.cases import evidence
from workflow.errors import Conflict

NOW = dt.datetime(2026, 10, 14, 10, 0, tzinfo=clock.SCHOOL_TZ)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ADMIN = Path(__file__).resolve().parent.parent / "admin"
# The boundary itself, and the CLI, which is its own boundary (one commit per command, per batch
# for the sweep).
MAY_COMMIT = {ADMIN / "boundary.py", ADMIN / "cli.py"}


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))


@pytest.fixture
def commits():
    """The commits made inside requests (the test's own commits are not counted)."""
    made: list[int] = []

    def count(_session):
        if has_request_context():
            made.append(1)

    event.listen(db.session, "after_commit", count)
    yield made
    event.remove(db.session, "after_commit", count)


@pytest.fixture
def case(world, factory, session):
    student = factory.student(world.klass, world.village)
    case = Case(process="absence", state="reported", student_id=student.id, school_id=student.school_id,
                opened_on=NOW.date(), is_open=True, data={})
    session.add(case)
    session.commit()
    return case


def stored_rows(model) -> int:
    """Rows in the database, read on a connection of its own (not the request's session)."""
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model))


def stored_files(app) -> set[str]:
    return {os.path.join(root, f) for root, _, names in os.walk(app.config["UPLOAD_DIR"]) for f in names}


def page_client(app, user):
    """A browser logged in as `user` through the login form, and its CSRF token."""
    client = app.test_client()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    return client, csrf_token_from(client.get("/login").get_data(as_text=True))


# --- real views: one commit on success -----------------------------------------------------------


def test_api_post_that_succeeds_commits_exactly_once(api, world, case, commits):
    resp = api.as_user(world["office"]).post(f"/cases/{case.id}/fees", json={"item": "书本费", "amount_due": "10.00"})
    assert resp.status_code == 201, resp.json
    assert len(commits) == 1
    assert stored_rows(Fee) == 1


def test_page_post_that_succeeds_commits_exactly_once(app, world, case, commits):
    client, token = page_client(app, world["office"])
    commits.clear()
    resp = client.post(f"/cases/{case.id}/fees", data={"csrf_token": token, "item": "书本费", "amount_due": "10.00"})
    assert resp.status_code == 302
    assert len(commits) == 1
    assert stored_rows(Fee) == 1


# --- real views: a service that stored a file and flushed a row, then failed -----------------------


@pytest.fixture
def failing_upload(monkeypatch):
    """add_document stores its file and flushes the row, then the request fails with `error`."""
    real = evidence.add_document

    def install(error: Exception):
        def add_document(*args, **kwargs):
            real(*args, **kwargs)
            raise error

        monkeypatch.setattr(evidence, "add_document", add_document)

    return install


@pytest.mark.parametrize("error,status", [(Conflict("案件已被他人修改"), 409), (RuntimeError("effect failed"), 500)])
def test_api_upload_that_fails_after_writing_leaves_no_row_and_no_file(
        api, app, world, case, commits, failing_upload, monkeypatch, error, status):
    client = api.as_user(world["teacher"])
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # a 500 page, not a raise
    failing_upload(error)
    before = stored_files(app)
    resp = client.post(f"/cases/{case.id}/documents", data={"kind": "other", "file": (io.BytesIO(PDF), "a.pdf")},
                       content_type="multipart/form-data")
    assert resp.status_code == status
    assert commits == []
    assert stored_rows(Document) == 0
    assert stored_files(app) == before


@pytest.mark.parametrize("error,status", [(Conflict("案件已被他人修改"), 302), (RuntimeError("effect failed"), 500)])
def test_page_upload_that_fails_after_writing_leaves_no_row_and_no_file(
        app, world, case, failing_upload, monkeypatch, error, status):
    """A refusal the page flashes (302) writes nothing, like an error page (500)."""
    client, token = page_client(app, world["teacher"])
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    failing_upload(error)
    before = stored_files(app)
    resp = client.post(f"/cases/{case.id}/documents", data={"csrf_token": token, "kind": "other",
                                                            "file": (io.BytesIO(PDF), "a.pdf")},
                       content_type="multipart/form-data")
    assert resp.status_code == status
    assert stored_rows(Document) == 0
    assert stored_files(app) == before


# --- the rule as a table: a view that flushed a write, then answered ------------------------------


def _raise(exc):
    raise exc


def _login_refused_kept():
    keep_writes_on_error()
    return {"error": "no"}, 401


def _login_refused_kept_raised():
    keep_writes_on_error()
    raise Conflict("冲突")


# name: (what the view does after its flushed write, the status answered, is the write kept)
OUTCOMES = {
    "returns 200": (lambda: ({"ok": True}, 200), 200, True),
    "returns 201": (lambda: ({"ok": True}, 201), 201, True),
    "redirects 303": (lambda: ("", 303, {"Location": "/"}), 303, True),
    "returns 422 (a re-rendered form)": (lambda: ({"error": "bad"}, 422), 422, False),
    "raises a DomainError answered 409": (lambda: _raise(Conflict("冲突")), 409, False),
    "aborts 404": (lambda: abort(404), 404, False),
    "raises anything else, 500": (lambda: _raise(RuntimeError("boom")), 500, False),
    "keeps a login failure, returns 401": (_login_refused_kept, 401, True),
    "keeps a login failure, raises": (_login_refused_kept_raised, 409, True),
}


@pytest.mark.parametrize("name", OUTCOMES)
def test_a_request_commits_on_2xx_3xx_and_rolls_back_on_errors(api, app, world, commits, monkeypatch, name):
    answer, status, kept = OUTCOMES[name]
    client = api.as_user(world["admin"])

    def view():
        db.session.add(Village(name="边界村", center_school_id=world.center.id))
        db.session.flush()
        return answer()

    monkeypatch.setitem(app.view_functions, "api.create_village", view)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    before = stored_rows(Village)
    resp = client.post("/villages", json={})
    assert resp.status_code == status
    assert stored_rows(Village) == before + (1 if kept else 0)
    assert len(commits) == (1 if kept else 0)


def test_the_keep_marker_does_not_outlive_its_request(api, app, world, monkeypatch):
    client = api.as_user(world["admin"])
    monkeypatch.setitem(app.view_functions, "api.create_village", _login_refused_kept)
    client.post("/villages", json={})

    def failing_write():
        db.session.add(Village(name="边界村", center_school_id=world.center.id))
        db.session.flush()
        raise Conflict("冲突")

    monkeypatch.setitem(app.view_functions, "api.create_village", failing_write)
    before = stored_rows(Village)
    assert client.post("/villages", json={}).status_code == 409
    assert stored_rows(Village) == before


# --- no hand commits or rollbacks under admin/ ---------------------------------------------------


def commit_uses(source: str) -> list[int]:
    """Lines that call or pass on a `.commit` or a `.rollback` (`db.session.commit()`,
    `commit=db.session.commit`, `db.session.rollback()`)."""
    return sorted(node.lineno for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.Attribute) and node.attr in ("commit", "rollback"))


def test_the_commit_scan_sees_calls_and_callbacks():
    source = ("db.session.commit()\nrun_sweep(s, commit=db.session.commit)\ncommit_batch()\nx.committed = 1\n"
              "db.session.rollback()\ndiscard_writes()\n")
    assert commit_uses(source) == [1, 2, 5]


def test_no_module_under_admin_commits_or_rolls_back_but_the_boundary_and_the_cli():
    offenders = {str(path.relative_to(ADMIN.parent)): lines
                 for path in sorted(ADMIN.rglob("*.py")) if path not in MAY_COMMIT
                 if (lines := commit_uses(path.read_text(encoding="utf-8")))}
    assert offenders == {}
    assert all(commit_uses(path.read_text(encoding="utf-8")) for path in MAY_COMMIT)
