"""Running it for a county (issue 17): /healthz, request ids and logs, the security log, one-line
configuration errors, the instance settings file and page, the sweep record on the oversight page,
demo data refused in production, and backup → restore on the suite's database with either store."""
from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, make_url, select, text

from admin import __version__
from admin.app import create_app
from admin.extensions import db as _db
from admin.observe import JsonFormatter, RequestIdFilter
from admin.settings import ConfigError
from admin.storage import EXTENSION_KEY
from models import Case, Document, School
from models.sweeps import SchoolSweep
from workflow import clock
from workflow.absence.sweep_runs import sweep_status
from workflow.storage import DatabaseStore, LocalStore

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 10, 14, 10, 0, tzinfo=clock.SCHOOL_TZ)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))
    monkeypatch.setattr(clock, "today", lambda: NOW.date())


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "BAOXUE_ENV", "DATABASE_URL", "FLASK_DEBUG")}
    env.update(extra)
    return env


# --- /healthz and logs ------------------------------------------------------------------------


def swept(session, school, day: dt.date) -> None:
    session.merge(SchoolSweep(school_id=school.id, last_date=day, swept_at=NOW))
    session.commit()


def test_healthz_answers_without_login_with_the_last_sweep(client, session, world):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json == {"status": "ok", "database": "ok", "last_sweep": None, "version": __version__}
    swept(session, world.branch, dt.date(2026, 10, 12))
    swept(session, world.center, dt.date(2026, 10, 13))
    assert client.get("/healthz").json["last_sweep"] == "2026-10-13"


def test_healthz_is_503_when_the_database_does_not_answer(client, monkeypatch):
    def broken(*_a, **_k):
        raise OSError("connection refused")

    monkeypatch.setattr(_db.session, "execute", broken)
    resp = client.get("/healthz")
    assert resp.status_code == 503
    assert resp.json["database"] == "unreachable"


def test_a_request_id_is_answered_and_a_safe_incoming_one_is_kept(client):
    assert client.get("/healthz", headers={"X-Request-ID": "lb-42.a"}).headers["X-Request-ID"] == "lb-42.a"
    made = client.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert made != "<script>" and len(made) == 32


def test_json_log_lines_carry_the_request_id_and_the_event_fields():
    record = logging.LogRecord("baoxue.security", logging.INFO, __file__, 1, "export: user=%s", (3,), None)
    record.event, record.user_id = "export", 3
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "export: user=3" and line["event"] == "export" and line["user_id"] == 3
    assert line["request_id"] == "-" and line["logger"] == "baoxue.security"


def test_an_export_is_written_to_the_security_log(api, world, caplog):
    with caplog.at_level(logging.INFO, logger="baoxue.security"):
        resp = api.as_user(world["center_head"]).get(f"/catchment/export?village_id={world.village.id}")
    assert resp.status_code == 200
    events = [r for r in caplog.records if getattr(r, "event", None) == "export"]
    assert events and events[0].user_id == world["center_head"].id


def test_a_full_id_number_shown_is_written_to_the_security_log(api, world, factory, caplog):
    from workflow.org.services import id_card_check_char

    first17 = "43312720160501001"
    student = factory.student(world.klass, world.village, id_card_no=first17 + id_card_check_char(first17))
    with caplog.at_level(logging.INFO, logger="baoxue.security"):
        api.as_user(world["teacher"]).get(f"/students/{student.id}")
        masked = [r for r in caplog.records if getattr(r, "event", None) == "full_id_view"]
        resp = api.as_user(world["principal"]).get(f"/students/{student.id}")
    assert resp.status_code == 200 and resp.json["id_card_no"] == student.id_card_no
    assert masked == []  # the teacher sees the masked number: nothing to log
    seen = [r for r in caplog.records if getattr(r, "event", None) == "full_id_view"]
    assert len(seen) == 1 and seen[0].student_ids == [student.id] and seen[0].user_id == world["principal"].id


# --- configuration ----------------------------------------------------------------------------


def test_production_without_secret_key_is_one_line_naming_baoxue_env(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import wsgi; wsgi.create_app()"], cwd=ROOT,
                            env=_env(BAOXUE_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path}/x.db",
                                     UPLOAD_DIR=str(tmp_path)), capture_output=True, text=True)
    assert result.returncode == 4
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "SECRET_KEY" in result.stderr and "BAOXUE_ENV=production" in result.stderr


def test_a_bad_database_url_is_one_line():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgres//nobody"})
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "mysql+nosuchdriver://x/y"})


def test_cli_help_lists_every_command_without_secret_key(tmp_path):
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "--help"], cwd=ROOT,
                            env=_env(BAOXUE_ENV="production", DATABASE_URL=f"sqlite:///{tmp_path}/x.db",
                                     UPLOAD_DIR=str(tmp_path)), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for command in ("backup", "restore", "sweep", "create-admin", "demo-data", "db"):
        assert f"  {command} " in result.stdout
    assert "Traceback" not in result.stderr


