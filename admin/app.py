"""The application factory."""
from __future__ import annotations

import os

import click
from flask import Flask, has_request_context, redirect, request, session, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.middleware.proxy_fix import ProxyFix

import models
from config import CONFIGS, INSTANCE_DIR
from workflow.access.accounts import session_user

from .adminviews import init_admin
from .api import bp as api_bp
from .api.util import DbIntConverter
from .boundary import BoundaryFlask
from .cli import register_cli
from .errors import init_errors
from .extensions import babel, csrf, db, login_manager, migrate
from .headers import init_headers
from .labels import init_labels, role_label
from .ops import init_ops
from .settings import check_config, engine_options, load_instance_settings
from .views import register_views
from .views.auth import SESSION_ID_KEY


def _load_config(app: Flask, config) -> None:
    name = os.environ.get("BAOXUE_ENV") or ("development" if os.environ.get("FLASK_DEBUG") == "1" else "production")
    base = CONFIGS[name]
    overrides: dict = {}
    if isinstance(config, str):
        base = CONFIGS[config]
    elif isinstance(config, dict):
        base = CONFIGS[config.get("ENV_NAME", "testing" if config.get("TESTING") else name)]
        overrides = config
    elif config is not None:
        base = config
    app.config.from_object(base)
    app.config.update(overrides)
    # One-line errors for a county's IT person (admin/settings.py; wsgi.py prints them, no traceback).
    load_instance_settings(app)
    check_config(app, cli=click.get_current_context(silent=True) is not None)
    engine_options(app)


def select_locale() -> str:
    """zh_CN unless the user chose English (pages) or asked for it (API Accept-Language)."""
    if not has_request_context():
        return "zh_CN"
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in ("zh_CN", "en"):
        return chosen
    if request.path.startswith("/api/"):
        first = (request.headers.get("Accept-Language") or "").split(",")[0].strip().lower()
        if first.startswith("en"):
            return "en"
    return "zh_CN"


def create_app(config=None) -> Flask:
    """Build the app. `config` is a config name, a config class, or a dict of overrides
    (a dict with TESTING=True starts from the testing config). Every view runs inside the request
    boundary (admin/boundary.py): it commits once, or rolls back on an error."""
    app = BoundaryFlask(__name__, instance_path=str(INSTANCE_DIR))
    app.url_map.converters["int"] = DbIntConverter  # an id beyond the database's range is a 404
    _load_config(app, config)
    os.makedirs(app.instance_path, exist_ok=True)
    os.makedirs(app.config["UPLOAD_DIR"], exist_ok=True)
    models.PASSWORD_METHOD["method"] = app.config["PASSWORD_HASH_METHOD"]

    if app.config.get("PROXY_HOPS"):
        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=os.path.join(os.path.dirname(__file__), "translations"),
    )
    init_labels(app)  # workflow's marked labels and messages (Msg) in the user's language
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("请先登录。")
    login_manager.login_message_category = "warning"

    @login_manager.user_loader
    def load_user(user_id: str):
        """The signed-in user only while their server-side session is open: logout, a password
        change or a deactivation deletes it, so a copied cookie stops working at once."""
        try:
            uid = int(user_id)
        except (TypeError, ValueError):
            return None
        return session_user(db.session, uid, session.get(SESSION_ID_KEY))

    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)
    register_views(app)
    init_admin(app)
    init_headers(app)  # security headers on every response
    init_errors(app)  # error pages for every status (issue 12)
    register_cli(app)
    init_ops(app)  # file store, logging and /healthz, backup/restore commands, the settings page (issue 17)

    # browsers and Flask-Admin's pages ask for /favicon.ico whatever the page links; without it
    # every first page logs a 404 in the console
    app.add_url_rule("/favicon.ico", "favicon",
                     lambda: redirect(url_for("static", filename="favicon.svg"), code=301))

    @app.context_processor
    def inject_globals():
        return {"languages": app.config["LANGUAGES"], "current_locale": str(get_locale()),
                "role_label": role_label}

    return app
