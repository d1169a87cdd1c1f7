"""Record screens of the organization: schools, villages, classes, users, students, the calendar,
enrolment periods."""
from __future__ import annotations

from flask import flash, url_for
from flask_admin.contrib.sqla.filters import BooleanEqualFilter, FilterEqual, FilterLike, IntEqualFilter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import (
    DateField,
    PasswordField,
)
from wtforms.validators import DataRequired, Optional

from models import (
    STUDENT_FLAGS,
    AttendanceDay,
    AttendanceRecord,
    CalendarDay,
    Case,
    Enrolment,
    Guardian,
    RoleAssignment,
    School,
    SchoolClass,
    Student,
    Term,
    User,
    Village,
)
from workflow.access import permissions
from workflow.access.masking import student_no_as_seen_by
from workflow.errors import Invalid
from workflow.org import services as org
from workflow.org import users

from ..boundary import discard_writes
from ..extensions import db
from ..labels import (
    FLAG_LABELS,
    GENDER_LABELS,
    ROLE_LABELS,
    SCHOOL_KIND_LABELS,
    SCHOOL_LEVEL_LABELS,
    STUDENT_STATUS_LABELS,
    names,
    paren,
    role_label,
)
from ..security import current_scope
from .base import (
    CALENDAR_DAY_LABELS,
    TERM_OPTIONS,
    HoldsRoleFilter,
    ScopedModelView,
    _center_options,
    _choices,
    _class_options,
    _count,
    _fmt_label,
    _label_options,
    _parent_options,
    _school_options,
    _village_options,
    managed_centers_query,
    managed_classes_query,
    managed_schools_query,
    parent_choices_query,
    scoped_classes,
    scoped_schools,
    scoped_villages,
)

# --- 学校 -----------------------------------------------------------------------------------------


def _school_parent_fmt(view, context, model, name):
    return str(model.parent) if model.parent else ""


class SchoolView(ScopedModelView):
    """学校: the county / center / branch tree. Admin creates anything; center roles add branches
    to their center and rename their schools."""

    record = "school"
    column_list = ("name", "kind", "level", "parent", "code", "is_junior_high")
    column_details_list = ("id", "name", "kind", "level", "parent", "code", "is_junior_high")
    column_labels = {"id": _l("编号"), "name": _l("名称"), "kind": _l("类型"), "parent": _l("上级"),
                     "code": _l("学校代码"), "is_junior_high": _l("含初中"), "level": _l("学段")}
    column_choices = {"kind": _choices(SCHOOL_KIND_LABELS), "level": _choices(SCHOOL_LEVEL_LABELS)}
    column_searchable_list = ("name", "code")
    column_sortable_list = ("name", "kind", "code")
    column_default_sort = ("name", False)
    column_formatters = {"parent": _school_parent_fmt}
    form_columns = ("name", "kind", "level", "parent", "code", "is_junior_high")
    form_choices = {"kind": _choices(SCHOOL_KIND_LABELS), "level": _choices(SCHOOL_LEVEL_LABELS)}
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

    def create_via_service(self, form):
        school = org.create_school(db.session, current_scope(), name=form.name.data, kind=form.kind.data,
                                   parent_id=form.parent.data.id if form.parent.data else None,
                                   level=(form.level.data or None) if form.kind.data != "county" else None)
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

    record = "village"
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

    def create_via_service(self, form):
        return org.create_village(db.session, current_scope(), name=form.name.data,
                                  center_school_id=form.center_school.data.id)

    def delete_blocker(self, model):
        if _count(Student, Student.village_id == model.id) or _count(
                RoleAssignment, RoleAssignment.village_id == model.id):
            return _("该村还有学生或村委联络员，不能删除。")
        return None


# --- 班级 -----------------------------------------------------------------------------------------


