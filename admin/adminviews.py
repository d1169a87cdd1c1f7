"""Flask-Admin views (档案管理) over one scoped base class.

Every list, count, detail, edit, delete and export goes through `ScopedModelView.scope_clause`,
built only from workflow.scope filters; an id outside the user's scope answers 404. Creating
schools, villages, classes, users, students and terms goes through workflow.org, so the admin
pages and the JSON API follow the same rules. Who may do what is written in docs/admin.md.
"""
from __future__ import annotations

import csv
import io

from flask import Flask, Response, abort, flash, g, has_request_context, redirect, request, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.actions import action
from flask_admin.babel import gettext as admin_gettext
from flask_admin.babel import lazy_gettext as admin_lazy_gettext
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import BooleanEqualFilter, FilterEqual, FilterLike, IntEqualFilter
from flask_admin.menu import MenuLink
from flask_admin.theme import Bootstrap4Theme
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from openpyxl import Workbook
from sqlalchemy import func, or_, select, true
from werkzeug.utils import secure_filename
from wtforms import (
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
)
from wtforms.validators import DataRequired, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from models import (
    ROLE_SCOPE,
    STUDENT_FLAGS,
    AttendanceDay,
    AttendanceRecord,
    Baseline,
    CalendarDay,
    Case,
    CatchmentChild,
    Enrolment,
    ExamScore,
    Guardian,
    LadderPolicy,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Term,
    User,
    Village,
    mask_id_card,
)
from workflow.absence import ladder
from workflow.access import scope as sc
from workflow.errors import DomainError, Forbidden, Invalid
from workflow.org import services as org
from workflow.registers import catchment

from .extensions import db
from .labels import (
    FLAG_LABELS,
    GENDER_LABELS,
    ROLE_LABELS,
    SCHOOL_KIND_LABELS,
    STUDENT_STATUS_LABELS,
    role_label,
)
from .security import current_scope

# Roles that open 档案管理 at all; a village liaison works from the liaison pages instead.
READER_ROLES = ("admin", "county_supervisor", "center_head", "center_office", "principal",
                "academic_office", "homeroom_teacher", "subject_teacher", "team_member")
ORG_WRITERS = ("admin", "center_head", "center_office")
SCHOOL_WRITERS = ("admin", "center_head", "center_office", "principal", "academic_office")
USER_READERS = ("admin", "county_supervisor", "center_head", "center_office", "principal",
                "academic_office")
# SPEC §1: the ID-card number in full only for these roles (of the student's school/center).
CALENDAR_DAY_LABELS = {"holiday": _l("节假日（不上课）"), "workday": _l("调休上课日")}


# --- scope helpers ------------------------------------------------------------------------------


def _scope() -> sc.Scope:
    return current_scope()


def _holds(roles) -> bool:
    """Whether the current user holds one of `roles` (outside a request: no)."""
    try:
        if not current_user.is_authenticated:
            return False
    except (AttributeError, RuntimeError):
        return False
    return _scope().has_role(*roles)


def _managed_schools() -> set[int] | None:
    return sc.managed_school_ids(db.session, _scope())


def _visible(model):
    return db.session.query(model).filter(sc.FILTERS[model](_scope()))


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
    centers = sc.managed_center_ids(_scope())
    if centers is not None:
        q = q.filter(School.id.in_(sorted(centers) or [-1]))
    return q.order_by(School.name).all()


def parent_choices_query():
    """Possible parents of a new school: the user's centers; for admin also counties."""
    if _scope().is_all:
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


# --- the base classes ---------------------------------------------------------------------------


class ScopedIndexView(AdminIndexView):
    """The 档案管理 landing page: only for staff roles; anonymous users go to the login page."""

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_active and _holds(READER_ROLES))

    def inaccessible_callback(self, name, **kwargs):
        return _refuse()

    @expose("/")
    def index(self):
        return self.render("admin/baoxue_index.html")


class ScopedModelView(ModelView):
    """A ModelView that sees only the current user's scope (workflow.scope) and writes only what
    their roles allow. Subclasses set the role tuples, `scope_clause` and `may_write`."""

    form_base_class = FlaskForm  # CSRF on every admin form (CSRFProtect is global)
    can_view_details = True
    can_set_page_size = True
    page_size = 50
    read_roles: tuple[str, ...] = READER_ROLES
    create_roles: tuple[str, ...] = ()
    edit_roles: tuple[str, ...] = ()
    delete_roles: tuple[str, ...] = ()
    # Creation goes through a workflow service (see create_via_service); the raw model path is
    # used only by views that set this False.
    create_through_service = True

    # --- access --------------------------------------------------------------------------------

    def is_accessible(self) -> bool:
        return bool(current_user.is_authenticated and current_user.is_active and _holds(self.read_roles))

    def is_visible(self) -> bool:
        return self.is_accessible()

    def inaccessible_callback(self, name, **kwargs):
        return _refuse()

    @property
    def can_create(self) -> bool:
        return _holds(self.create_roles)

    @property
    def can_edit(self) -> bool:
        return _holds(self.edit_roles)

    @property
    def can_delete(self) -> bool:
        return _holds(self.delete_roles)

    def may_write(self, obj) -> bool:
        """Whether the user may edit or delete this (visible) object."""
        return _scope().is_all

    # --- scope ---------------------------------------------------------------------------------

    def scope_clause(self):
        return sc.FILTERS[self.model](_scope())

    def get_query(self):
        return db.session.query(self.model).filter(self.scope_clause())

    def get_count_query(self):
        return db.session.query(func.count("*")).select_from(self.model).filter(self.scope_clause())

    def get_one(self, id):
        """The object if in scope; 404 otherwise (also for a malformed id)."""
        try:
            pk = int(id)
        except (TypeError, ValueError):
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
            flash(exc.message, "error")
            return True
        return super().handle_view_exception(exc)

    def create_model(self, form):
        if not self.create_through_service:
            return super().create_model(form)
        try:
            model = self.create_via_service(form)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
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
        try:
            int_ids = [int(i) for i in ids]
        except (TypeError, ValueError):
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
        name = secure_filename(self.get_export_name(export_type)) or f"export.{export_type}"
        if export_type == "xlsx":
            wb = Workbook()
            ws = wb.active
            ws.title = str(self.name)[:31]
            ws.append(header)
            for row in rows:
                ws.append(row)
            buf = io.BytesIO()
            wb.save(buf)
            body = buf.getvalue()
            mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        else:
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(header)
            writer.writerows(rows)
            body = "\ufeff" + buf.getvalue()
            mimetype = "text/csv; charset=utf-8"
        return Response(body, mimetype=mimetype,
                        headers={"Content-Disposition": f"attachment;filename={name}"})

    def _export_cell(self, obj, column) -> str:
        value = self.get_export_value(obj, column)
        return "" if value is None else str(value)