def test_the_instance_file_sets_figures_and_upload_limit(tmp_path):
    path = tmp_path / "baoxue.toml"
    path.write_text('[figures]\nclass_threshold = "0.03"\nloss_amount = "-80"\ncount_suspensions = true\n'
                    "[uploads]\nmax_bytes = 2097152\n", encoding="utf-8")
    app = create_app({"TESTING": True, "SETTINGS_FILE": str(path), "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    from workflow.figures.common import FigureSettings

    figures = FigureSettings.from_mapping(app.config["FIGURES"])
    assert str(figures.class_threshold) == "0.03" and str(figures.loss_amount) == "-80"
    assert figures.count_suspensions is True
    assert app.config["MAX_UPLOAD_BYTES"] == 2097152
    assert app.config["MAX_CONTENT_LENGTH"] == 2097152 + 1024 * 1024


@pytest.mark.parametrize("content, message", [
    ('[figures]\nclass_treshold = "0.03"\n', "class_treshold"),
    ("[figures\n", "BAOXUE_CONFIG"),
    ("[uploads]\nmax_bytes = -1\n", "positive"),
    ("[ledger]\nx = 1\n", "unknown section"),
])
def test_a_mistake_in_the_instance_file_is_refused_by_name(tmp_path, content, message):
    path = tmp_path / "baoxue.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        create_app({"TESTING": True, "SETTINGS_FILE": str(path), "SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_the_settings_page_is_refused_to_a_principal(client, login, world):
    login(world["principal"])
    assert client.get("/settings").status_code == 403


def test_the_settings_page_shows_the_admin_the_values_in_force(client, login, world, app, monkeypatch):
    monkeypatch.setitem(app.config, "FIGURES", {"loss_amount": "-80"})
    login(world["admin"])
    page = client.get("/settings").get_data(as_text=True)
    assert 'data-setting="figures.loss_amount"' in page and "<td>-80</td>" in page
    assert 'data-setting="uploads.max_bytes"' in page and __version__ in page


def test_the_page_footer_shows_the_version(client, login, world):
    login(world["principal"])
    assert f'data-version="{__version__}"' in client.get("/", follow_redirects=True).get_data(as_text=True)


def test_demo_data_refuses_a_production_database_without_force(app, monkeypatch, session):
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code != 0 and "--force" in result.output
    assert session.scalar(select(func.count()).select_from(School)) == 0


# --- the daily sweep's record -----------------------------------------------------------------


def test_oversight_turns_red_when_a_school_day_went_by_without_a_sweep(client, login, world, factory, session):
    factory.term(world.center)
    session.commit()
    login(world["center_head"])
    page = client.get("/oversight").get_data(as_text=True)
    assert 'data-sweep-late="yes"' in page  # never ran

    for school in (world.center, world.branch, world.branch2):
        swept(session, school, dt.date(2026, 10, 13))  # yesterday (Tue)
    page = client.get("/oversight").get_data(as_text=True)
    assert 'data-sweep-late="no"' in page and "2026-10-13" in page

    swept(session, world.branch2, dt.date(2026, 10, 9))  # one school last swept on Friday
    status = sweep_status(session, today=NOW.date(), center_ids=[world.center.id])
    assert status.last_date == dt.date(2026, 10, 9)
    assert status.missed == (dt.date(2026, 10, 12), dt.date(2026, 10, 13))
    assert 'data-sweep-late="yes"' in client.get("/oversight").get_data(as_text=True)
    # another center's schools do not count for this one
    assert not sweep_status(session, today=NOW.date(), center_ids=[world.other_center.id]).last_date


def test_a_sweep_from_the_command_line_shows_on_healthz(app, client, world, factory, session):
    factory.term(world.center)
    session.commit()
    result = app.test_cli_runner().invoke(args=["sweep", "--date", "2026-10-13"])
    assert result.exit_code == 0, result.output
    assert client.get("/healthz").json["last_sweep"] == "2026-10-13"


# --- backup and restore -----------------------------------------------------------------------


@pytest.fixture
def target_url(database_url, tmp_path):
    """An empty database of the suite's kind to restore into, dropped afterwards."""
    if not database_url.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_restore"
    server = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield url.set(database=name).render_as_string(hide_password=False)
    with server.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    server.dispose()


@pytest.mark.parametrize("store_kind", ["local", "database"])
def test_backup_then_restore_into_an_empty_database_finds_the_case_and_its_file(
        app, api, world, factory, session, tmp_path, monkeypatch, target_url, store_kind):
    store = LocalStore(str(tmp_path / "uploads")) if store_kind == "local" else DatabaseStore()
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, store)
    student = factory.student(world.klass, world.village)
    case = Case(process="absence", state="reported", student_id=student.id, school_id=student.school_id,
                opened_on=NOW.date(), is_open=True, data={})
    session.add(case)
    session.commit()
    resp = api.as_user(world["teacher"]).post(f"/cases/{case.id}/documents",
                                              data={"kind": "other", "file": (io.BytesIO(PDF), "证明.pdf")},
                                              content_type="multipart/form-data")
    assert resp.status_code == 201
    # plain values: the suite's session must not be used while the target app is current
    doc_id, case_id, student_id = resp.json["id"], case.id, student.id
    archive = tmp_path / "backup.tar.gz"
    result = app.test_cli_runner().invoke(args=["backup", "-o", str(archive)])
    assert result.exit_code == 0, result.output
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["version"] == __version__ and manifest["file_store"] == store_kind
    assert len(manifest["uploads"]) == (1 if store_kind == "local" else 0)

    restored_dir = tmp_path / "restored_uploads"
    target = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": target_url, "UPLOAD_DIR": str(restored_dir),
                         "FILE_STORE": store_kind})
    with target.app_context():
        try:
            result = target.test_cli_runner().invoke(args=["restore", str(archive)])
            assert result.exit_code == 0, result.output
            restored = _db.session.get(Case, case_id)
            assert restored is not None and restored.student_id == student_id
            doc = _db.session.get(Document, doc_id)
            target_store = target.extensions[EXTENSION_KEY]
            with target_store.open(_db.session, doc.stored_name) as fh:
                assert fh.read() == PDF
            # a second restore over the now full database needs --replace
            again = target.test_cli_runner().invoke(args=["restore", str(archive)])
            assert again.exit_code != 0 and "--replace" in again.output
        finally:
            # the target database itself is dropped by the fixture (PostgreSQL) or is a temp file
            _db.session.remove()
            _db.engine.dispose()