class SchoolClassView(ScopedModelView):
    """班级: classes per school and school year."""

    record = "class"
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

    def on_model_change(self, form, model, is_created):
        # the same checks as the API's create_class (workflow.org.services)
        org.check_school_year(model.school_year)
        org.check_grade(model.grade)

    def create_via_service(self, form):
        return org.create_class(db.session, current_scope(), school_id=form.school.data.id,
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
    """用户: staff accounts and their scoped roles. Never shows the password hash. Creating,
    editing, resetting a password, deactivating and granting or removing roles all go through
    workflow.org.users, the same rule (SPEC §2 "who may grant what") as the JSON API; a new
    password or a deactivation ends the user's sessions and tokens."""

    record = "user"
    column_list = ("username", "name", "roles", "is_active")
    column_details_list = ("id", "username", "name", "roles", "is_active", "created_at")
    column_export_list = ("username", "name", "roles", "is_active")
    column_labels = {"id": _l("编号"), "username": _l("用户名"), "name": _l("姓名"), "roles": _l("角色"),
                     "is_active": _l("启用"), "created_at": _l("创建时间"), "password": _l("密码")}
    column_searchable_list = ("username", "name")
    column_sortable_list = ("username", "name", "is_active")
    column_default_sort = ("username", False)
    column_formatters = {"roles": _roles_fmt}
    form_columns = ("username", "name", "password", "is_active", "roles")
    form_extra_fields = {"password": PasswordField(
        _l("密码"), validators=[Optional()],
        description=_l("至少 10 位，不能包含用户名，不能是常见密码；编辑时留空表示不修改"))}
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

    def create_via_service(self, form):
        return users.create_user(db.session, current_scope(), username=form.username.data or "",
                                 password=form.password.data or "", name=form.name.data or "",
                                 roles=_role_items(form))

    def update_model(self, form, model):
        """Every change through workflow.org.users.update_user (never Flask-Admin's populate and
        commit): one rule for the name, a new password, (de)activation and the roles."""
        changes = {"name": form.name.data or "", "is_active": bool(form.is_active.data),
                   "roles": _role_items(form)}
        if form.password.data:
            changes["password"] = form.password.data
        try:
            users.update_user(db.session, current_scope(), model.id, **changes)
        except Exception as exc:
            discard_writes()
            if not self.handle_view_exception(exc):
                raise
            return False
        return True


# --- 学生 -----------------------------------------------------------------------------------------


def _id_card_fmt(view, context, model, name):
    return org.id_card_as_seen_by(current_scope(), model)


def _student_no_fmt(view, context, model, name):
    return student_no_as_seen_by(current_scope(), model)


def _flags_fmt(view, context, model, name):
    # the labels are lazy (translated at render time): join their text, not the proxies
    return names([str(FLAG_LABELS[f]) for f in model.flags])


def _guardians_fmt(view, context, model, name):
    return Markup("<br>").join(escape(f"{g.name}{paren(g.relation)} {g.phone}") for g in model.guardians)


def _student_page_fmt(view, context, model, name):
    # the student's page (cases, new-case forms) is where status changes start
    return Markup('<a href="{}" data-student-page="{}">{}</a>').format(
        url_for("cases.student", student_id=model.id), model.id, model.name)


class StudentView(ScopedModelView):
    """学生: the rolls. Created through workflow.org.services.create_student (which writes the first
    学籍记录); never deleted here — status changes go through the workflow processes."""

    record = "student"
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
                     "created_at": _l("登记时间"), **FLAG_LABELS}
    column_choices = {"gender": _choices(GENDER_LABELS), "status": _choices(STUDENT_STATUS_LABELS)}
    column_searchable_list = ("name", "student_no")
    column_sortable_list = ("name", "birth_date", "student_no", "status")
    column_default_sort = ("name", False)
    column_formatters = {"id_card_no": _id_card_fmt, "student_no": _student_no_fmt, "flags": _flags_fmt, "guardians": _guardians_fmt,
                         "gender": _fmt_label(GENDER_LABELS), "status": _fmt_label(STUDENT_STATUS_LABELS),
                         "name": _student_page_fmt}
    column_formatters_export = {"id_card_no": _id_card_fmt, "student_no": _student_no_fmt, "flags": _flags_fmt,
                                "gender": _fmt_label(GENDER_LABELS), "status": _fmt_label(STUDENT_STATUS_LABELS)}
    form_columns = ("name", "gender", "birth_date", "student_no", "id_card_no", "klass", "village",
                    "enrolled_on", *STUDENT_FLAGS, "guardians")
    form_extra_fields = {"enrolled_on": DateField(
        _l("入班日期"), validators=[Optional()],
        description=_l("孩子进入本班的日期，默认今天；学期中补录时填实际日期，基数按此计算"))}
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
        # The class changes through the workflow (change_class, transfers), not by editing; the
        # joining day belongs to the enrolment period, set when the child is enrolled.
        del form["klass"]
        del form["enrolled_on"]
        if obj is not None and not permissions.sees_full_id_card(current_scope(), obj):
            del form["id_card_no"]
            del form["student_no"]  # "G" + the ID number: masked alike (workflow/access/masking.py)
        return form

    def on_model_change(self, form, model, is_created):
        if "id_card_no" in form:
            model.id_card_no = org.normalize_id_card(model.id_card_no)
        model.student_no = (model.student_no or "").strip() or None
        org.check_village_in_catchment(model.village, model.school)

    def create_via_service(self, form):
        guardians = [{"name": e.form.name.data, "relation": e.form.relation.data, "phone": e.form.phone.data}
                     for e in form.guardians.entries if not form.guardians.should_delete(e)]
        return org.create_student(
            db.session, current_scope(), name=form.name.data or "", gender=form.gender.data,
            birth_date=form.birth_date.data, class_id=form.klass.data.id, village_id=form.village.data.id,
            student_no=form.student_no.data or None, id_card_no=form.id_card_no.data or None,
            flags=[f for f in STUDENT_FLAGS if form[f].data], guardians=guardians,
            enrolled_on=form.enrolled_on.data or None)

    def update_model(self, form, model):
        # keep who changed what (SPEC §5), as PATCH /api/v1/students/{id} does
        before = org.student_details(model)
        ok = super().update_model(form, model)
        if ok:
            org.record_changes(db.session, model, before, current_scope().user_id)
        return ok

    def get_export_name(self, export_type: str = "csv") -> str:
        from workflow import clock

        return f"students-{clock.today().isoformat()}.{export_type}"


