"""Entry point: `flask --app wsgi ...` and `gunicorn 'wsgi:create_app()'`.

A configuration mistake (no SECRET_KEY, a bad DATABASE_URL, a broken instance settings file)
is printed as one line and the process exits with status 4, which gunicorn's arbiter treats as
"app failed to load" (it stops instead of restarting workers forever); no traceback.
"""
import sys

from admin.app import create_app as _create_app
from admin.settings import ConfigError

__all__ = ["create_app"]


def create_app(config=None):
    """The app, or one line on stderr and exit status 4 when the configuration cannot work."""
    try:
        return _create_app(config)
    except ConfigError as exc:
        print(f"baoxue: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(4) from None