# --- 学校 -----------------------------------------------------------------------------------------


def _school_parent_fmt(view, context, model, name):
    return str(model.parent) if model.parent else ""


class SchoolView(ScopedModelView):
    """学校: the county / center / branch tree. Admin creates anything; center roles add branches
    to their center and rename their schools."""

    create_roles = ORG_WRITERS
    edit_roles = ORG_WRITERS
    delete_roles = ("admin",)
    column_list = ("name", "kind", "parent", "code", "is_junior_high")
    column_details_list = ("id", "name", "kind", "parent", "code", "is_junior_high")
    column_labels = {"id": _l("编号"), "name": _l("名称"), "kind": _l("类型"), "parent": _l("上级"),
                     "code": _l("学校代码"), "is_junior_high": _l("含初中")}
    column_choices = {"kind": _choices(SCHOOL_KIND_LABELS)}
    column_searchable_list = ("name", "code")
    column_sortable_list = ("name", "kind", "code")
    column_default_sort = ("name", False)
    column_formatters = {"parent": _school_parent_fmt}
    form_columns = ("name", "kind", "parent", "code", "is_junior_high")
    form_choices = {"kind": _choices(SCHOOL_KIND_LABELS)}
    form_args = {"parent": {"query_factory": parent_choices_query, "label": _l("上级")}}

    column_filters = [
        FilterEqual(School.kind, _l("类型"), options=_label_options(SCHOOL_KIND_LABELS)),
        IntEqualFilter(School.parent_id, _l("上级"),
                       options=_parent_options),
    ]

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        # Moving a school in the tree would break the denormalized center/county ids.
        del form["kind"]
        del form["parent"]
        return form

    def may_write(self, obj) -> bool:
        centers = sc.managed_center_ids(_scope())
        return centers is None or obj.center_id in centers

    def create_via_service(self, form):
        school = org.create_school(db.session, _scope(), name=form.name.data, kind=form.kind.data,
                                   parent_id=form.parent.data.id if form.parent.data else None)
        school.code = form.code.data or None
        school.is_junior_high = bool(form.is_junior_high.data)
        db.session.flush()
        return school

    def delete_blocker(self, model):
        checks = [
            (School, School.parent_id == model.id), (SchoolClass, SchoolClass.school_id == model.id),
            (Student, Student.school_id == model.id), (Village, Village.center_school_id == model.id),
            (RoleAssignment, RoleAssignment.school_id == model.id), (Term, Term.school_id == model.id),
            (Enrolment, Enrolment.school_id == model.id), (Case, Case.school_id == model.id),
        ]
        if any(_count(m, w) for m, w in checks):
            return _("该学校下还有下属学校、班级、学生、村、人员、校历或事项，不能删除。")
        return None


# --- 村 -------------------------------------------------------------------------------------------


class VillageView(ScopedModelView):
    """村: villages of a center school's catchment."""

    create_roles = ORG_WRITERS
    edit_roles = ORG_WRITERS
    delete_roles = ORG_WRITERS
    column_list = ("name", "center_school")
    column_details_list = ("id", "name", "center_school")
    column_labels = {"id": _l("编号"), "name": _l("村名"), "center_school": _l("所属中心校")}
    column_searchable_list = ("name",)
    column_sortable_list = ("name",)
    column_default_sort = ("name", False)
    form_columns = ("name", "center_school")
    form_args = {"center_school": {"query_factory": managed_centers_query, "label": _l("所属中心校"),
                                   "validators": [DataRequired()]}}

    column_filters = [
        IntEqualFilter(Village.center_school_id, _l("所属中心校"),
                       options=_center_options),
    ]

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        del form["center_school"]
        return form

    def may_write(self, obj) -> bool:
        centers = sc.managed_center_ids(_scope())
        return centers is None or obj.center_school_id in centers

    def create_via_service(self, form):
        return org.create_village(db.session, _scope(), name=form.name.data,
                                  center_school_id=form.center_school.data.id)

    def delete_blocker(self, model):
        if _count(Student, Student.village_id == model.id) or _count(
                RoleAssignment, RoleAssignment.village_id == model.id):
            return _("该村还有学生或村委联络员，不能删除。")
        return None


# --- 班级 -----------------------------------------------------------------------------------------


class SchoolClassView(ScopedModelView):
    """班级: classes per school and school year."""

    create_roles = SCHOOL_WRITERS
    edit_roles = SCHOOL_WRITERS
    delete_roles = SCHOOL_WRITERS
    column_list = ("school", "school_year", "grade", "name")
    column_details_list = ("id", "school", "school_year", "grade", "name")
    column_labels = {"id": _l("编号"), "school": _l("学校"), "school_year": _l("学年"),
                     "grade": _l("年级"), "name": _l("班级名称")}
    column_searchable_list = ("name", "school_year")
    column_sortable_list = ("school_year", "grade", "name")
    column_default_sort = [("school_year", True), ("grade", False), ("name", False)]
    form_columns = ("school", "school_year", "grade", "name")
    form_args = {"school": {"query_factory": managed_schools_query, "label": _l("学校"),
                            "validators": [DataRequired()]},
                 "school_year": {"description": _l("如 2026-2027")},
                 "grade": {"description": _l("1–9")}}

    column_filters = [
        IntEqualFilter(SchoolClass.school_id, _l("学校"),
                       options=_school_options),
        FilterEqual(SchoolClass.school_year, _l("学年")),
        IntEqualFilter(SchoolClass.grade, _l("年级"),
                       options=[(str(g), str(g)) for g in range(1, 10)]),
    ]

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        del form["school"]
        return form

    def may_write(self, obj) -> bool:
        managed = _managed_schools()
        return managed is None or obj.school_id in managed

    def on_model_change(self, form, model, is_created):
        org.check_school_year(model.school_year)
        if not 1 <= (model.grade or 0) <= 9:
            raise Invalid(_("年级必须是 1 到 9 之间的整数"))

    def create_via_service(self, form):
        return org.create_class(db.session, _scope(), school_id=form.school.data.id,
                                school_year=(form.school_year.data or "").strip(),
                                grade=form.grade.data, name=form.name.data)

    def delete_blocker(self, model):
        checks = [(Student, Student.class_id == model.id), (Enrolment, Enrolment.class_id == model.id),
                  (RoleAssignment, RoleAssignment.class_id == model.id),
                  (AttendanceRecord, AttendanceRecord.class_id == model.id),
                  (AttendanceDay, AttendanceDay.class_id == model.id)]
        if any(_count(m, w) for m, w in checks):
            return _("该班级还有学生、学籍记录、任课教师或考勤记录，不能删除。")
        return None


