"""Start-up configuration checks and the county's instance settings file (TOML).

`load_instance_settings` reads `SETTINGS_FILE` (env `BAOXUE_CONFIG`, default `instance/baoxue.toml`;
a missing default file is fine, a missing named file is an error) and puts its values into the
app config:

```toml
[figures]            # workflow/figures/common.py:FigureSettings field names
class_threshold = "0.02"
loss_amount = "-50"
recovery_amount = "50"
count_suspensions = false

[uploads]
max_bytes = 10485760
```

`check_config` turns every mistake a county's IT person can make at start into one line
(`ConfigError`), never a traceback: no SECRET_KEY, a DATABASE_URL SQLAlchemy cannot parse or whose
driver is missing, an unknown figures setting, an unknown file store.
"""
from __future__ import annotations

import os
import tomllib

from flask import Flask
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from workflow.figures.common import FigureSettings

UPLOAD_KEYS = {"max_bytes": "MAX_UPLOAD_BYTES"}
SECTIONS = ("figures", "uploads")
DEFAULT_FILE_NAME = "baoxue.toml"


class ConfigError(Exception):
    """A configuration mistake, said in one line (wsgi.py prints it and exits; no traceback)."""


def load_instance_settings(app: Flask) -> None:
    """Merge the instance TOML file into app.config (FIGURES, MAX_UPLOAD_BYTES). Raises ConfigError."""
    path = app.config.get("SETTINGS_FILE") or ""
    app.config["SETTINGS_FILE_IN_USE"] = None
    if not path:
        return
    if not os.path.exists(path):
        if os.path.basename(path) == DEFAULT_FILE_NAME and "BAOXUE_CONFIG" not in os.environ:
            return
        raise ConfigError(f"BAOXUE_CONFIG={path}: file not found")
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"BAOXUE_CONFIG={path}: {exc}") from None
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"BAOXUE_CONFIG={path}: unknown section [{unknown[0]}] (known: {', '.join(SECTIONS)})")
    figures = data.get("figures", {})
    try:
        FigureSettings.from_mapping(figures)
    except (ValueError, ArithmeticError) as exc:
        raise ConfigError(f"BAOXUE_CONFIG={path}: [figures] {exc}") from None
    if figures:
        app.config["FIGURES"] = {**(app.config.get("FIGURES") or {}), **figures}
    for key, value in data.get("uploads", {}).items():
        if key not in UPLOAD_KEYS:
            raise ConfigError(f"BAOXUE_CONFIG={path}: unknown setting [uploads] {key}")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"BAOXUE_CONFIG={path}: [uploads] {key} must be a positive integer")
        app.config[UPLOAD_KEYS[key]] = value
    # Flask refuses bodies above this before any view runs; leave room for multipart overhead.
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_BYTES"]) + 1024 * 1024
    app.config["SETTINGS_FILE_IN_USE"] = path


def check_config(app: Flask, *, cli: bool) -> None:
    """Refuse a configuration that cannot work, in one line. Raises ConfigError.

    Under the `flask` command line a missing SECRET_KEY is allowed (no command signs anything),
    so `flask --help` lists every command; serving pages without it is refused.
    """
    if not app.config.get("SECRET_KEY") and not cli:
        raise ConfigError(
            f"SECRET_KEY is not set (BAOXUE_ENV={app.config.get('ENV_NAME', 'production')}): "
            "export SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))'), "
            "or BAOXUE_ENV=development for a local trial"
        )
    url = app.config.get("SQLALCHEMY_DATABASE_URI") or ""
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError(
            f"DATABASE_URL is not a usable database URL ({exc}); "
            "expected e.g. postgresql+psycopg://user@host:5432/baoxue or sqlite:////srv/baoxue/baoxue.db"
        ) from None
    if app.config.get("FILE_STORE") not in ("local", "database"):
        raise ConfigError(f"FILE_STORE={app.config.get('FILE_STORE')!r}: must be local or database")


def engine_options(app: Flask) -> None:
    """Pool size and overflow from DB_POOL_SIZE / DB_MAX_OVERFLOW (PostgreSQL only: SQLite's
    pools take no such arguments)."""
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if str(app.config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        if app.config.get("DB_POOL_SIZE") is not None:
            options["pool_size"] = app.config["DB_POOL_SIZE"]
        if app.config.get("DB_MAX_OVERFLOW") is not None:
            options["max_overflow"] = app.config["DB_MAX_OVERFLOW"]
        if app.config.get("DB_POOL_RECYCLE"):
            options.setdefault("pool_recycle", app.config["DB_POOL_RECYCLE"])
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def settings_in_force(app: Flask) -> list[tuple[str, str, str]]:
    """(section, name, value) of every instance setting the app runs with (the settings page)."""
    rows = [("figures", name, str(value))
            for name, value in vars(FigureSettings.from_mapping(app.config.get("FIGURES"))).items()]
    rows.append(("uploads", "max_bytes", str(app.config["MAX_UPLOAD_BYTES"])))
    rows.append(("storage", "file_store", str(app.config["FILE_STORE"])))
    rows.append(("database", "pool_size", str(app.config.get("DB_POOL_SIZE") or "default")))
    rows.append(("database", "pool_pre_ping",
                 str(bool(app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_pre_ping"))).lower()))
    rows.append(("proxy", "proxy_hops", str(app.config.get("PROXY_HOPS", 0))))
    return rows
