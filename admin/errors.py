"""Error pages in the user's language (zh_CN by default) for every status a page can answer:
a CSRF failure, 400, 405, 413, 429, 500 and any other HTTP error. 403 and 404 keep their own
handler (admin/views/queue.py:page_error). Under /api/ the answer stays the API's JSON error.

The request boundary (admin/boundary.py) has rolled the request back before these run, so an
error page never keeps what the failed request wrote.
"""
from __future__ import annotations

from flask import Flask, current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError


def _texts(code: int) -> tuple[str, str]:
    """(title, what happened and what to do) for a status, in the user's language."""
    limit_mb = int(current_app.config.get("MAX_UPLOAD_BYTES", 0)) // (1024 * 1024)
    texts = {
        400: (_("请求有误"), _("提交的内容无法识别，没有保存任何内容。请返回上一页检查后重试。")),
        401: (_("需要登录"), _("请先登录。")),
        405: (_("不能这样打开这个地址"), _("这个地址只能通过页面上的按钮提交，不能直接打开。请从页面上的链接或按钮进入。")),
        409: (_("操作冲突"), _("这条记录刚刚被别人改过，没有保存任何内容。请刷新页面后重试。")),
        413: (_("上传的文件过大"), _("文件超过了 %(n)d MB 的上限，没有保存任何内容。请压缩文件或拍摄较小的照片后重试。", n=limit_mb)),
        415: (_("不支持的文件类型"), _("请上传 PDF、JPEG、PNG、HEIC 图片或 Word（.docx）文件。")),
        429: (_("操作过于频繁"), _("请稍等几分钟再试。")),
        500: (_("系统出错"), _("服务器内部出错，本次操作没有保存。请稍后重试；如果一再出现，请联系管理员。")),
    }
    return texts.get(code, (_("请求未能完成"), _("没有保存任何内容。请返回上一页重试。")))


def _page(code: int, title: str, text: str, template: str = "errors/page.html", headers=None):
    html = render_template(template, code=code, title=title, text=text, home=url_for("home.index"))
    return html, code, headers or {}


def _api_error(exc: HTTPException):
    from .api import handle_http_error

    return handle_http_error(exc)


def csrf_error(exc: CSRFError):
    """The form's security token is missing or stale (a page left open, another tab logged out)."""
    if request.path.startswith("/api/"):
        return _api_error(exc)
    return _page(400, _("页面已过期"), _("为了安全，这个表单已失效，没有保存任何内容。请返回上一页，刷新后重新填写提交。"))


def http_error(exc: HTTPException):
    """Any HTTP error of a page without a handler of its own: a Chinese (or English) page."""
    if request.path.startswith("/api/"):
        return _api_error(exc)
    code = exc.code or 500
    if code >= 500:
        return server_error(exc)
    headers = {"Retry-After": exc.retry_after} if getattr(exc, "retry_after", None) else None
    return _page(code, *_texts(code), headers=headers)


def server_error(exc):
    """500: a page that needs nothing from the database (which may be what failed)."""
    if request.path.startswith("/api/"):
        from .api.util import error_response

        return error_response(500, "error", _("服务器内部错误"))
    title, text = _texts(500)
    # Rendered straight from the environment: no context processor (the navigation reads the
    # user's scope from the database, which may be what failed).
    html = current_app.jinja_env.get_template("errors/500.html").render(
        code=500, title=title, text=text, home=url_for("home.index"), current_locale=str(get_locale()))
    return html, 500


def init_errors(app: Flask) -> None:
    """Register the error pages (called from create_app)."""
    app.register_error_handler(CSRFError, csrf_error)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, server_error)
