"""Flask-Admin's (档案管理) scoped base classes and the scope helpers every record screen uses.

Every list, count, detail, edit, delete and export goes through `ScopedModelView.scope_clause`:
the model's filter in workflow.access.scope.FILTERS; an id outside the user's scope answers
404. Creating schools, villages, classes, users, students and terms goes through
workflow.org.services, so the admin pages and the JSON API follow the same rules. Who may do
what is decided in workflow.access.permissions (`RECORDS`) and explained in docs/admin.md.
"""
from __future__ import annotations

import re

from flask import abort, flash, has_request_context, redirect, request, url_for
from flask_admin import AdminIndexView, expose
from flask_admin.actions import action
from flask_admin.babel import gettext as admin_gettext
from flask_admin.babel import lazy_gettext as admin_lazy_gettext
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from openpyxl import Workbook
from sqlalchemy import func, select

from models import (
    RoleAssignment,
    School,
    SchoolClass,
    User,
    Village,
)
from workflow import clock
from workflow.access import permissions
from workflow.access import scope as sc
from workflow.errors import DomainError, Forbidden, Invalid
from workflow.spreadsheets import csv_text, xlsx_bytes
from workflow.validation import parse_int_text

from ..boundary import discard_writes
from ..downloads import attachment
from ..extensions import db
from ..labels import error_text
from ..security import current_scope

CALENDAR_DAY_LABELS = {"holiday": _l("节假日（不上课）"), "workday": _l("调休上课日")}
TERM_OPTIONS = [("1", _l("第一学期")), ("2", _l("第二学期"))]


# --- scope helpers ------------------------------------------------------------------------------


def _signed_in() -> bool:
    """Whether a user is signed in (Flask-Admin also asks its `can_*` outside a request: no)."""
    try:
        return bool(current_user.is_authenticated)
    except (AttributeError, RuntimeError):
        return False


def _managed_schools() -> set[int] | None:
    return permissions.managed_school_ids(db.session, current_scope())


def _visible(model):
    return db.session.query(model).filter(sc.FILTERS[model](current_scope()))


def scoped_schools():
    return _visible(School).order_by(School.kind, School.name).all()


def managed_schools_query():
    """Schools where the user may create classes, students, calendars (not county nodes)."""
    q = _visible(School).filter(School.kind != "county")
    managed = _managed_schools()
    if managed is not None:
        q = q.filter(School.id.in_(sorted(managed) or [-1]))
    return q.order_by(School.name).all()


def managed_centers_query():
    q = _visible(School).filter(School.kind == "center")
    centers = permissions.managed_center_ids(current_scope())
    if centers is not None:
        q = q.filter(School.id.in_(sorted(centers) or [-1]))
    return q.order_by(School.name).all()


def parent_choices_query():
    """Possible parents of a new school: the user's centers; for admin also counties."""
    if current_scope().is_all:
        return _visible(School).filter(School.kind.in_(("county", "center"))).order_by(School.name).all()
    return managed_centers_query()


def scoped_classes():
    return _visible(SchoolClass).order_by(SchoolClass.school_year.desc(), SchoolClass.grade,
                                          SchoolClass.name).all()


def managed_classes_query():
    q = _visible(SchoolClass)
    managed = _managed_schools()
    if managed is not None:
        q = q.filter(SchoolClass.school_id.in_(sorted(managed) or [-1]))
    return q.order_by(SchoolClass.school_year.desc(), SchoolClass.grade, SchoolClass.name).all()


def scoped_villages():
    return _visible(Village).order_by(Village.name).all()


def _options(rows):
    return [(str(r.id), str(r)) for r in rows]


def _request_options(fn):
    """Filter options from the user's scope, computed per request (Flask-Admin also asks once at
    start-up, outside any request: then there are none)."""
    def options():
        return fn() if has_request_context() else []
    return options


