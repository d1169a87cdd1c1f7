"""The current user's scope, resolved once per request."""
from __future__ import annotations

from flask import g
from flask_login import current_user

from workflow.scope import Scope, scope_for

from .extensions import db


def current_actor():
    """The user acting in this request: the API's token user, else the session user."""
    user = g.get("api_user")
    if user is not None:
        return user
    if current_user and current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def current_scope() -> Scope:
    if "scope" not in g:
        g.scope = scope_for(db.session, current_actor())
    return g.scope