# --- 用户 -----------------------------------------------------------------------------------------


def _roles_fmt(view, context, model, name):
    parts = []
    for r in model.roles:
        target = r.school or r.klass or r.village
        parts.append(escape(role_label(r.role) + (f"·{target}" if target else "")))
    return Markup("<br>").join(parts)


def _role_key(r) -> tuple:
    return (r.role, r.school_id, r.class_id, r.village_id)


_SCOPE_FIELD = {"school": "school_id", "class": "class_id", "village": "village_id"}
_SCOPE_FIELD_LABEL = {"school_id": _l("学校"), "class_id": _l("班级"), "village_id": _l("村")}


def _role_items(form) -> list[dict]:
    """The inline role rows of a user form, as {role, school_id, class_id, village_id}."""
    items = []
    for entry in form.roles.entries:
        if form.roles.should_delete(entry):
            continue
        f = entry.form
        items.append({
            "role": f.role.data,
            "school_id": f.school.data.id if f.school.data else None,
            "class_id": f.klass.data.id if f.klass.data else None,
            "village_id": f.village.data.id if f.village.data else None,
        })
    return items


class UserView(ScopedModelView):
    """用户: staff accounts and their scoped roles. Never shows the password hash; a new password
    is hashed on save. A role may be granted or removed only within the editor's own scope."""

    read_roles = USER_READERS
    create_roles = SCHOOL_WRITERS
    edit_roles = SCHOOL_WRITERS
    delete_roles = ()  # deactivate (is_active) instead: history rows keep pointing at users
    column_list = ("username", "name", "roles", "is_active", "locked_until")
    column_details_list = ("id", "username", "name", "roles", "is_active", "locked_until", "created_at")
    column_export_list = ("username", "name", "roles", "is_active")
    column_labels = {"id": _l("编号"), "username": _l("用户名"), "name": _l("姓名"), "roles": _l("角色"),
                     "is_active": _l("启用"), "locked_until": _l("锁定至"), "created_at": _l("创建时间"),
                     "password": _l("密码")}
    column_searchable_list = ("username", "name")
    column_sortable_list = ("username", "name", "is_active")
    column_default_sort = ("username", False)
    column_formatters = {"roles": _roles_fmt}
    form_columns = ("username", "name", "password", "is_active", "roles")
    form_extra_fields = {"password": PasswordField(_l("密码"), validators=[Optional()],
                                                   description=_l("至少 8 位；编辑时留空表示不修改"))}
    inline_models = [(RoleAssignment, {
        "form_columns": ("id", "role", "school", "klass", "village"),
        "column_labels": {"role": _l("角色"), "school": _l("学校"), "klass": _l("班级"), "village": _l("村")},
        "form_choices": {"role": _choices(ROLE_LABELS)},
        "form_args": {"school": {"query_factory": scoped_schools},
                      "klass": {"query_factory": scoped_classes},
                      "village": {"query_factory": scoped_villages}},
    })]
    form_args = {"roles": {"label": _l("角色")}}

    column_filters = [
        BooleanEqualFilter(User.is_active, _l("启用")),
        HoldsRoleFilter(User.id, _l("角色"), options=_label_options(ROLE_LABELS)),
    ]

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        del form["username"]
        return form

    def may_write(self, obj) -> bool:
        """Only users all of whose roles the editor could have granted (never an admin account
        for a non-admin, never a colleague with a wider role)."""
        scope = _scope()
        if scope.is_all:
            return True
        return all(sc.may_grant(db.session, scope, r.role, r.school_id, r.class_id, r.village_id)
                   for r in obj.roles)

    def create_via_service(self, form):
        return org.create_user(db.session, _scope(), username=form.username.data or "",
                               password=form.password.data or "", name=form.name.data or "",
                               roles=_role_items(form))

    def update_model(self, form, model):
        self._roles_before = {_role_key(r) for r in model.roles}
        return super().update_model(form, model)

    def on_model_change(self, form, model, is_created):
        scope = _scope()
        db.session.flush()  # the inline rows carry objects; their ids are set by the flush
        for r in model.roles:
            wanted = _SCOPE_FIELD.get(ROLE_SCOPE.get(r.role))
            for key in ("school_id", "class_id", "village_id"):
                value = getattr(r, key)
                if key == wanted and value is None:
                    raise Invalid(_("角色“%(role)s”必须选择%(what)s", role=role_label(r.role),
                                    what=_SCOPE_FIELD_LABEL[key]))
                if key != wanted and value is not None:
                    raise Invalid(_("角色“%(role)s”不能绑定%(what)s，请留空", role=role_label(r.role),
                                    what=_SCOPE_FIELD_LABEL[key]))
        after = {_role_key(r) for r in model.roles}
        for role, school_id, class_id, village_id in after ^ self._roles_before:
            if not sc.may_grant(db.session, scope, role, school_id, class_id, village_id):
                raise Forbidden(_("您不能授予或撤销超出自己管辖范围的角色（%(role)s）",
                                  role=role_label(role)))
        if form.password.data:
            if len(form.password.data) < org.MIN_PASSWORD_LENGTH:
                raise Invalid(_("密码至少需要 %(n)d 个字符", n=org.MIN_PASSWORD_LENGTH))
            model.set_password(form.password.data)


# --- 学生 -----------------------------------------------------------------------------------------


def may_see_full_id(student: Student) -> bool:
    """SPEC §1, as the API applies it (workflow.org.sees_full_id_card)."""
    return org.sees_full_id_card(_scope(), student)


def _id_card_fmt(view, context, model, name):
    return model.id_card_no if may_see_full_id(model) else mask_id_card(model.id_card_no)


