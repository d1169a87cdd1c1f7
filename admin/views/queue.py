"""我的待办 (/queue): the cases the user can act on now, most urgent first, and the navigation
bar's menu and counts badge (workflow.cases.queue.build_queue, computed at most once per request and
cached on `g`). Also the Chinese 403/404 pages."""
from __future__ import annotations

from functools import cached_property

from flask import Blueprint, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from models import AttendanceDay, SchoolClass
from workflow import clock
from workflow.access import permissions
from workflow.cases.queue import build_queue, incoming_transfer_items, missing_attendance_items
from workflow.org.calendar import CalendarBook

from ..extensions import db
from ..security import current_actor, current_scope

bp = Blueprint("queue", __name__)


def queue_items() -> list[dict]:
    """The current user's queue, built once per request."""
    if "queue_items" not in g:
        g.queue_items = build_queue(db.session, current_scope(), current_actor(), today=clock.today())
    return g.queue_items


class Nav:
    """What the navigation bar shows the signed-in user (each entry: workflow.access.permissions
    allows it and the page exists); the badge is computed only when the template asks for it."""

    def __init__(self, scope, endpoints):
        self.scope = scope
        self.endpoints = endpoints

    @property
    def queue(self) -> bool:
        return permissions.may_use_queue(self.scope)

    @property
    def attendance(self) -> bool:
        return permissions.may_record_attendance(self.scope)

    @property
    def oversight(self) -> bool:
        return permissions.may_oversee(self.scope)

    @property
    def liaison(self) -> bool:
        return bool(permissions.liaison_village_ids(self.scope)) and "liaison.index" in self.endpoints

    @property
    def archive(self) -> bool:
        return permissions.is_staff(self.scope)

    @property
    def figures(self) -> bool:
        return permissions.is_staff(self.scope) and "figures.index" in self.endpoints

    @property
    def catchment(self) -> bool:
        return permissions.may_open_catchment(self.scope) and "registers.catchment_page" in self.endpoints

    @property
    def ledgers(self) -> bool:
        return permissions.may_open_ledgers(self.scope) and "registers.ledgers" in self.endpoints

    @property
    def monthly(self) -> bool:
        return permissions.may_open_monthly_reports(self.scope) and "monthly.index" in self.endpoints

    @property
    def reports(self) -> bool:
        return permissions.is_staff(self.scope) and "registers.weekly" in self.endpoints

    @property
    def school_year(self) -> bool:
        return permissions.may_manage_school_year(self.scope) and "school_year.roster" in self.endpoints

    @property
    def transfer_in(self) -> bool:
        return bool(permissions.transfer_in_school_ids(self.scope)) and "cases.transfer_in_new" in self.endpoints

    @cached_property
    def counts(self) -> tuple[int, int]:
        """(items in the queue, of which overdue)."""
        items = queue_items()
        return len(items), sum(1 for i in items if i["overdue"])


@bp.app_context_processor
def inject_nav():
    if not current_user or not current_user.is_authenticated:
        return {"nav": None}
    from flask import current_app

    return {"nav": Nav(current_scope(), current_app.view_functions)}


def _attendance_missing_today() -> list[SchoolClass]:
    """The homeroom teacher's classes whose attendance for today (a school day) is not taken yet."""
    scope = current_scope()
    class_ids = scope.roles.get("homeroom_teacher", frozenset())
    if not class_ids:
        return []
    today = clock.today()
    classes = list(db.session.scalars(select(SchoolClass).where(SchoolClass.id.in_(sorted(class_ids)))))
    taken = set(db.session.scalars(select(AttendanceDay.class_id).where(
        AttendanceDay.class_id.in_(sorted(class_ids)), AttendanceDay.date == today)))
    book = CalendarBook(db.session)
    # a class of another school year takes no roll today (the rule of attendance.missing_days)
    terms = {k.id: book.for_school(k.school_id).term_for(today) for k in classes}
    return [k for k in classes if k.id not in taken and book.for_school(k.school_id).is_school_day(today)
            and terms[k.id] is not None and terms[k.id].school_year == k.school_year]


@bp.route("/queue")
@login_required
def index():
    """我的待办: overdue first, then by due date."""
    items = queue_items()
    today = clock.today()
    return render_template("queue/index.html", items=items, overdue=sum(1 for i in items if i["overdue"]),
                           missing_attendance=_attendance_missing_today(), today=today,
                           missing_days=missing_attendance_items(db.session, current_scope(), today=today),
                           incoming=incoming_transfer_items(db.session, current_scope()))


@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
def page_error(exc: HTTPException):
    """Chinese error pages; the JSON API keeps its own error format."""
    if request.path.startswith("/api/"):
        from ..api.util import error_response

        codes = {403: ("forbidden", _("无权执行该操作")), 404: ("not_found", _("对象不存在"))}
        return error_response(exc.code, *codes[exc.code])
    titles = {403: _("无权访问"), 404: _("页面不存在")}
    texts = {403: _("您的角色不能打开这个页面。"),
             404: _("您要找的内容不存在，或不在您的管辖范围内。")}
    home = url_for("home.index")
    return render_template("queue/error.html", title=titles[exc.code], text=texts[exc.code],
                           home=home), exc.code
