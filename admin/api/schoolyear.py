"""A school's year over the API: the roster import and its template, the school-year rollover,
balanced placements (SPEC §5, API.md). Thin: parse → workflow.schoolyear → answer; the request
boundary commits (a `check`, a dry run and every error write nothing)."""
from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import gettext as _

from workflow.errors import Invalid
from workflow.schoolyear import placement, rollover, roster
from workflow.validation import Field

from ..downloads import attachment
from ..extensions import db
from ..security import current_scope
from . import bp
from .openapi import WRITE_ERRORS, array, integer, obj, op, path_param, string
from .util import json_body, multipart_form, to_int, validate

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- roster import ---------------------------------------------------------------------------------


@bp.post("/students/import")
def import_students():
    """Check (and, by mode, import) a school's roster .xlsx; every bad row by number, column, reason."""
    if request.mimetype != "multipart/form-data":
        raise Invalid(_("请以 multipart/form-data 上传，字段 file、school_id、school_year 和 mode"),
                      details={"field": "file"})
    form, files = multipart_form({"file"}, {"school_id", "school_year", "mode"})
    upload = files.get("file")
    if upload is None or upload.filename == "":
        raise Invalid(_("缺少必填字段：%(name)s", name="file"), details={"field": "file"})
    if not form.get("school_id"):
        raise Invalid(_("缺少必填字段：%(name)s", name="school_id"), details={"field": "school_id"})
    if not form.get("school_year"):
        raise Invalid(_("缺少必填字段：%(name)s", name="school_year"), details={"field": "school_year"})
    result = roster.import_roster(db.session, current_scope(), g.api_user, to_int(form["school_id"], "school_id"),
                                  form["school_year"], upload.read(), mode=form.get("mode") or "check")
    return jsonify(result.as_dict())


@bp.get("/students/import/template")
def roster_template():
    """The roster template (.xlsx, the header row of SPEC §5)."""
    return attachment(roster.template_bytes(), "学籍名册导入模板.xlsx", XLSX)


# --- rollover --------------------------------------------------------------------------------------

ROLLOVER_SPEC = {
    "school_id": Field(int),
    "from_year": Field(str),
    "to_year": Field(str),
    "dry_run": Field(bool, required=False),
    "include_branches": Field(bool, required=False),
}


@bp.post("/school-years/rollover")
def school_year_rollover():
    """Roll a school (or a center school and its branches) into the next school year."""
    body = validate(json_body(), ROLLOVER_SPEC)
    result = rollover.rollover(db.session, current_scope(), g.api_user, school_id=body["school_id"],
                               from_year=body["from_year"], to_year=body["to_year"],
                               dry_run=body.get("dry_run", True), include_branches=body.get("include_branches", False))
    return jsonify(result.as_dict())


# --- placements ------------------------------------------------------------------------------------

PLACEMENT_SPEC = {
    "school_id": Field(int),
    "school_year": Field(str),
    "grade": Field(int),
    "class_ids": Field(list, item=Field(int)),
    "student_ids": Field(list, item=Field(int)),
    "seed": Field(int, required=False, nullable=True),
}


def placement_json(row) -> dict:
    return {"id": row.id, "school_id": row.school_id, "school_year": row.school_year, "grade": row.grade,
            "seed": row.seed, "class_ids": row.class_ids, "student_ids": row.student_ids,
            "assignments": row.assignments}


@bp.post("/placements")
def create_placement():
    """Draw a balanced placement of a new intake (seed recorded) and enrol each child in the class drawn."""
    body = validate(json_body(), PLACEMENT_SPEC)
    row = placement.place_intake(db.session, current_scope(), g.api_user, **body)
    return jsonify(placement_json(row)), 201


@bp.get("/placements/<int:placement_id>")
def get_placement(placement_id: int):
    """A placement as recorded; `replayed` is the draw again from its seed (always equal)."""
    row = placement.get_placement(db.session, current_scope(), placement_id)
    return jsonify(placement_json(row) | {"replayed": placement.replay(db.session, row)})


# --- OpenAPI ---------------------------------------------------------------------------------------

