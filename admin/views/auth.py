"""Login, logout and language choice."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from workflow.access.accounts import (
    AuthFailed,
    Throttled,
    ThrottlePolicy,
    authenticate,
    end_session,
    start_session,
)
from workflow.demo import DEMO_PASSWORD

from ..boundary import keep_writes_on_error
from ..extensions import db

bp = Blueprint("auth", __name__)

# Shown on the login page of a demo install only (config SHOW_DEMO_ACCOUNTS).
DEMO_ACCOUNTS = [
    ("admin", _l("系统管理员")),
    ("center_head", _l("中心校长")),
    ("center_office", _l("中心校教导主任")),
    ("principal1", _l("村小校长")),
    ("office1", _l("村小教导处")),
    ("teacher1", _l("班主任")),
    ("subject1", _l("科任教师")),
    ("team1", _l("控辍小组成员")),
    ("liaison1", _l("村委联络员")),
    ("supervisor", _l("教育局督导")),
]


class LoginForm(FlaskForm):
    username = StringField(validators=[DataRequired()])
    password = PasswordField(validators=[DataRequired()])


def _safe_next(target: str | None) -> str:
    """A local path to go to after login, or home: never another site. Browsers read "//host"
    and "/\\host" as another host, so both are refused along with any scheme or netloc."""
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not urlsplit(target).netloc and not urlsplit(target).scheme):
        return target
    return url_for("home.index")


# The key of the session cookie that carries the server-side session's random id
# (workflow.access.accounts.start_session); admin/app.py's user loader checks it on every request.
SESSION_ID_KEY = "_baoxue_sid"


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Chinese login page; throttled per (username, address) and per address (429 saying when to
    retry); unknown users and wrong passwords get the same answer; inactive users refused."""
    form = LoginForm()
    status = 200
    retry_after = None
    if form.validate_on_submit():
        cfg = current_app.config
        try:
            user = authenticate(db.session, form.username.data.strip(), form.password.data,
                                address=request.remote_addr, policy=ThrottlePolicy.from_config(cfg))
        except Throttled as exc:
            keep_writes_on_error()  # the attempt count must outlive the refusal: throttling counts it
            status, retry_after = 429, exc.retry_after
            if exc.retry_after >= 120:
                flash(_("登录尝试过于频繁，请 %(n)d 分钟后再试。", n=-(-exc.retry_after // 60)), "danger")
            else:
                flash(_("登录尝试过于频繁，请 %(n)d 秒后再试。", n=exc.retry_after), "danger")
        except AuthFailed as exc:
            keep_writes_on_error()
            flash(_("该账号已停用。") if "停用" in exc.message else _("用户名或密码错误。"), "danger")
        else:
            lang = session.get("lang")
            session.clear()  # nothing of an earlier visitor's session carries over, but the language
            if lang:
                session["lang"] = lang
            login_user(user)
            session[SESSION_ID_KEY] = start_session(db.session, user, cfg["LOGIN_SESSION_HOURS"])
            session.permanent = False
            return redirect(_safe_next(request.args.get("next")))
    elif request.method == "POST":
        flash(_("请填写用户名和密码。"), "danger")
    demo = DEMO_ACCOUNTS if current_app.config.get("SHOW_DEMO_ACCOUNTS") else []
    resp = make_response(render_template("login.html", form=form, demo_accounts=demo,
                                         demo_password=DEMO_PASSWORD), status)
    if retry_after is not None:
        resp.headers["Retry-After"] = str(retry_after)
    return resp


@bp.post("/logout")
@login_required
def logout():
    """End the session server-side (a copy of the cookie no longer works), then the cookie."""
    end_session(db.session, session.pop(SESSION_ID_KEY, None))
    logout_user()
    flash(_("您已退出登录。"), "info")
    return redirect(url_for("auth.login"))


@bp.route("/lang/<code>")
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(_safe_next(request.referrer and urlsplit(request.referrer).path))
