"""Entry point: `flask --app wsgi ...` and `gunicorn 'wsgi:create_app()'`."""
from admin.app import create_app

__all__ = ["create_app"]
