"""The JSON API blueprint (/api/v1). Thin: parse, load in scope, call workflow, answer; the request
boundary (admin/boundary.py) commits once, or rolls back when the answer is an error."""
from __future__ import annotations

from flask import Blueprint, g, request
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from workflow.access.accounts import user_for_token
from workflow.errors import DomainError

from ..extensions import db
from ..labels import error_text
from .util import check_query_text, error_response

bp = Blueprint("api", __name__, url_prefix="/api/v1")
bp.before_request(check_query_text)  # NUL or control characters in a query: 422 before anything

PUBLIC_ENDPOINTS = {"api.create_token", "api.openapi"}


@bp.before_request
def authenticate_bearer():
    """Every call but token creation and the OpenAPI document needs a valid bearer token."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return error_response(401, "unauthorized", _("需要登录：请在请求头中提供 Authorization: Bearer <令牌>"))
    user = user_for_token(db.session, header[len("Bearer "):].strip())
    if user is None:
        return error_response(401, "unauthorized", _("令牌无效或已过期"))
    g.api_user = user
    return None


@bp.errorhandler(DomainError)
def handle_domain_error(exc: DomainError):
    return error_response(exc.status, exc.code, error_text(exc), exc.details)


@bp.errorhandler(IntegrityError)
def handle_integrity_error(exc: IntegrityError):
    """A unique constraint the services' own checks could not see coming: another request
    wrote the same row between our check and our insert (two teachers saving one class-day at
    once). The request boundary has rolled the request's writes back; the client may retry."""
    return error_response(409, "duplicate", _("同样的记录刚刚已被他人保存，本次未写入任何数据，请刷新后重试"))


@bp.errorhandler(HTTPException)
def handle_http_error(exc: HTTPException):
    codes = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
             405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}
    messages = {404: _("对象不存在"), 405: _("不支持该请求方法"), 413: _("上传文件过大"),
                400: _("请求格式错误")}
    return error_response(exc.code or 500, codes.get(exc.code, "error"), messages.get(exc.code, exc.description))


from . import (  # noqa: E402,F401  (routes register on bp)
    attendance,
    cases,
    checks,
    evidence,
    figures,
    monthly,
    openapi,
    org,
    registers,
    reports,
    schoolyear,
    support,
    sweep,
    tokens,
)