def _flags_fmt(view, context, model, name):
    return "、".join(FLAG_LABELS[f] for f in model.flags)


def _guardians_fmt(view, context, model, name):
    return Markup("<br>").join(escape(f"{g.name}（{g.relation}）{g.phone}") for g in model.guardians)


def _student_page_fmt(view, context, model, name):
    # the student's page (cases, new-case forms) is where status changes start
    return Markup('<a href="{}" data-student-page="{}">{}</a>').format(
        url_for("cases.student", student_id=model.id), model.id, model.name)


class StudentView(ScopedModelView):
    """学生: the rolls. Created through workflow.org.create_student (which writes the first
    学籍记录); never deleted here — status changes go through the workflow processes."""

    create_roles = SCHOOL_WRITERS
    edit_roles = SCHOOL_WRITERS
    delete_roles = ()
    can_export = True
    export_types = ["xlsx", "csv"]
    column_list = ("name", "gender", "birth_date", "student_no", "id_card_no", "school", "klass",
                   "village", "status", "flags")
    column_details_list = ("id", "name", "gender", "birth_date", "student_no", "id_card_no", "school",
                           "klass", "village", "status", "is_provisional", "flags", "guardians",
                           "created_at")
    column_export_list = ("name", "gender", "birth_date", "student_no", "id_card_no", "school", "klass",
                          "village", "status", "flags")
    column_labels = {"id": _l("编号"), "name": _l("姓名"), "gender": _l("性别"), "birth_date": _l("出生日期"),
                     "student_no": _l("学籍号"), "id_card_no": _l("身份证号"), "school": _l("学校"),
                     "klass": _l("班级"), "village": _l("户籍村"), "status": _l("学籍状态"),
                     "is_provisional": _l("临时学籍"), "flags": _l("关注标记"), "guardians": _l("监护人"),
                     "created_at": _l("登记时间"), "left_behind": _l("留守儿童"), "poor": _l("贫困"),
                     "disability": _l("残疾"), "learning_difficulty": _l("学困")}
    column_choices = {"gender": _choices(GENDER_LABELS), "status": _choices(STUDENT_STATUS_LABELS)}
    column_searchable_list = ("name", "student_no")
    column_sortable_list = ("name", "birth_date", "student_no", "status")
    column_default_sort = ("name", False)
    column_formatters = {"id_card_no": _id_card_fmt, "flags": _flags_fmt, "guardians": _guardians_fmt,
                         "gender": _fmt_label(GENDER_LABELS), "status": _fmt_label(STUDENT_STATUS_LABELS),
                         "name": _student_page_fmt}
    column_formatters_export = {"id_card_no": _id_card_fmt, "flags": _flags_fmt,
                                "gender": _fmt_label(GENDER_LABELS), "status": _fmt_label(STUDENT_STATUS_LABELS)}
    form_columns = ("name", "gender", "birth_date", "student_no", "id_card_no", "klass", "village",
                    "left_behind", "poor", "disability", "learning_difficulty", "guardians")
    form_choices = {"gender": _choices(GENDER_LABELS)}
    form_args = {
        "klass": {"query_factory": managed_classes_query, "label": _l("班级"), "validators": [DataRequired()]},
        "village": {"query_factory": scoped_villages, "label": _l("户籍村"), "validators": [DataRequired()]},
        "birth_date": {"description": _l("YYYY-MM-DD")},
        "guardians": {"label": _l("监护人")},
    }
    inline_models = [(Guardian, {
        "form_columns": ("id", "name", "relation", "phone"),
        "column_labels": {"name": _l("姓名"), "relation": _l("关系"), "phone": _l("电话")},
    })]

    column_filters = [
        IntEqualFilter(Student.class_id, _l("班级"), options=_class_options),
        IntEqualFilter(Student.school_id, _l("学校"),
                       options=_school_options),
        IntEqualFilter(Student.village_id, _l("户籍村"), options=_village_options),
        FilterEqual(Student.status, _l("学籍状态"), options=_label_options(STUDENT_STATUS_LABELS)),
        FilterEqual(Student.gender, _l("性别"), options=_label_options(GENDER_LABELS)),
        *[BooleanEqualFilter(getattr(Student, f), FLAG_LABELS[f]) for f in STUDENT_FLAGS],
        FilterLike(Student.name, _l("姓名")),
    ]

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        # The class changes through the workflow (change_class, transfers), not by editing.
        del form["klass"]
        if obj is not None and not may_see_full_id(obj):
            del form["id_card_no"]
        return form

    def may_write(self, obj) -> bool:
        managed = _managed_schools()
        return managed is None or obj.school_id in managed

    def on_model_change(self, form, model, is_created):
        if "id_card_no" in form:
            model.id_card_no = org.normalize_id_card(model.id_card_no)
        model.student_no = (model.student_no or "").strip() or None
        if model.village is not None and model.school is not None and \
                model.village.center_school_id != model.school.center_id:
            raise Invalid(_("该村不在本校所属中心校的服务范围内"))

    def create_via_service(self, form):
        guardians = [{"name": e.form.name.data, "relation": e.form.relation.data, "phone": e.form.phone.data}
                     for e in form.guardians.entries if not form.guardians.should_delete(e)]
        return org.create_student(
            db.session, _scope(), name=form.name.data or "", gender=form.gender.data,
            birth_date=form.birth_date.data, class_id=form.klass.data.id, village_id=form.village.data.id,
            student_no=form.student_no.data or None, id_card_no=form.id_card_no.data or None,
            flags=[f for f in STUDENT_FLAGS if form[f].data], guardians=guardians)

    def get_export_name(self, export_type: str = "csv") -> str:
        from workflow import clock

        return f"students-{clock.today().isoformat()}.{export_type}"


# --- 校历 -----------------------------------------------------------------------------------------


def _days_fmt(view, context, model, name):
    return Markup("<br>").join(escape(f"{d.date.isoformat()} {CALENDAR_DAY_LABELS.get(d.kind, d.kind)}")
                               for d in model.days)


