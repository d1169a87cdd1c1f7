"""Reports API. GET /reports/oversight: a center school's oversight figures per school (the
same workflow.figures.oversight service as the /oversight page)."""
from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from workflow import clock
from workflow.errors import Invalid
from workflow.figures import oversight as ov

from ..extensions import db
from ..security import current_scope
from . import bp
from .figures import settings
from .openapi import DATE, array, integer, obj, op, query, string
from .util import to_int


@bp.get("/reports/oversight")
def oversight_report():
    """Per school of a center: open cases by process and state, overdue, open recovery cases,
    suspected dropouts, missing attendance days, loss rate (null until baselines are frozen)."""
    scope = current_scope()
    centers = ov.overseen_centers(db.session, scope)  # Forbidden (403) for other roles
    raw = request.args.get("center_school_id")
    if raw in (None, ""):
        if len(centers) != 1:
            raise Invalid(_("缺少参数 center_school_id"), details={"field": "center_school_id"})
        center = centers[0]
    else:
        center = ov.get_center(db.session, scope, to_int(raw, "center_school_id"))
    today = clock.today()
    threshold = settings().class_threshold
    rows = ov.school_figures(db.session, ov.schools_of_centers(db.session, [center.id]), today=today,
                             threshold=threshold)
    return jsonify({"center_school_id": center.id, "center_name": center.name, "date": today.isoformat(),
                    "items": [r.as_dict() for r in rows], "total": len(rows)})


_COUNTS = {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": integer()},
           "description": "流程 → 状态 → 件数"}
_ROW = obj({
    "school_id": integer(), "name": string(), "kind": string(enum=["center", "branch"]),
    "open_cases": integer(), "open_by_process": _COUNTS, "overdue": integer(),
    "open_recovery": integer(description="进行中的劝返案件（动态清零）"),
    "suspected_dropouts": integer(description="缺勤家访第三次及村校联合家访阶段的案件"),
    "missing_attendance_days": integer(description="近两周（不含今天）未登记考勤的班级上课日数"),
    "loss_rate": string(nullable=True, description="本学期流失率（小数字符串，如 \"0.0200\"）；基数冻结前为 null"),
    "over_threshold": {"type": "boolean", "description": "流失率严格高于阈值（默认 2%）"},
})

OPENAPI_PATHS = {
    "/api/v1/reports/oversight": {
        "get": op("中心校督导数据（按学校）", tag="reports", errors=(401, 403, 404, 422),
                  params=[query("center_school_id", description="中心校编号；只督导一个中心校时可省略")],
                  response=obj({"center_school_id": integer(), "center_name": string(), "date": DATE,
                                "items": array(_ROW), "total": integer()}),
                  description="中心校长、中心校教导主任（本中心校）、教育局督导（本县各中心校）和系统管理员可查看；"
                              "其他角色 403，管辖范围外的中心校 404。"),
    },
}
