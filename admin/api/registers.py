"""Registers and reports API: the catchment register (import, list, export, cross-check), the weekly
report and the status-change notice. Thin: parse → workflow.registers.catchment / workflow.registers.reports (scope,
404, 403, 422) → respond."""
from __future__ import annotations

import datetime as dt

from flask import jsonify, request
from flask_babel import gettext as _

from workflow import clock
from workflow.access import permissions
from workflow.errors import Invalid
from workflow.registers import catchment, reports
from workflow.validation import Field

from ..downloads import attachment
from ..extensions import db
from ..observe import security_log
from ..security import current_actor, current_scope
from . import bp
from .openapi import DATE, array, integer, listing, obj, op, query, string
from .util import date_arg as util_date_arg
from .util import json_body, multipart_form, to_int, validate

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- query parsing ----------------------------------------------------------------------------


def int_arg(name: str, required: bool = False) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if required:
            raise Invalid(_("缺少必填字段：%(name)s", name=name), details={"field": name})
        return None
    return to_int(raw, name)


def date_arg(name: str, default: dt.date | None = None) -> dt.date:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is not None:
            return default
        raise Invalid(_("缺少必填字段：%(name)s", name=name), details={"field": name})
    return util_date_arg(name, default)


def upload_form() -> tuple[dict, bytes]:
    """The form fields and the bytes of `file` of a multipart request; 422 naming the field."""
    if request.mimetype != "multipart/form-data":
        raise Invalid(_("请以 multipart/form-data 上传，字段 file 和 village_id"), details={"field": "file"})
    form, files = multipart_form({"file"}, {"village_id", "only_valid"})
    upload = files.get("file")
    if upload is None or upload.filename == "":
        raise Invalid(_("缺少必填字段：%(name)s", name="file"), details={"field": "file"})
    return form.to_dict(), upload.read()


def parse_flag(value, name: str = "only_valid") -> bool:
    flag = (value or "").strip().lower()
    if flag in ("", "0", "false", "no", "off"):
        return False
    if flag in ("1", "true", "yes", "on"):
        return True
    raise Invalid(_("字段 %(name)s 必须是 true 或 false", name=name), details={"field": name})


def parse_int(value, name: str) -> int:
    if value is None:
        raise Invalid(_("缺少必填字段：%(name)s", name=name), details={"field": name})
    return to_int(value, name)


# --- serializers ------------------------------------------------------------------------------


def child_json(c, full_ids: bool) -> dict:
    return {"id": c.id, "village_id": c.village_id, "name": c.name, "gender": c.gender,
            "birth_date": c.birth_date.isoformat(), "id_card_no": catchment.id_as_seen(c, full_ids),
            "household_status": c.household_status, "status": c.status, "destination": c.destination,
            "student_id": c.student_id, "notes": c.notes, "updated_at": clock.local_iso(c.updated_at)}


def import_json(result) -> dict:
    return {"imported": result.imported, "created": result.created, "updated": result.updated,
            "unchanged": result.unchanged, "rows": result.check.rows_total,
            "errors": result.check.error_dicts(), "warnings": result.check.warning_dicts()}


# --- routes -----------------------------------------------------------------------------------


@bp.post("/catchment/import")
def import_catchment():
    """Import a village's register from .xlsx; 422 with every bad row unless the file is clean or
    only_valid is set."""
    form, data = upload_form()
    village_id = parse_int(form.get("village_id"), "village_id")
    only_valid = parse_flag(form.get("only_valid"))
    result = catchment.import_register(db.session, current_scope(), current_actor(), village_id, data,
                                       only_valid=only_valid)
    return jsonify(import_json(result))


@bp.get("/catchment")
def list_catchment():
    """A village's register (ID numbers masked for those who may not see them in full)."""
    scope = current_scope()
    village = catchment.get_village(db.session, scope, int_arg("village_id", required=True))
    children = catchment.list_children(db.session, scope, village.id)
    full = permissions.sees_full_catchment_ids(db.session, scope, village.center_school_id)
    if full and children:
        security_log.info("full catchment ID numbers shown: village=%s children=%d", village.id, len(children),
                          extra={"event": "full_id_view", "path": request.path, "village_id": village.id,
                                 "count": len(children)})
    return jsonify({"items": [child_json(c, full) for c in children], "total": len(children)})


