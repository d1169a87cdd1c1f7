"""Running the service (issue 17): the file store, logs and /healthz, the settings page, version.

`init_ops` is called once by the app factory. The pieces live in admin/storage.py,
admin/observe.py, admin/settings.py and admin/ops_cli.py (backup, restore).
"""
from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, render_template
from flask_login import login_required

from workflow.access import permissions

from . import __version__
from .observe import init_observe
from .security import current_scope
from .settings import settings_in_force
from .storage import init_store

bp = Blueprint("ops", __name__)


def init_ops(app: Flask) -> None:
    """Store, observability, the settings page and the version in every template."""
    init_store(app)
    init_observe(app)
    app.register_blueprint(bp)

    @app.context_processor
    def _version():
        return {"app_version": __version__}

    if not app.config.get("SECRET_KEY"):
        # Only the command line starts without a key (admin/settings.py:check_config); pages
        # would need it for sessions, so `flask run` answers this instead of a traceback.
        @app.before_request
        def _no_secret_key():
            return ("SECRET_KEY is not set: export SECRET_KEY=... (or BAOXUE_ENV=development)\n",
                    503, {"Content-Type": "text/plain; charset=utf-8"})


@bp.route("/settings")
@login_required
def settings_page():
    """The instance settings in force (thresholds, ledger amounts, upload limit, store): admin only."""
    if not permissions.may_view_instance_settings(current_scope()):
        abort(403)
    return render_template("settings/index.html", rows=settings_in_force(current_app),
                           settings_file=current_app.config.get("SETTINGS_FILE_IN_USE"),
                           version=__version__)
