"""POST /tokens: password → bearer token; DELETE /tokens/current: revoke the calling token."""
from flask import current_app, jsonify, request

from workflow import clock
from workflow.access.accounts import (
    AuthFailed,
    Throttled,
    ThrottlePolicy,
    authenticate,
    issue_token,
    revoke_token,
)
from workflow.validation import Field

from ..boundary import keep_writes_on_error
from ..extensions import db
from ..labels import error_text
from . import bp
from .openapi import obj, op, string
from .util import error_response, json_body, validate


@bp.post("/tokens")
def create_token():
    """Exchange username and password for a bearer token (stored hashed, expiring); throttled
    per (username, client address) and per address (workflow.access.accounts.authenticate)."""
    body = validate(json_body(), {"username": Field(str), "password": Field(str)})
    cfg = current_app.config
    try:
        user = authenticate(db.session, body["username"], body["password"], address=request.remote_addr,
                            policy=ThrottlePolicy.from_config(cfg))
    except Throttled as exc:
        keep_writes_on_error()  # the attempt count must outlive the 429: throttling counts it
        resp = error_response(429, exc.code, error_text(exc), exc.details)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except AuthFailed:
        keep_writes_on_error()  # the attempt count must outlive the 401
        raise
    plain, row = issue_token(db.session, user, cfg["TOKEN_TTL_HOURS"])
    return jsonify({"token": plain, "expires_at": clock.local_iso(row.expires_at)}), 201


@bp.delete("/tokens/current")
def revoke_current_token():
    """Revoke the token this call is made with: it stops working at once."""
    # the bearer check before this view has found the token valid
    revoke_token(db.session, request.headers["Authorization"][len("Bearer "):].strip())
    return "", 204


OPENAPI_PATHS = {
    "/api/v1/tokens": {
        "post": op(
            "用用户名和密码换取访问令牌", ok=201, public=True, tag="auth", errors=(400, 401, 422, 429),
            body=obj({"username": string(), "password": string()}, ["username", "password"]),
            response=obj({"token": string(), "expires_at": string("date-time")}),
            description="令牌只以哈希形式保存并会过期；用户名或密码错误、账号停用返回 401（不存在的用户名与密码错误的"
                        "回答相同）。同一用户名在同一地址连续失败 5 次后，每次尝试须等待的时间逐次加倍（最长 15 分钟），"
                        "同一地址对所有用户名的失败次数也有上限；超过时返回 429，Retry-After 头和 details.retry_after "
                        "给出几秒后可以再试。",
        ),
    },
    "/api/v1/tokens/current": {
        "delete": op("注销当前访问令牌", ok=204, tag="auth", errors=(401,),
                     description="本次请求所用的令牌立即失效；之后用它的请求返回 401。"),
    },
}
