"""Record screens of cases and ladder policies."""
from __future__ import annotations

from flask import flash, g, request, url_for
from flask_admin.contrib.sqla.filters import BooleanEqualFilter, FilterEqual, IntEqualFilter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import (
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
)
from wtforms.validators import DataRequired, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from models import (
    Case,
    LadderPolicy,
    School,
    User,
)
from workflow.absence import ladder
from workflow.access import permissions
from workflow.processes.absence import PROCESS as ABSENCE

from ..boundary import discard_writes
from ..extensions import db
from ..labels import (
    VISIT_KIND_LABELS,
    lazy_translated,
    role_label,
)
from ..security import current_scope
from .base import (
    ScopedModelView,
    _center_options,
    _local_time_fmt,
    _school_name,
    _school_options,
    managed_centers_query,
)

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

    record = "case"
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

# the rungs named by the absence process (translated when shown)
RUNG_LABELS = lazy_translated(ABSENCE.state_labels, ladder.RUNG_STATES)


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


def _center_fmt(view, context, model, name):
    return _school_name(model.center_school_id)


def _creator_fmt(view, context, model, name):
    user = db.session.get(User, model.created_by_id) if model.created_by_id else None
    return user.name if user is not None else ""


def _is_latest(policy: LadderPolicy) -> bool:
    """Whether new cases of the policy's center school open under it (its current policy, looked
    up once per request and center, not once per row)."""
    current = g.setdefault("ladder_current_policy_ids", {})
    if policy.center_school_id not in current:
        current[policy.center_school_id] = ladder.current_policy(db.session, policy.center_school_id).id
    return current[policy.center_school_id] == policy.id


def _is_current_fmt(view, context, model, name):
    return _("是") if _is_latest(model) else _("否")


def _ladder_form_class():
    """The edit form of a ladder: the four rungs in their fixed order, each with its day, visit
    kind, the roles who must take part and (optionally) the roles it is reported to."""
    role_choices = [(c, role_label(c)) for c in ladder.RUNG_ROLES]
    kind_choices = list(VISIT_KIND_LABELS.items())
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
    it writes a new version through workflow.absence.ladder.save_policy (the rules of PUT
    /api/v1/ladder/{center_school_id}); open cases keep the version they began under. Center head,
    center office (their center) and admin see every version and save new ones; school staff see
    their center's current version, read-only."""

    record = "ladder_policy"
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

    def _editable_centers(self) -> list[School]:
        return [c for c in managed_centers_query() if permissions.may_edit_ladder_policy(current_scope(), c.id)]

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
            policy = ladder.save_policy(db.session, current_scope(), current_user, center_id, self._rungs(form),
                                        version=self._version(form))
        except Exception as exc:
            discard_writes()
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