# --- 校历 -----------------------------------------------------------------------------------------


def _days_fmt(view, context, model, name):
    return Markup("<br>").join(escape(f"{d.date.isoformat()} {CALENDAR_DAY_LABELS.get(d.kind, d.kind)}")
                               for d in model.days)


class TermView(ScopedModelView):
    """校历: a school's terms with their holidays and make-up school days (调休). Saved through
    workflow.org.services.set_calendar, the same rules as PUT /api/v1/calendar/{school_id}."""

    record = "term"
    column_list = ("school", "school_year", "term", "start", "end")
    column_details_list = ("id", "school", "school_year", "term", "start", "end", "days")
    column_labels = {"id": _l("编号"), "school": _l("学校"), "school_year": _l("学年"), "term": _l("学期"),
                     "start": _l("开学日期"), "end": _l("结束日期"), "days": _l("节假日与调休")}
    column_searchable_list = ("school_year",)
    column_sortable_list = ("school_year", "term", "start")
    column_default_sort = [("school_year", True), ("term", False)]
    column_formatters = {"days": _days_fmt}
    form_columns = ("school", "school_year", "term", "start", "end", "days")
    form_choices = {"term": TERM_OPTIONS}
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

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        # Which term a row is never changes; a different term is a new row.
        for name in ("school", "school_year", "term"):
            del form[name]
        return form

    @staticmethod
    def _days(form, kind):
        return [e.form.date.data for e in form.days.entries
                if not form.days.should_delete(e) and e.form.kind.data == kind]

    def _save(self, form, school_id, school_year, term):
        return org.set_calendar(db.session, current_scope(), school_id, school_year=school_year, term=term,
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
        except Exception as exc:
            discard_writes()
            if not self.handle_view_exception(exc):
                raise
            return False
        return True


# --- 学籍记录 -------------------------------------------------------------------------------------


class EnrolmentView(ScopedModelView):
    """学籍记录: enrolment periods, read-only (written by the workflow, never rewritten)."""

    record = "enrolment"
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