def test_a_damaged_archive_is_refused_before_anything_is_written(app, world, session, tmp_path):
    archive = tmp_path / "backup.tar.gz"
    assert app.test_cli_runner().invoke(args=["backup", "-o", str(archive)]).exit_code == 0
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(damaged, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.startswith("database"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    result = app.test_cli_runner().invoke(args=["restore", "--replace", str(damaged)])
    assert result.exit_code != 0 and "校验失败" in result.output
    assert session.scalar(select(func.count()).select_from(School)) > 0


def test_the_settings_example_in_deploy_is_valid_and_holds_the_defaults():
    from workflow.figures.common import FigureSettings

    app = create_app({"TESTING": True, "SETTINGS_FILE": str(ROOT / "deploy/baoxue.toml.example"),
                      "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert FigureSettings.from_mapping(app.config["FIGURES"]) == FigureSettings()
    assert set(app.config["FIGURES"]) == set(vars(FigureSettings()))  # every key documented
    assert app.config["MAX_UPLOAD_BYTES"] == 10 * 1024 * 1024


def test_the_app_starts_without_importing_faker(tmp_path):
    code = ("import sys, wsgi; wsgi.create_app(); "
            "assert not any(m == 'faker' or m.startswith('workflow.demo.') for m in sys.modules), 'demo loaded'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env=_env(BAOXUE_ENV="production", SECRET_KEY="x", UPLOAD_DIR=str(tmp_path),
                                     DATABASE_URL=f"sqlite:///{tmp_path}/x.db"))
    assert result.returncode == 0, result.stderr


def test_proxy_hops_trust_the_forwarded_client_address_and_scheme():
    from flask import request

    app = create_app({"TESTING": True, "PROXY_HOPS": 1, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    seen = {}

    @app.get("/_probe")
    def _probe():
        seen.update(addr=request.remote_addr, scheme=request.scheme)
        return "ok"

    app.test_client().get("/_probe", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert seen == {"addr": "203.0.113.7", "scheme": "https"}
    plain = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert plain.config["PROXY_HOPS"] == 0 and plain.wsgi_app.__class__.__name__ != "ProxyFix"


def test_pool_size_and_pre_ping_come_from_configuration():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://u@db.invalid/x",
                      "DB_POOL_SIZE": 3, "DB_MAX_OVERFLOW": 2,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": False}})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {"pool_pre_ping": False, "pool_size": 3, "max_overflow": 2,
                                                       "pool_recycle": 1800}
    with app.app_context():
        assert _db.engine.pool.size() == 3 and _db.engine.pool._pre_ping is False


def test_the_demo_seed_default_of_the_command_is_the_generators():
    from admin.cli import DEFAULT_DEMO_SEED
    from workflow.demo.township import DEFAULT_SEED

    assert DEFAULT_DEMO_SEED == DEFAULT_SEED