_school_options = _request_options(lambda: _options(s for s in scoped_schools() if s.kind != "county"))
_parent_options = _request_options(lambda: _options(s for s in scoped_schools() if s.kind != "branch"))
_center_options = _request_options(lambda: _options(s for s in scoped_schools() if s.kind == "center"))
_class_options = _request_options(lambda: _options(scoped_classes()))
_village_options = _request_options(lambda: _options(scoped_villages()))


class HoldsRoleFilter(FilterEqual):
    """Users holding a role (a join on role_assignments would list a user once per role)."""

    def apply(self, query, value, alias=None):
        return query.filter(User.id.in_(select(RoleAssignment.user_id).where(RoleAssignment.role == value)))


def _label_options(labels: dict):
    return lambda: [(k, str(v)) for k, v in labels.items()]


def _fmt_label(labels: dict):
    def fmt(view, context, model, name):
        value = getattr(model, name)
        return str(labels.get(value, value)) if value is not None else ""
    return fmt


def _choices(labels: dict):
    return [(k, v) for k, v in labels.items()]


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _refuse():
    """Not signed in (or deactivated meanwhile): to the login page; signed in: 403."""
    if not current_user.is_authenticated or not current_user.is_active:
        return redirect(url_for("auth.login", next=request.full_path))
    abort(403)


def _school_name(school_id) -> str:
    school = db.session.get(School, school_id) if school_id is not None else None
    return school.name if school is not None else ""


def _local_time_fmt(view, context, model, name):
    value = getattr(model, name)
    return value.astimezone(clock.SCHOOL_TZ).strftime("%Y-%m-%d %H:%M") if value is not None else ""



# --- the base classes ---------------------------------------------------------------------------


class ScopedIndexView(AdminIndexView):
    """The 档案管理 landing page: only for staff roles; anonymous users go to the login page."""

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_active and permissions.is_staff(current_scope()))

    def inaccessible_callback(self, name, **kwargs):
        return _refuse()

    @expose("/")
    def index(self):
        return self.render("admin/baoxue_index.html")