class TermView(ScopedModelView):
    """校历: a school's terms with their holidays and make-up school days (调休). Saved through
    workflow.org.set_calendar, the same rules as PUT /api/v1/calendar/{school_id}."""

    create_roles = SCHOOL_WRITERS
    edit_roles = SCHOOL_WRITERS
    delete_roles = SCHOOL_WRITERS
    column_list = ("school", "school_year", "term", "start", "end")
    column_details_list = ("id", "school", "school_year", "term", "start", "end", "days")
    column_labels = {"id": _l("编号"), "school": _l("学校"), "school_year": _l("学年"), "term": _l("学期"),
                     "start": _l("开学日期"), "end": _l("结束日期"), "days": _l("节假日与调休")}
    column_searchable_list = ("school_year",)
    column_sortable_list = ("school_year", "term", "start")
    column_default_sort = [("school_year", True), ("term", False)]
    column_formatters = {"days": _days_fmt}
    form_columns = ("school", "school_year", "term", "start", "end", "days")
    form_choices = {"term": [("1", _l("第一学期")), ("2", _l("第二学期"))]}
    form_args = {"school": {"query_factory": managed_schools_query, "label": _l("学校"),
                            "validators": [DataRequired()]},
                 "school_year": {"description": _l("如 2026-2027")},
                 "days": {"label": _l("节假日与调休")}}
    inline_models = [(CalendarDay, {
        "form_columns": ("id", "date", "kind"),
        "column_labels": {"date": _l("日期"), "kind": _l("类型")},
        "form_choices": {"kind": _choices(CALENDAR_DAY_LABELS)},
    })]

    column_filters = [
        IntEqualFilter(Term.school_id, _l("学校"),
                       options=_school_options),
        FilterEqual(Term.school_year, _l("学年")),
    ]

    def scope_clause(self):
        return Term.school_id.in_(select(School.id).where(sc.school_filter(_scope())))

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        # Which term a row is never changes; a different term is a new row.
        for name in ("school", "school_year", "term"):
            del form[name]
        return form

    def may_write(self, obj) -> bool:
        managed = _managed_schools()
        return managed is None or obj.school_id in managed

    @staticmethod
    def _days(form, kind):
        return [e.form.date.data for e in form.days.entries
                if not form.days.should_delete(e) and e.form.kind.data == kind]

    def _save(self, form, school_id, school_year, term):
        return org.set_calendar(db.session, _scope(), school_id, school_year=school_year, term=term,
                                start=form.start.data, end=form.end.data,
                                holidays=self._days(form, "holiday"), workdays=self._days(form, "workday"))

    def create_via_service(self, form):
        school_id = form.school.data.id
        year = (form.school_year.data or "").strip()
        term = int(form.term.data) if form.term.data else None
        exists = db.session.scalar(select(Term.id).where(
            Term.school_id == school_id, Term.school_year == year, Term.term == term))
        if exists:
            raise Invalid(_("该校该学期的校历已存在，请在列表中编辑它"))
        return self._save(form, school_id, year, term)

    def update_model(self, form, model):
        if not self.may_write(model):
            flash(_("您无权修改该记录"), "error")
            return False
        try:
            self._save(form, model.school_id, model.school_year, model.term)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            if not self.handle_view_exception(exc):
                raise
            return False
        return True


# --- 学籍记录 -------------------------------------------------------------------------------------


class EnrolmentView(ScopedModelView):
    """学籍记录: enrolment periods, read-only (written by the workflow, never rewritten)."""

    can_create = False
    can_edit = False
    can_delete = False
    column_list = ("student", "school", "klass", "start_date", "start_reason", "end_date", "end_reason",
                   "is_provisional")
    column_details_list = ("id", *column_list)
    column_labels = {"id": _l("编号"), "student": _l("学生"), "school": _l("学校"), "klass": _l("班级"),
                     "start_date": _l("开始日期"), "start_reason": _l("开始原因"), "end_date": _l("结束日期"),
                     "end_reason": _l("结束原因"), "is_provisional": _l("临时学籍")}
    column_searchable_list = ("student.name", "student.student_no")
    column_sortable_list = ("start_date", "end_date")
    column_default_sort = ("start_date", True)

    column_filters = [
        IntEqualFilter(Enrolment.school_id, _l("学校"),
                       options=_school_options),
        IntEqualFilter(Enrolment.class_id, _l("班级"), options=_class_options),
    ]

    def scope_clause(self):
        return Enrolment.student_id.in_(select(Student.id).where(sc.student_filter(_scope())))


# --- 案件 -----------------------------------------------------------------------------------------


def _case_process_fmt(view, context, model, name):
    from workflow.cases.serialize import process_label

    return process_label(model.process)


def _case_state_fmt(view, context, model, name):
    from workflow.cases.serialize import state_label

    return state_label(model)


def _case_link_fmt(view, context, model, name):
    return Markup('<a href="{}">#{}</a>').format(url_for("cases.detail", case_id=model.id), model.id)


def _process_options():
    from workflow.processes import REGISTRY

    return [(name, proc.label) for name, proc in REGISTRY.items()]


class CaseView(ScopedModelView):
    """案件: every case in scope, read-only (states change only through the workflow engine on
    the case page); searchable, filterable and exported to Excel."""

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    can_export = True
    export_types = ["xlsx", "csv"]
    column_list = ("id", "process", "state", "student", "school", "opened_on", "due_on", "is_overdue",
                   "is_open")
    column_export_list = ("id", "process", "state", "student", "school", "opened_on", "due_on",
                          "is_overdue", "is_open")
    column_labels = {"id": _l("编号"), "process": _l("事项"), "state": _l("状态"), "student": _l("学生"),
                     "school": _l("学校"), "opened_on": _l("立案日期"), "due_on": _l("应办日期"),
                     "is_overdue": _l("逾期"), "is_open": _l("进行中")}
    column_formatters = {"id": _case_link_fmt, "process": _case_process_fmt, "state": _case_state_fmt}
    column_formatters_export = {"process": _case_process_fmt, "state": _case_state_fmt}
    column_searchable_list = ("student.name",)
    column_sortable_list = ("id", "process", "state", "opened_on", "due_on")
    column_default_sort = ("opened_on", True)
    column_filters = [
        FilterEqual(Case.process, _l("事项"), options=_process_options),
        FilterEqual(Case.state, _l("状态")),
        IntEqualFilter(Case.school_id, _l("学校"), options=_school_options),
        BooleanEqualFilter(Case.is_open, _l("进行中")),
        BooleanEqualFilter(Case.is_overdue, _l("逾期")),
    ]

    def get_export_name(self, export_type: str = "csv") -> str:
        from workflow import clock

        return f"cases-{clock.today().isoformat()}.{export_type}"


# --- 防辍阶梯 -------------------------------------------------------------------------------------

