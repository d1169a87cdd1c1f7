"""POST /tokens: password → bearer token."""
from flask import current_app, jsonify

from workflow import clock
from workflow.access.accounts import AuthFailed, Throttled, authenticate, issue_token
from workflow.validation import Field

from ..boundary import keep_writes_on_error
from ..extensions import db
from . import bp
from .openapi import obj, op, string
from .util import json_body, validate


@bp.post("/tokens")
def create_token():
    """Exchange username and password for a bearer token (stored hashed, expiring)."""
    body = validate(json_body(), {"username": Field(str), "password": Field(str)})
    cfg = current_app.config
    try:
        user = authenticate(db.session, body["username"], body["password"],
                            max_failures=cfg["LOGIN_MAX_FAILURES"], lock_minutes=cfg["LOGIN_LOCK_MINUTES"])
    except (AuthFailed, Throttled):
        keep_writes_on_error()  # the failure count must outlive the 401/429: throttling counts it
        raise
    plain, row = issue_token(db.session, user, cfg["TOKEN_TTL_HOURS"])
    return jsonify({"token": plain, "expires_at": clock.local_iso(row.expires_at)}), 201


OPENAPI_PATHS = {
    "/api/v1/tokens": {
        "post": op(
            "用用户名和密码换取访问令牌", ok=201, public=True, tag="auth", errors=(400, 401, 422, 429),
            body=obj({"username": string(), "password": string()}, ["username", "password"]),
            response=obj({"token": string(), "expires_at": string("date-time")}),
            description="令牌只以哈希形式保存并会过期；用户名或密码错误、账号停用返回 401，连续失败过多返回 429。",
        ),
    },
}