@bp.get("/catchment/export")
def export_catchment():
    """A village's register as .xlsx, in the import's columns."""
    village, data = catchment.export_register(db.session, current_scope(), int_arg("village_id", required=True))
    return attachment(data, f"{village.name}适龄儿童登记表.xlsx", XLSX)


@bp.post("/catchment/crosscheck")
def crosscheck_catchment():
    """Cross-check a village's (or a center's) register against the rolls; opens recovery cases."""
    body = validate(json_body(), {"village_id": Field(int, required=False, nullable=True),
                                  "center_school_id": Field(int, required=False, nullable=True)})
    result = catchment.crosscheck(db.session, current_scope(), current_actor(),
                                  village_id=body.get("village_id"), center_school_id=body.get("center_school_id"))
    return jsonify(result.as_dict())


@bp.get("/reports/weekly")
def weekly_report():
    """The weekly report of a school, or of a center school's schools with the total."""
    report = reports.weekly_report(db.session, current_scope(), school_id=int_arg("school_id"),
                                   center_school_id=int_arg("center_school_id"),
                                   week_of=date_arg("week_of", clock.today()))
    return jsonify(report.as_dict())


@bp.get("/reports/notice")
def status_notice():
    """The status-change notice of a school for a period (no ID numbers)."""
    school, items = reports.status_change_notice(db.session, current_scope(),
                                                 school_id=int_arg("school_id", required=True),
                                                 date_from=date_arg("from"), date_to=date_arg("to"))
    return jsonify({"school_id": school.id, "school": school.name, "from": request.args["from"],
                    "to": request.args["to"], "items": [i.as_dict() for i in items], "total": len(items)})


# --- OpenAPI ----------------------------------------------------------------------------------

_PROBLEM = obj({"row": integer(description="Excel 行号"), "field": string(description="列名，如 出生日期"),
                "reason": string()}, ["row", "field", "reason"])
_IMPORT = obj({"imported": integer(description="写入的行数（新增+更新+无变化）"), "created": integer(),
               "updated": integer(), "unchanged": integer(), "rows": integer(description="文件中的数据行数"),
               "errors": array(_PROBLEM), "warnings": array(_PROBLEM)})
_CHILD = obj({"id": integer(), "village_id": integer(), "name": string(), "gender": string(enum=["M", "F"]),
              "birth_date": DATE, "id_card_no": string(nullable=True, description="无权查看全号者看到前6后4"),
              "household_status": string(enum=["local", "migrant"]),
              "status": string(enum=["enrolled_here", "enrolled_elsewhere", "deferred", "not_enrolled"]),
              "destination": string(nullable=True), "student_id": integer(nullable=True),
              "notes": string(nullable=True), "updated_at": string("date-time")})
_CROSS_ITEM = {"type": "object", "properties": {
    "child_id": integer(), "name": string(), "village_id": integer(), "village": string(), "birth_date": DATE,
    "register_status": string(), "student_id": integer(nullable=True), "student_status": string(nullable=True),
    "case_id": integer(nullable=True), "note": string()}}
_CROSS = {"type": "object", "properties": {
    "checked": integer(), "matched": integer(), "not_on_rolls": array(_CROSS_ITEM),
    "not_active": array(_CROSS_ITEM), "registered_otherwise": array(_CROSS_ITEM),
    "enrolled_nowhere": array(_CROSS_ITEM), "opened_case_ids": array(integer())}}
_WEEK_ROW = {"type": "object", "properties": {
    "school_id": integer(nullable=True), "name": string(),
    "absences": obj({"unexcused_marks": integer(), "students": integer()}),
    "open_ladder_cases": integer(), "ladder_by_rung": {"type": "object", "additionalProperties": integer()},
    "overdue_visits": integer(), "status_changes": {"type": "object", "additionalProperties": integer()},
    "dropouts": integer(), "recoveries_opened": integer(), "recovered": integer()}}