LADDER_WRITERS = ("admin", "center_head", "center_office")
RUNG_LABELS = {"visit_1": _l("第一次家访"), "visit_2": _l("第二次家访"), "visit_3": _l("第三次家访（上报备案）"),
               "village_joint": _l("村校联合家访")}
VISIT_KIND_LABELS = {"home_visit": _l("家访"), "in_person_at_school": _l("到校面谈"), "phone": _l("电话"),
                     "village_joint": _l("村校联合家访")}


def _roles_text(codes) -> str:
    return "、".join(role_label(c) for c in codes or ())


def rungs_text(rungs) -> list[str]:
    """One readable line per rung: 第 N 天 · rung · visit kind · who (备案: whom)."""
    lines = []
    for r in rungs or ():
        line = _("第 %(day)d 天 · %(rung)s · %(kind)s · %(roles)s", day=int(r["day"]),
                 rung=str(RUNG_LABELS.get(r["state"], r["state"])),
                 kind=str(VISIT_KIND_LABELS.get(r["visit_kind"], r["visit_kind"])), roles=_roles_text(r["roles"]))
        if r.get("report_to"):
            line += _("（上报备案：%(roles)s）", roles=_roles_text(r["report_to"]))
        lines.append(line)
    return lines


def _rungs_fmt(view, context, model, name):
    return Markup("<br>").join(escape(line) for line in rungs_text(model.rungs))


def _rungs_export_fmt(view, context, model, name):
    return "；".join(rungs_text(model.rungs))


def _school_name(school_id) -> str:
    school = db.session.get(School, school_id) if school_id is not None else None
    return school.name if school is not None else ""


def _center_fmt(view, context, model, name):
    return _school_name(model.center_school_id)


def _creator_fmt(view, context, model, name):
    user = db.session.get(User, model.created_by_id) if model.created_by_id else None
    return user.name if user is not None else ""


def _latest_versions():
    """Per center school the highest saved version (the policy new cases open under)."""
    return select(LadderPolicy.center_school_id, func.max(LadderPolicy.version).label("v")).group_by(
        LadderPolicy.center_school_id).subquery()


def _is_latest(policy: LadderPolicy) -> bool:
    latest = db.session.scalar(select(func.max(LadderPolicy.version)).where(
        LadderPolicy.center_school_id == policy.center_school_id))
    return policy.version == latest


def _local_time_fmt(view, context, model, name):
    from workflow import clock

    value = getattr(model, name)
    return value.astimezone(clock.SCHOOL_TZ).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _is_current_fmt(view, context, model, name):
    return _("是") if _is_latest(model) else _("否")


def _ladder_form_class():
    """The edit form of a ladder: the four rungs in their fixed order, each with its day, visit
    kind, the roles who must take part and (optionally) the roles it is reported to."""
    role_choices = [(c, role_label(c)) for c in ladder.RUNG_ROLES]
    kind_choices = [(k, VISIT_KIND_LABELS[k]) for k in ladder.VISIT_KINDS]
    attrs = {"center": SelectField(_l("中心校"), coerce=str, validators=[Optional()]),
             "base_version": HiddenField()}
    for i, state in enumerate(ladder.RUNG_STATES):
        title = RUNG_LABELS[state]
        attrs[f"day_{i}"] = IntegerField(_l("%(rung)s：连续缺勤第几天", rung=title), validators=[DataRequired()])
        attrs[f"kind_{i}"] = SelectField(_l("%(rung)s：家访方式", rung=title), choices=kind_choices)
        attrs[f"roles_{i}"] = SelectMultipleField(_l("%(rung)s：须参加的角色", rung=title), choices=role_choices,
                                                  widget=ListWidget(prefix_label=False),
                                                  option_widget=CheckboxInput())
        attrs[f"report_{i}"] = SelectMultipleField(_l("%(rung)s：上报备案（可不选）", rung=title),
                                                   choices=role_choices, widget=ListWidget(prefix_label=False),
                                                   option_widget=CheckboxInput())
    return type("LadderForm", (FlaskForm,), attrs)


