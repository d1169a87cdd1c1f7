"""Record screens of the catchment register."""
from __future__ import annotations

from flask import g
from flask_admin.contrib.sqla.filters import FilterEqual, IntEqualFilter
from flask_babel import lazy_gettext as _l

from models import (
    CatchmentChild,
    Village,
)
from workflow.access import permissions
from workflow.registers import catchment

from ..extensions import db
from ..labels import (
    CATCHMENT_STATUS_LABELS,
    GENDER_LABELS,
    HOUSEHOLD_LABELS,
)
from ..security import current_scope
from .base import (
    ScopedModelView,
    _fmt_label,
    _label_options,
    _village_options,
)

# --- 适龄儿童登记 ---------------------------------------------------------------------------------


def _sees_full_catchment_ids(child: CatchmentChild) -> bool:
    """permissions.sees_full_catchment_ids for the child's center school, asked once per request
    and center."""
    cache = g.setdefault("catchment_full_ids", {})
    village = db.session.get(Village, child.village_id)
    center_id = village.center_school_id if village is not None else None
    if center_id not in cache:
        cache[center_id] = center_id is not None and permissions.sees_full_catchment_ids(db.session, current_scope(), center_id)
    return cache[center_id]


def _catchment_id_fmt(view, context, model, name):
    return catchment.id_as_seen(model, _sees_full_catchment_ids(model))


class CatchmentChildView(ScopedModelView):
    """适龄儿童登记: the catchment registers of the villages in scope, read-only (they are imported
    and cross-checked on /registers/catchment). ID numbers in full only for the register's editors
    (permissions.sees_full_catchment_ids), masked elsewhere — in the list, the details and the
    export."""

    record = "catchment_child"
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

    def get_export_name(self, export_type: str = "csv") -> str:
        return f"catchment.{export_type}"