_NOTICE_ITEM = obj({"student_id": integer(), "student_name": string(), "class_name": string(), "kind": string(
    enum=list(reports.KIND_LABELS)), "kind_label": string(), "effective_date": DATE, "case_id": integer(),
    "detail": string()})

OPENAPI_PATHS = {
    "/api/v1/catchment/import": {"post": {
        **op("从 Excel（.xlsx）导入一个村的适龄儿童登记表", response=_IMPORT, errors=(401, 403, 404, 422),
             tag="registers",
             description="先检查整个文件：每一行错误都按行号、列名和原因列出（errors）。文件有错误行时返回 422 "
                         "（error.code = invalid_rows，error.details.errors），不写入任何数据；only_valid=true "
                         "时只导入正确的行并返回 200。年龄不在 6–15 岁之间只是提醒（warnings），照常登记。"
                         "同一村中身份证号相同（无身份证号时姓名和出生日期相同）的儿童会被更新，不会重复登记。"
                         "非 .xlsx 文件返回 422（invalid_file）。村不在管辖范围内返回 404。"),
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file", "village_id"],
            "properties": {"file": string("binary"), "village_id": integer(),
                           "only_valid": string(enum=["true", "false"], description="只导入正确的行")}}}}},
    }},
    "/api/v1/catchment": {"get": op(
        "一个村的适龄儿童登记表", response=listing(_CHILD), errors=(401, 404, 422), tag="registers",
        params=[query("village_id", required=True, description="村")])},
    "/api/v1/catchment/export": {"get": {
        **op("导出一个村的登记表（.xlsx，列与导入相同）", errors=(401, 404, 422), tag="registers",
             params=[query("village_id", required=True, description="村")]),
        "responses": {"200": {"description": "Excel 文件", "content": {XLSX: {"schema": string("binary")}}},
                      **{str(c): {"description": d, "content": {"application/json": {
                          "schema": {"$ref": "#/components/schemas/Error"}}}}
                         for c, d in ((401, "未登录"), (404, "村不存在或不在管辖范围内"), (422, "缺少 village_id"))}},
    }},
    "/api/v1/catchment/crosscheck": {"post": op(
        "把登记表与学籍核对；为未在任何学校就读的适龄儿童开启劝返案件", response=_CROSS,
        body=obj({"village_id": integer(), "center_school_id": integer()}), errors=(401, 403, 404, 422),
        tag="registers",
        description="village_id 与 center_school_id 二选一。重复核对不会重复开案（一人一案）。"
                    "opened_case_ids 是本次新开的劝返案件。")},
    "/api/v1/reports/weekly": {"get": op(
        "周报：缺勤、家访阶梯各级在办案件、逾期家访、学籍异动、辍学、劝返", errors=(401, 404, 422), tag="reports",
        response={"type": "object", "properties": {
            "week_start": DATE, "week_end": DATE, "center_school_id": integer(nullable=True),
            "schools": array(_WEEK_ROW), "total": _WEEK_ROW}},
        params=[query("school_id", description="学校（与 center_school_id 二选一）"),
                query("center_school_id", description="中心校：按学校汇总"),
                query("week_of", DATE, "该周内任一天，默认今天（周一至周日）")])},
    "/api/v1/reports/notice": {"get": op(
        "异动公示：一所学校在期间内生效的转学、休学、辍学、返校（不含身份证号）", errors=(401, 404, 422),
        tag="reports",
        response={"type": "object", "properties": {
            "school_id": integer(), "school": string(), "from": DATE, "to": DATE,
            "items": array(_NOTICE_ITEM), "total": integer()}},
        params=[query("school_id", required=True, description="学校"),
                query("from", DATE, "开始日期（含）", required=True),
                query("to", DATE, "结束日期（含）", required=True)])},
}