class LadderPolicyView(ScopedModelView):
    """防辍阶梯: the versions of a center school's home-visit ladder. Saving never changes a row:
    it writes a new version through workflow.ladder.save_policy (the rules of PUT
    /api/v1/ladder/{center_school_id}); open cases keep the version they began under. Center head,
    center office (their center) and admin see every version and save new ones; school staff see
    their center's current version, read-only."""

    create_roles = LADDER_WRITERS
    edit_roles = LADDER_WRITERS
    delete_roles = ()
    create_through_service = True
    column_list = ("center_school_id", "version", "is_current", "rungs", "created_by_id", "created_at")
    column_details_list = column_list
    column_labels = {"center_school_id": _l("中心校"), "version": _l("版本"), "is_current": _l("现行版本"),
                     "rungs": _l("阶梯"), "created_by_id": _l("保存人"), "created_at": _l("保存时间")}
    column_formatters = {"center_school_id": _center_fmt, "rungs": _rungs_fmt, "created_by_id": _creator_fmt,
                         "is_current": _is_current_fmt, "created_at": _local_time_fmt}
    column_sortable_list = ("version", "created_at")
    column_default_sort = [("center_school_id", False), ("version", True)]
    column_filters = [IntEqualFilter(LadderPolicy.center_school_id, _l("中心校"), options=_center_options)]
    can_export = True
    export_types = ["xlsx"]
    column_export_list = ("center_school_id", "version", "rungs", "created_by_id", "created_at")
    column_formatters_export = {"center_school_id": _center_fmt, "rungs": _rungs_export_fmt,
                                "created_by_id": _creator_fmt, "created_at": _local_time_fmt}

    # the role lists are checkbox lists, not single inputs: no form-control box around them
    form_widget_args = {f"{kind}_{i}": {"class": "list-unstyled d-flex flex-wrap mb-0",
                                        "style": "column-gap: 1.25rem"}
                        for kind in ("roles", "report") for i in range(len(ladder.RUNG_STATES))}

    def __init__(self, *args, **kwargs):
        self.form = _ladder_form_class()
        super().__init__(*args, **kwargs)

    def scope_clause(self):
        scope = _scope()
        if scope.is_all:
            return true()
        editable = set().union(*(scope.roles.get(r, frozenset()) for r in sc.CENTER_ROLES))
        latest = _latest_versions()
        current_of_mine = LadderPolicy.id.in_(
            select(LadderPolicy.id).join(latest, (latest.c.center_school_id == LadderPolicy.center_school_id)
                                         & (latest.c.v == LadderPolicy.version))
            .where(LadderPolicy.center_school_id.in_(sorted(scope.center_ids) or [-1])))
        return or_(LadderPolicy.center_school_id.in_(sorted(editable) or [-1]), current_of_mine)

    def may_write(self, obj) -> bool:
        return ladder.may_edit_policy(_scope(), obj.center_school_id)

    def _editable_centers(self) -> list[School]:
        return [c for c in managed_centers_query() if ladder.may_edit_policy(_scope(), c.id)]

    def _fill(self, form, center_id: int | None) -> None:
        policy = ladder.current_policy(db.session, center_id)
        form.base_version.data = str(policy.version)
        for i, rung in enumerate(policy.rungs):
            form[f"day_{i}"].data = rung.day
            form[f"kind_{i}"].data = rung.visit_kind
            form[f"roles_{i}"].data = list(rung.roles)
            form[f"report_{i}"].data = list(rung.report_to)

    def create_form(self, obj=None):
        form = super().create_form(obj)
        centers = self._editable_centers()
        form.center.choices = [(str(c.id), c.name) for c in centers]
        if request.method == "GET":
            wanted = request.args.get("center_id")
            center = next((c for c in centers if str(c.id) == wanted), centers[0] if centers else None)
            if center is not None:
                form.center.data = str(center.id)
                self._fill(form, center.id)
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        del form["center"]
        if request.method == "GET" and obj is not None:
            self._fill(form, obj.center_school_id)
        return form

    @staticmethod
    def _rungs(form) -> list[dict]:
        out = []
        for i, state in enumerate(ladder.RUNG_STATES):
            rung = {"state": state, "day": form[f"day_{i}"].data, "visit_kind": form[f"kind_{i}"].data,
                    "roles": list(form[f"roles_{i}"].data or [])}
            if form[f"report_{i}"].data:
                rung["report_to"] = list(form[f"report_{i}"].data)
            out.append(rung)
        return out

    @staticmethod
    def _version(form) -> int | None:
        try:
            return int(form.base_version.data)
        except (TypeError, ValueError):
            return None

    def _save(self, form, center_id) -> bool:
        try:
            policy = ladder.save_policy(db.session, _scope(), current_user, center_id, self._rungs(form),
                                        version=self._version(form))
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            if not self.handle_view_exception(exc):
                raise
            return False
        flash(_("已保存为第 %(v)d 版；进行中的案件仍按原版本执行。", v=policy.version), "success")
        return True

    def create_model(self, form):
        if not form.center.data:
            flash(_("请选择中心校"), "error")
            return False
        if not self._save(form, form.center.data):
            return False
        return db.session.scalars(select(LadderPolicy).where(
            LadderPolicy.center_school_id == int(form.center.data)).order_by(LadderPolicy.version.desc())).first()

    def update_model(self, form, model):
        # Never a change to `model`: a new version row, from the rungs shown in the form.
        if not self.may_write(model):
            flash(_("您无权修改该记录"), "error")
            return False
        return self._save(form, model.center_school_id)

    def get_export_name(self, export_type: str = "xlsx") -> str:
        return f"ladder.{export_type}"


# --- 基数 -----------------------------------------------------------------------------------------

BASELINE_RULE_LABELS = {"term_start": _l("学期初在籍"), "takeover": _l("上学期末人数（中途接班）"),
                        "grade1_enrolment": _l("一年级招生人数")}
TERM_OPTIONS = [("1", _l("第一学期")), ("2", _l("第二学期"))]


def _class_school_fmt(view, context, model, name):
    klass = db.session.get(SchoolClass, model.class_id)
    return klass.school.name if klass is not None and klass.school is not None else ""


def _class_fmt(view, context, model, name):
    klass = db.session.get(SchoolClass, model.class_id)
    return klass.name if klass is not None else ""


def _term_fmt(view, context, model, name):
    return _("第%(n)d学期", n=model.term)


def _in_visible_classes(column):
    return column.in_(select(SchoolClass.id).where(sc.class_filter(_scope())))


class BaselineView(ScopedModelView):
    """基数: the frozen head counts of the classes in scope, every freeze kept (read-only; freezing
    is on /figures)."""

    can_create = False
    can_edit = False
    can_delete = False
    can_export = True
    export_types = ["xlsx", "csv"]
    column_list = ("school_id", "klass", "school_year", "term", "count", "rule", "counted_on", "is_current",
                   "frozen_by", "frozen_at", "reason")
    column_details_list = ("id", *column_list, "student_ids")
    column_export_list = column_list
    column_labels = {"id": _l("编号"), "school_id": _l("学校"), "klass": _l("班级"), "school_year": _l("学年"),
                     "term": _l("学期"), "count": _l("基数"), "rule": _l("口径"), "counted_on": _l("计数日期"),
                     "is_current": _l("现行"), "frozen_by": _l("冻结人"), "frozen_at": _l("冻结时间"),
                     "reason": _l("理由"), "student_ids": _l("计入的学生编号")}
    column_formatters = {"school_id": lambda v, c, m, n: _school_name(m.school_id), "term": _term_fmt,
                         "rule": _fmt_label(BASELINE_RULE_LABELS), "frozen_at": _local_time_fmt}
    column_formatters_export = column_formatters
    column_sortable_list = ("school_year", "term", "count", "counted_on", "frozen_at")
    column_default_sort = [("school_year", True), ("term", True)]
    column_filters = [
        IntEqualFilter(Baseline.school_id, _l("学校"), options=_school_options),
        IntEqualFilter(Baseline.class_id, _l("班级"), options=_class_options),
        FilterEqual(Baseline.school_year, _l("学年")),
        IntEqualFilter(Baseline.term, _l("学期"), options=TERM_OPTIONS),
        BooleanEqualFilter(Baseline.is_current, _l("现行")),
    ]

    def scope_clause(self):
        return _in_visible_classes(Baseline.class_id)

    def get_export_name(self, export_type: str = "csv") -> str:
        return f"baselines.{export_type}"


# --- 考试成绩 -------------------------------------------------------------------------------------

EXAM_LABELS = {"final": _l("期末考试"), "midterm": _l("期中考试")}


