"""Suspected-dropout checks over the API (SPEC §3.10, §5, API.md): the outside list's import, the
comparisons (四查三比对) and their list of formerly poor households, the close-watch groups. Thin:
parse → workflow.reporting → answer; the request boundary commits (a `check` and every error write
nothing)."""
from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from workflow.errors import Invalid
from workflow.reporting import checks, comparisons, groups
from workflow.validation import Field

from ..extensions import db
from ..security import current_scope
from . import bp
from .openapi import ID, array, integer, obj, op, query, string
from .util import int_arg, json_body, multipart_form, to_int, validate


def _upload(fields: set[str]):
    if request.mimetype != "multipart/form-data":
        raise Invalid(_("请以 multipart/form-data 上传，字段 file 和 mode"), details={"field": "file"})
    form, files = multipart_form({"file"}, fields)
    upload = files.get("file")
    if upload is None or upload.filename == "":
        raise Invalid(_("缺少必填字段：%(name)s", name="file"), details={"field": "file"})
    return form, upload.read()


@bp.post("/dropout-checks/import")
def import_dropout_list():
    """Check (and, by mode, open checks for) an outside suspected-dropout list (.xlsx)."""
    form, data = _upload({"mode"})
    result = checks.import_list(db.session, current_scope(), g.api_user, data, mode=form.get("mode") or "check")
    return jsonify(result.as_dict())


COMPARISON_SPEC = {"center_school_id": Field(int)}


@bp.post("/comparisons/run")
def run_comparisons():
    """Run the three comparisons of a center school's area; open a check per new hit."""
    body = validate(json_body(), COMPARISON_SPEC)
    result = comparisons.run_comparisons(db.session, current_scope(), g.api_user,
                                         center_school_id=body["center_school_id"])
    return jsonify(result.as_dict())


@bp.post("/poor-households/import")
def import_poor_households():
    """Check (mode `check`) or replace (mode `replace`) a center's list of formerly poor households."""
    form, data = _upload({"mode", "center_school_id"})
    if not form.get("center_school_id"):
        raise Invalid(_("缺少必填字段：%(name)s", name="center_school_id"), details={"field": "center_school_id"})
    result = comparisons.import_poor_households(
        db.session, current_scope(), g.api_user, center_school_id=to_int(form["center_school_id"], "center_school_id"),
        data=data, mode=form.get("mode") or "check")
    return jsonify(result.as_dict())


@bp.get("/close-watch")
def close_watch():
    """Close-watch groups: counts per group and school, and the children with an open case."""
    center_id = int_arg("center_school_id")
    panel = groups.close_watch(db.session, current_scope(), center_ids=None if center_id is None else [center_id])
    return jsonify(panel.as_dict())


# --- OpenAPI ---------------------------------------------------------------------------------------

_ERROR_ROW = obj({"row": integer(), "column": string(), "message": string()})
_UNMATCHED = obj({"row": integer(), "name": string(), "message": string()})
_HIT = obj({"student_id": ID, "name": string(), "school_id": ID, "school": string(), "note": string(),
            "case_id": ID, "case_state": string(), "opened": {"type": "boolean"}})
_KINDS = {k: integer() for k in comparisons.KINDS}


def _multipart(fields: dict, required: list[str]) -> dict:
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": required, "properties": {"file": string("binary"), **fields}}}}}


OPENAPI_PATHS = {
    "/api/v1/dropout-checks/import": {"post": {
        **op("导入疑似辍学名单（.xlsx，先检查整个文件）", tag="cases", errors=(401, 403, 422),
             response=obj({"rows": integer(), "matched": integer(), "opened": integer(), "already_open": integer(),
                           "case_ids": array(ID), "unmatched": array(_UNMATCHED), "errors": array(_ERROR_ROW)}),
             description="列：姓名、身份证号或全国学籍号、户籍村、来源说明。按身份证号或学籍号匹配您管辖范围内的学生；"
                         "找不到的行列在 unmatched 中（不算错误）。mode=check（默认）只检查不写入；valid_only 为正确且匹配的行"
                         "开启疑似辍学核实（dropout_check）；all 有任何错误时返回 422 且不写入。已有未结核实或同一名单已核实过的"
                         "学生不再重复开启（already_open）。"),
        "requestBody": _multipart({"mode": string(enum=list(checks.MODES))}, ["file"]),
    }},
    "/api/v1/comparisons/run": {"post": op(
        "运行四查三比对，为每个新发现开启疑似辍学核实", tag="cases", errors=(400, 401, 403, 404, 409, 422),
        body=obj({"center_school_id": ID}, ["center_school_id"]),
        response=obj({"opened": integer(), "already_open": integer(), "by_kind": obj(_KINDS),
                      "items": obj({k: array(_HIT) for k in comparisons.KINDS})}),
        description="not_enrolled：户籍（适龄儿童登记）比学籍，适龄未入学；absent_on_roll：学籍比在校，近 10 个上学日"
                    "未到校（名在人不在）；poor_household：辍学学生比脱贫户名单。再次运行不会重复开启（opened 为 0）。")},
    "/api/v1/poor-households/import": {"post": {
        **op("导入脱贫户名单（.xlsx：户主姓名、姓名、身份证号、户籍村）", tag="cases", errors=(401, 403, 404, 422),
             response=obj({"rows": integer(), "imported": integer(), "errors": array(_ERROR_ROW)}),
             description="mode=check（默认）只检查；replace 用本名单替换该中心校原有名单，有任何错误时返回 422 且不写入。"),
        "requestBody": _multipart({"center_school_id": ID, "mode": string(enum=list(comparisons.POOR_MODES))},
                                  ["file", "center_school_id"]),
    }},
    "/api/v1/close-watch": {"get": op(
        "重点群体：各群体各校人数、有未结缺勤/疑似辍学核实/劝返案件的人数和名单", tag="reports", errors=(401, 403, 422),
        params=[query("center_school_id", ID, "中心校（含所属村小）；不填为您管辖的全部学校")],
        response=obj({"schools": array(obj({"id": ID, "name": string()})),
                      "groups": array(obj({"flag": string(), "label": string(), "total": integer(),
                                           "with_open_case": integer(),
                                           "by_school": array(obj({"school_id": ID, "school": string(),
                                                                   "total": integer(), "with_open_case": integer()})),
                                           "children": array(obj({"student_id": ID, "name": string(),
                                                                  "school_id": ID, "school": string(),
                                                                  "cases": array(obj({"id": ID, "process": string(),
                                                                                      "state": string()}))}))}))}))},
}
