"""Configuration classes. Values come from the environment; no logic beyond defaults.

The county's own figures (thresholds, ledger amounts, dropout-rate definition, upload limits) come
from an instance TOML file, `BAOXUE_CONFIG` (default `instance/baoxue.toml`), read by
admin/settings.py at start (docs/setup.md, "Instance settings")."""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def _int_or_none(name: str):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") and value.strip().lstrip("-").isdigit() else None


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get(
        "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'baoxue.db'}"
    )
    # pool_pre_ping costs a round trip on every checkout, i.e. every request (issue 16); off by
    # default, with connections recycled before a server or proxy idle timeout would cut them
    # (DB_POOL_RECYCLE seconds, PostgreSQL; admin/settings.py). DB_POOL_PRE_PING=1 turns it on.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": os.environ.get("DB_POOL_PRE_PING", "0") == "1"}
    DB_POOL_RECYCLE = _int_or_none("DB_POOL_RECYCLE") or 1800
    # Connections per gunicorn worker (workers x (size + overflow) must stay under PostgreSQL's
    # max_connections across every app host); unset keeps SQLAlchemy's defaults (5 + 10).
    DB_POOL_SIZE = _int_or_none("DB_POOL_SIZE")
    DB_MAX_OVERFLOW = _int_or_none("DB_MAX_OVERFLOW")
    # How many proxies (nginx, a load balancer) set X-Forwarded-For/-Proto/-Host in front of the
    # app; 0 trusts none of these headers (werkzeug ProxyFix).
    PROXY_HOPS = _int_or_none("BAOXUE_PROXY_HOPS") or 0
    # Where uploaded documents live: "local" (UPLOAD_DIR) or "database" (chunked rows in the
    # database every app host already shares; workflow/storage.py).
    FILE_STORE = os.environ.get("FILE_STORE", "local")
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(INSTANCE_DIR / "uploads"))
    SETTINGS_FILE = os.environ.get("BAOXUE_CONFIG", str(INSTANCE_DIR / "baoxue.toml"))
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")  # json | text
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    ACCESS_LOG = os.environ.get("ACCESS_LOG", "1") == "1"
    ENV_NAME = "production"
    MAX_UPLOAD_BYTES = int(os.environ.get("MAX_UPLOAD_BYTES", 10 * 1024 * 1024))
    # Flask rejects bodies above this before any view runs; leave room for multipart overhead.
    MAX_CONTENT_LENGTH = MAX_UPLOAD_BYTES + 1024 * 1024
    BABEL_DEFAULT_LOCALE = "zh_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    LANGUAGES = {"zh_CN": "简体中文", "en": "English"}
    SCHOOL_TIMEZONE = os.environ.get("SCHOOL_TIMEZONE", "Asia/Shanghai")
    TOKEN_TTL_HOURS = int(os.environ.get("TOKEN_TTL_HOURS", 12))
    # Login throttling (workflow/access/accounts.py ThrottlePolicy, docs/security.md): per
    # (username, address) pair a few free tries, then a doubling delay; per address a cap.
    LOGIN_FREE_ATTEMPTS = 5
    LOGIN_DELAY_BASE_SECONDS = 2
    LOGIN_DELAY_MAX_SECONDS = 900
    LOGIN_PAIR_WINDOW_SECONDS = 86400
    LOGIN_ADDRESS_MAX_FAILURES = int(os.environ.get("LOGIN_ADDRESS_MAX_FAILURES", 100))
    LOGIN_ADDRESS_WINDOW_SECONDS = 3600
    # A browser session held server-side ends after this many hours (or at logout).
    LOGIN_SESSION_HOURS = 168
    PASSWORD_HASH_METHOD = "scrypt"
    WTF_CSRF_TIME_LIMIT = None
    FLASK_ADMIN_SWATCH = "cerulean"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    DEBUG = False
    TESTING = False
    SHOW_DEMO_ACCOUNTS = False


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    DEBUG = True
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    SHOW_DEMO_ACCOUNTS = True


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    LOG_FORMAT = "text"
    ACCESS_LOG = False
    FILE_STORE = os.environ.get("TEST_FILE_STORE", "local")
    SETTINGS_FILE = os.environ.get("TEST_BAOXUE_CONFIG", "")
    SECRET_KEY = "test-secret"
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite://")
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    WTF_CSRF_ENABLED = True
    SHOW_DEMO_ACCOUNTS = True


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "1") == "1"


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
