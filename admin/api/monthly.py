"""Monthly reports API (一月一报告, SPEC §3.9). A report is a case: it is opened with
`POST /cases` (`process: monthly_report`, `data: {school_id, month}`) and moved with the
transitions; these calls add the county's views: the roll-up (which schools are late, per month),
the reports waiting for the county's review, and a report's Excel export. Thin: the rules are in
workflow/reporting/monthly.py."""
from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from models import Case
from workflow import clock
from workflow.access import permissions
from workflow.access.scope import get_in_scope
from workflow.cases import serialize
from workflow.errors import Conflict, Forbidden, Invalid
from workflow.reporting import monthly

from ..downloads import attachment
from ..extensions import db
from ..security import current_scope
from . import bp
from .openapi import DATE, ID, array, integer, obj, op, path_param, query, string
from .util import int_arg

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_MONTHS = 24


def _require_pages():
    scope = current_scope()
    if not permissions.may_open_monthly_reports(scope):
        raise Forbidden(_("您无权查看月报"))
    return scope


def months_arg() -> list[str]:
    """`?months=2026-09,2026-10` (at most 24), else the six months before this one."""
    raw = request.args.get("months")
    if raw in (None, ""):
        return monthly.recent_months(clock.today(), 6)
    months = [m.strip() for m in raw.split(",") if m.strip()]
    if not months or len(months) > MAX_MONTHS:
        raise Invalid(_("参数 months 须为 1 到 24 个以逗号分隔的月份（YYYY-MM）"), details={"field": "months"})
    for m in months:
        if not monthly.MONTH_PATTERN.match(m):
            raise Invalid(_("参数 months 须为 1 到 24 个以逗号分隔的月份（YYYY-MM）"), details={"field": "months"})
    return sorted(set(months))


@bp.get("/monthly-reports")
def monthly_rollup():
    """Per school in scope (or `?school_id=`) and month: the report's state, deadline, and
    whether it is late."""
    scope = _require_pages()
    months = months_arg()
    rows = monthly.rollup(db.session, scope, months=months, today=clock.today(), school_id=int_arg("school_id"))
    return jsonify({"months": months, "items": [r.as_dict() for r in rows], "total": len(rows)})


@bp.get("/monthly-reports/review")
def monthly_review():
    """The county supervisor's queue: signed reports of the schools of the county, to accept
    or send back."""
    scope = _require_pages()
    cases = monthly.reports_to_review(db.session, scope)
    items = [{**serialize.case_summary(c), "month": c.period} for c in cases]
    return jsonify({"items": items, "total": len(items)})


@bp.get("/monthly-reports/<int:case_id>/export")
def monthly_export(case_id: int):
    """The submitted report as .xlsx (404 out of scope or not a monthly report; 409 before it
    was submitted: there are no frozen figures yet)."""
    scope = _require_pages()
    case = get_in_scope(db.session, scope, Case, case_id)
    if case.process != monthly.PROCESS_NAME:
        raise Invalid(_("该案件不是月报"), details={"field": "case_id"})
    if not (case.data or {}).get("figures"):
        raise Conflict(_("月报尚未提交，还没有统计数据"), code="invalid_state")
    return attachment(monthly.report_workbook(case), f"月报-{case.school.name}-{case.period}.xlsx", XLSX)


_CELL = obj({"month": string(), "case_id": integer(nullable=True), "state": string(nullable=True), "due": DATE,
             "is_late": {"type": "boolean", "description": "未在次月第 5 个教学日前提交（仍未提交或逾期提交）"},
             "is_overdue": {"type": "boolean", "description": "已过截止日仍未提交"},
             "submitted_on": string("date", nullable=True)})
_ROW = obj({"school_id": ID, "name": string(), "center_school_id": integer(nullable=True),
            "late": integer(description="迟报月数"), "months": array(_CELL)})

OPENAPI_PATHS = {
    "/api/v1/monthly-reports": {
        "get": op("月报汇总：各校各月的月报状态与迟报", tag="monthly_reports", errors=(401, 403, 404, 422),
                  params=[query("months", string(), "以逗号分隔的月份 YYYY-MM（最多 24 个）；默认为本月之前的 6 个月"),
                          query("school_id", integer(), "只看一所学校（下钻）")],
                  response=obj({"months": array(string()), "items": array(_ROW), "total": integer()}),
                  description="教育局督导（本县学校）、中心校（本中心校及其分校）、校长和教导处（本校）与系统管理员可查看；"
                              "其他角色 403。月报本身是案件：用 POST /api/v1/cases 建立（process=monthly_report，"
                              "data={school_id, month}），用案件操作提交、签发、接收、退回和复核。"),
    },
    "/api/v1/monthly-reports/review": {
        "get": op("待县局审核的月报（校长已签发）", tag="monthly_reports", errors=(401, 403),
                  response=obj({"items": array({"type": "object"}), "total": integer()}),
                  description="教育局督导的待办：本县各校已签发、待接收或退回的月报；其他角色为空列表。"),
    },
    "/api/v1/monthly-reports/{case_id}/export": {
        "get": {**op("导出月报（Excel）", tag="monthly_reports", errors=(401, 403, 404, 409, 422),
                     params=[path_param("case_id", "月报案件编号")]),
                "responses": {"200": {"description": "月报 .xlsx（提交时冻结的数据）",
                                      "content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}},
                              **{str(c): r for c, r in op("", errors=(401, 403, 404, 409, 422))["responses"].items()
                                 if c != "200"}}},
    },
}