class ScopedModelView(ModelView):
    """A ModelView that sees only the current user's scope (workflow.access.scope) and writes only
    what workflow.access.permissions allows for its kind of record. Subclasses set `record` (a key
    of permissions.RECORDS); what they show is filtered by their model's scope.FILTERS entry."""

    form_base_class = FlaskForm  # CSRF on every admin form (CSRFProtect is global)
    can_view_details = True
    can_set_page_size = True
    page_size = 50
    record: str  # its kind of record: a key of permissions.RECORDS
    # Creation goes through a workflow service (see create_via_service); the raw model path is
    # used only by views that set this False.
    create_through_service = True

    # --- access --------------------------------------------------------------------------------

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_active
                    and permissions.may_use_records(current_scope(), self.record, "read"))

    def is_visible(self) -> bool:
        return self.is_accessible()

    def inaccessible_callback(self, name, **kwargs):
        return _refuse()

    @property
    def can_create(self) -> bool:
        return _signed_in() and permissions.may_use_records(current_scope(), self.record, "create")

    @property
    def can_edit(self) -> bool:
        return _signed_in() and permissions.may_use_records(current_scope(), self.record, "edit")

    @property
    def can_delete(self) -> bool:
        return _signed_in() and permissions.may_use_records(current_scope(), self.record, "delete")

    def may_write(self, obj) -> bool:
        """Whether the user may edit or delete this (visible) object."""
        return permissions.may_write_record(db.session, current_scope(), self.record, obj)

    # --- scope ---------------------------------------------------------------------------------

    def scope_clause(self):
        return sc.FILTERS[self.model](current_scope())

    def get_query(self):
        return db.session.query(self.model).filter(self.scope_clause())

    def get_count_query(self):
        return db.session.query(func.count("*")).select_from(self.model).filter(self.scope_clause())

    def get_one(self, id):
        """The object if in scope; 404 otherwise (also for a malformed id)."""
        pk = parse_int_text(id.strip() if isinstance(id, str) else id)  # "²" or 2**40: 404
        if pk is None:
            abort(404)
        obj = self.get_query().filter(self.model.id == pk).first()
        if obj is None:
            abort(404)
        return obj

    def _get_filter_groups(self):
        # Options such as "which class" depend on who is asking: recompute them per request.
        groups = super()._get_filter_groups()
        for items in (groups or {}).values():
            for item in items:
                flt = self._filters[item["index"]]
                if callable(flt.options):
                    item["options"] = [(k, str(v)) for k, v in flt.options()] or None
        return groups

    # --- views ---------------------------------------------------------------------------------

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        obj_id = request.args.get("id")
        if obj_id is not None:
            obj = self.get_one(obj_id)  # out of scope: 404 even for a read-only user
            if not self.can_edit or not self.may_write(obj):
                flash(_("您只能查看该记录，无权修改。"), "warning")
                return redirect(self.get_url(".details_view", id=obj.id))
        return super().edit_view()

    def handle_view_exception(self, exc: Exception) -> bool:
        if isinstance(exc, DomainError):
            flash(error_text(exc), "error")
            return True
        return super().handle_view_exception(exc)

    # Flask-Admin's own create_model, update_model and delete_model commit inside the library;
    # the request boundary's commit after them finds nothing left to write. The service path
    # below does not commit: the boundary does, once the view has answered.
    def create_model(self, form):
        if not self.create_through_service:
            return super().create_model(form)
        try:
            model = self.create_via_service(form)
        except Exception as exc:
            discard_writes()
            if not self.handle_view_exception(exc):
                raise
            return False
        return model

    def create_via_service(self, form):
        raise NotImplementedError

    def update_model(self, form, model):
        # edit_view checked this already; repeated here so no other caller can skip it.
        if not self.may_write(model):
            flash(_("您无权修改该记录"), "error")
            return False
        return super().update_model(form, model)

    def on_model_delete(self, model):
        if not self.may_write(model):
            raise Forbidden(_("您无权删除该记录"))
        reason = self.delete_blocker(model)
        if reason:
            raise Invalid(reason)

    def delete_blocker(self, model) -> str | None:
        """A Chinese reason the row cannot be deleted (it has dependants), or None."""
        return None

    @action("delete", admin_lazy_gettext("Delete"),
            admin_lazy_gettext("Are you sure you want to delete selected records?"))
    def action_delete(self, ids):
        # psycopg 3 refuses `integer = character varying` (flask-admin #2951): posted ids are text.
        int_ids = [parse_int_text(i) for i in ids]
        if None in int_ids:
            abort(404)
        count = 0
        for obj in self.get_query().filter(self.model.id.in_(int_ids)).all():
            if self.delete_model(obj):
                count += 1
        flash(_("已删除 %(n)d 条记录。", n=count), "success" if count else "warning")

    # --- export --------------------------------------------------------------------------------

    @expose("/export/<export_type>/")
    def export(self, export_type: str):
        """CSV (UTF-8 with BOM, so Excel opens it) or XLSX of the scoped, filtered list."""
        if not self.can_export or export_type not in self.export_types:
            flash(admin_gettext("Permission denied."), "error")
            return redirect(self.get_url(".index_view"))
        _count_rows, data = self._export_data()
        header = [str(c[1]) for c in self._export_columns]
        rows = [[self._export_cell(obj, c[0]) for c in self._export_columns] for obj in data]
        name = self.get_export_name(export_type) or f"export.{export_type}"
        # formula-like text is neutralised by the one export helper (workflow/spreadsheets.py)
        if export_type == "xlsx":
            wb = Workbook()
            ws = wb.active
            ws.title = re.sub(r"[\[\]:*?/\\]", "", str(self.name))[:31] or "export"
            ws.append(header)
            for row in rows:
                ws.append(row)
            body = xlsx_bytes(wb)
            mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            body = csv_text([header, *rows])
            mimetype = "text/csv; charset=utf-8"
        return attachment(body, name, mimetype)

    def _export_cell(self, obj, column) -> str:
        value = self.get_export_value(obj, column)
        return "" if value is None else str(value)