_ERROR_ROW = obj({"row": integer(), "column": string(), "message": string()})
_ASSIGNMENT = obj({"student_id": integer(), "class_id": integer()})
_PLACEMENT = obj({"id": integer(), "school_id": integer(), "school_year": string(), "grade": integer(),
                  "seed": integer(), "class_ids": array(integer()), "student_ids": array(integer()),
                  "assignments": array(_ASSIGNMENT), "replayed": array(_ASSIGNMENT)})

OPENAPI_PATHS = {
    "/api/v1/students/import": {"post": {
        **op("导入学籍名册（.xlsx，先检查整个文件）", tag="org", errors=(401, 403, 404, 422),
             response=obj({"rows": integer(), "created": integer(), "updated": integer(),
                           "unchanged": integer(), "errors": array(_ERROR_ROW)}),
             description="列：姓名、性别、出生日期、身份证号、全国学籍号、年级、班级、入学日期、户籍村、监护人姓名、"
                         "监护人关系、监护人电话、特殊群体。每一行错误按行号、列名和原因列出。mode=check（默认）"
                         "只检查不写入；valid_only 只导入正确的行；all 有任何错误时返回 422（invalid_rows，"
                         "details.errors）且不写入。同一学籍号的学生更新而不重复登记，修改留痕；同一文件再导入不改变任何数据。"
                         "新生的入学日期即在班起始日，基数按此计算。"),
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file", "school_id", "school_year"],
            "properties": {"file": string("binary"), "school_id": integer(), "school_year": string(example="2026-2027"),
                           "mode": string(enum=list(roster.MODES))}}}}},
    }},
    "/api/v1/students/import/template": {"get": {
        **op("下载学籍名册导入模板（.xlsx）", tag="org", errors=(401,)),
        "responses": {"200": {"description": "模板文件", "content": {XLSX: {"schema": string("binary")}}},
                      "401": {"description": "未登录或令牌无效、已过期"}},
    }},
    "/api/v1/school-years/rollover": {"post": op(
        "学年升级（先预演，再执行）", tag="org", errors=WRITE_ERRORS,
        body=obj({"school_id": integer(), "from_year": string(example="2026-2027"),
                  "to_year": string(example="2027-2028"),
                  "dry_run": {"type": "boolean", "description": "默认 true：只预演，不写入"},
                  "include_branches": {"type": "boolean", "description": "中心校连同所属村小一起升级"}},
                 ["school_id", "from_year", "to_year"]),
        response=obj({"dry_run": {"type": "boolean"}, "schools": array(integer()),
                      "classes_created": integer(), "promoted": integer(), "graduated": integer(),
                      "suspended_carried": integer(), "carried_cases": integer(),
                      "unverified_classes": array(obj({"class_id": integer(), "school_id": integer(),
                                                       "name": string(), "grade": integer(),
                                                       "state": string(nullable=True)}))}),
        description="按年级+1、同名建下一学年班级；在校学生升级；小学六年级、初中和九年一贯制九年级毕业；"
                    "休学学生随班结转，未结案件保留（转入、复学所选班级改为新学年对应班级），辍学学生的劝返案件保持未结。"
                    "重复执行不再改变任何数据（各项计数为 0）。未完成学年末核实的班级列在 unverified_classes。")},
    "/api/v1/placements": {"post": op(
        "新生均衡分班（记录随机种子，可复现）", ok=201, tag="org", errors=WRITE_ERRORS, response=_PLACEMENT,
        body=obj({"school_id": integer(), "school_year": string(), "grade": integer(enum=[1, 7]),
                  "class_ids": array(integer()), "student_ids": array(integer()),
                  "seed": integer(nullable=True, description="不填则随机生成并记录")},
                 ["school_id", "school_year", "grade", "class_ids", "student_ids"]),
        description="只按性别均衡、随机分班，不使用成绩（不设重点班）。各班人数、男女生人数相差不超过 1。"
                    "同样的学生、班级和种子总是得到同样的分班结果。")},
    "/api/v1/placements/{placement_id}": {"get": op(
        "查看一次分班（replayed 为按记录的种子重新抽签的结果，与 assignments 相同）", tag="org",
        response=_PLACEMENT, params=[path_param("placement_id")])},
}