class ExamScoreView(ScopedModelView):
    """考试成绩: imported exam scores of the classes in scope (read-only: scores come from the
    Excel import on /figures/exams/import); exported to Excel."""

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    can_export = True
    export_types = ["xlsx", "csv"]
    column_list = ("student", "school", "class_id", "school_year", "term", "exam", "subject", "score")
    column_export_list = column_list
    column_labels = {"student": _l("学生"), "school": _l("学校"), "class_id": _l("班级"), "school_year": _l("学年"),
                     "term": _l("学期"), "exam": _l("考试"), "subject": _l("科目"), "score": _l("分数")}
    column_formatters = {"school": _class_school_fmt, "class_id": _class_fmt, "term": _term_fmt,
                         "exam": _fmt_label(EXAM_LABELS)}
    column_formatters_export = column_formatters
    column_searchable_list = ("student.name", "subject")
    column_sortable_list = ("school_year", "term", "subject", "score")
    column_default_sort = [("school_year", True), ("term", True), ("subject", False)]
    column_filters = [
        IntEqualFilter(ExamScore.class_id, _l("班级"), options=_class_options),
        FilterEqual(ExamScore.school_year, _l("学年")),
        IntEqualFilter(ExamScore.term, _l("学期"), options=TERM_OPTIONS),
        FilterEqual(ExamScore.exam, _l("考试"), options=_label_options(EXAM_LABELS)),
        FilterEqual(ExamScore.subject, _l("科目")),
    ]

    def scope_clause(self):
        return _in_visible_classes(ExamScore.class_id)

    def get_export_name(self, export_type: str = "csv") -> str:
        return f"exam-scores.{export_type}"


# --- 适龄儿童登记 ---------------------------------------------------------------------------------

HOUSEHOLD_LABELS = {"local": _l("本地户籍"), "migrant": _l("外地户籍")}
CATCHMENT_STATUS_LABELS = {"enrolled_here": _l("本学区就读"), "enrolled_elsewhere": _l("外地就读"),
                           "deferred": _l("缓学"), "not_enrolled": _l("未入学")}


def _sees_full_catchment_ids(child: CatchmentChild) -> bool:
    """workflow.catchment's rule (the register's editors see ID numbers in full), per center
    school, computed once per request."""
    cache = g.setdefault("catchment_full_ids", {})
    village = db.session.get(Village, child.village_id)
    center_id = village.center_school_id if village is not None else None
    if center_id not in cache:
        cache[center_id] = center_id is not None and catchment.sees_full_ids(db.session, _scope(), center_id)
    return cache[center_id]


def _catchment_id_fmt(view, context, model, name):
    return catchment.id_as_seen(model, _sees_full_catchment_ids(model))


class CatchmentChildView(ScopedModelView):
    """适龄儿童登记: the catchment registers of the villages in scope, read-only (they are imported
    and cross-checked on /registers/catchment). ID numbers in full only for the register's editors
    (workflow.catchment.sees_full_ids), masked elsewhere — in the list, the details and the export."""

    can_create = False
    can_edit = False
    can_delete = False
    can_export = True
    export_types = ["xlsx", "csv"]
    column_list = ("village", "name", "gender", "birth_date", "id_card_no", "household_status", "status",
                   "destination", "student", "notes")
    column_details_list = ("id", *column_list, "updated_at")
    column_export_list = column_list
    column_labels = {"id": _l("编号"), "village": _l("村"), "name": _l("姓名"), "gender": _l("性别"),
                     "birth_date": _l("出生日期"), "id_card_no": _l("身份证号"), "household_status": _l("户籍"),
                     "status": _l("就读状态"), "destination": _l("就读学校/去向"), "student": _l("在籍学生"),
                     "notes": _l("备注"), "updated_at": _l("更新时间")}
    column_formatters = {"id_card_no": _catchment_id_fmt, "gender": _fmt_label(GENDER_LABELS),
                         "household_status": _fmt_label(HOUSEHOLD_LABELS),
                         "status": _fmt_label(CATCHMENT_STATUS_LABELS)}
    column_formatters_export = column_formatters
    column_searchable_list = ("name",)
    column_sortable_list = ("name", "birth_date", "status")
    column_default_sort = ("birth_date", False)
    column_filters = [
        IntEqualFilter(CatchmentChild.village_id, _l("村"), options=_village_options),
        FilterEqual(CatchmentChild.status, _l("就读状态"), options=_label_options(CATCHMENT_STATUS_LABELS)),
        FilterEqual(CatchmentChild.household_status, _l("户籍"), options=_label_options(HOUSEHOLD_LABELS)),
        FilterEqual(CatchmentChild.gender, _l("性别"), options=_label_options(GENDER_LABELS)),
    ]

    def scope_clause(self):
        return CatchmentChild.village_id.in_(select(Village.id).where(sc.village_filter(_scope())))

    def get_export_name(self, export_type: str = "csv") -> str:
        return f"catchment.{export_type}"


# --- wiring -------------------------------------------------------------------------------------


def init_admin(app: Flask) -> Admin:
    """Create the Admin for this app (inside the factory) and register the views."""
    admin = Admin(app, name="保学",
                  theme=Bootstrap4Theme(swatch=app.config["FLASK_ADMIN_SWATCH"], fluid=True,
                                        base_template="admin/baoxue_base.html"),
                  index_view=ScopedIndexView(name=_l("档案管理"), url="/admin"))
    admin.add_link(MenuLink(name=_l("首页"), url="/"))
    admin.add_view(SchoolView(School, db, name=_l("学校")))
    admin.add_view(VillageView(Village, db, name=_l("村")))
    admin.add_view(SchoolClassView(SchoolClass, db, name=_l("班级")))
    admin.add_view(UserView(User, db, name=_l("用户")))
    admin.add_view(StudentView(Student, db, name=_l("学生")))
    admin.add_view(TermView(Term, db, name=_l("校历")))
    admin.add_view(EnrolmentView(Enrolment, db, name=_l("学籍记录")))
    admin.add_view(CaseView(Case, db, name=_l("案件")))
    admin.add_view(LadderPolicyView(LadderPolicy, db, name=_l("防辍阶梯")))
    admin.add_view(BaselineView(Baseline, db, name=_l("基数")))
    admin.add_view(ExamScoreView(ExamScore, db, name=_l("考试成绩")))
    admin.add_view(CatchmentChildView(CatchmentChild, db, name=_l("适龄儿童登记")))
    return admin
