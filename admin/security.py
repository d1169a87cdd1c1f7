"""The current user's scope, resolved once per request."""
from __future__ import annotations

from flask import g
from flask_login import current_user

from workflow.access.scope import Scope, scope_for

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
    """The acting user's scope, computed once per request (keyed by user, so a login or a
    token switch within one context never reuses another user's scope)."""
    actor = current_actor()
    key = actor.id if actor is not None else None
    cached = g.get("scope")
    if cached is None or cached.user_id != key:
        g.scope = scope_for(db.session, actor)
    return g.scope
