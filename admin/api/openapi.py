"""GET /openapi.json: the OpenAPI 3 description, assembled from the API modules.

Each module of this package may define a module-level dict `OPENAPI_PATHS`: an OpenAPI "paths"
fragment keyed by the full path template (e.g. "/api/v1/students/{student_id}", placeholders
named as in the Flask rule) with one operation per HTTP method. The helpers below keep those
fragments short. tests/api/test_openapi.py checks that every /api/v1 route is described.
"""
from __future__ import annotations

import sys
from types import ModuleType

from flask import jsonify

from . import bp

# --- helpers for the OPENAPI_PATHS fragments of the API modules --------------------------------

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_TEXT = {
    400: "请求体不是有效的 JSON",
    401: "未登录或令牌无效、已过期",
    403: "角色无权执行该操作",
    404: "对象不存在或不在您的管辖范围内",
    409: "冲突：重复（duplicate）、版本过期（stale_version）、状态不允许（invalid_state）或条件未满足（guard_failed）",
    422: "输入有误：缺少字段、未知字段、类型错误、超出范围或含控制字符（message 指明字段）；请求体不是 JSON 对象、"
         "超过 1 MB 或嵌套超过 32 层",
}


def string(fmt: str | None = None, **kw) -> dict:
    out = {"type": "string", **kw}
    if fmt:
        out["format"] = fmt
    return out


def integer(**kw) -> dict:
    return {"type": "integer", **kw}


def array(items: dict, **kw) -> dict:
    return {"type": "array", "items": items, **kw}


def obj(properties: dict, required: list[str] | tuple = (), **kw) -> dict:
    out = {"type": "object", "properties": properties, "additionalProperties": False, **kw}
    if required:
        out["required"] = list(required)
    return out


def listing(item: dict) -> dict:
    """The shape of every list answer: {"items": [...], "total": n}."""
    return {"type": "object", "properties": {"items": array(item), "total": integer()},
            "required": ["items", "total"]}


def query(name: str, schema: dict | None = None, description: str = "", required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema or integer(),
            "description": description}


# The database's integer range: a larger id in a path answers 404, in a query or body 422.
INT32_MAX = 2**31 - 1


def path_param(name: str, description: str = "") -> dict:
    return {"name": name, "in": "path", "required": True,
            "schema": integer(format="int32", minimum=0, maximum=INT32_MAX), "description": description}


# Fragments every API module's description uses.
ID = integer(format="int32")
DATE = string("date")
# what a write can answer besides its success
WRITE_ERRORS = (400, 401, 403, 404, 409, 422)

PAGINATION = [query("limit", integer(minimum=1, maximum=500, default=50), "每页条数"),
              query("offset", integer(minimum=0, maximum=INT32_MAX, default=0), "跳过条数")]


def op(summary: str, *, ok: int = 200, response: dict | None = None, body: dict | None = None,
       errors=(401, 404, 422), params: list | None = None, description: str = "",
       public: bool = False, tag: str | None = None) -> dict:
    """One operation: Chinese summary, optional JSON request body, success and error responses."""
    out: dict = {"summary": summary, "responses": {
        str(ok): {"description": "成功",
                  **({"content": {"application/json": {"schema": response}}} if response else {})},
    }}
    if description:
        out["description"] = description
    if tag:
        out["tags"] = [tag]
    if params:
        out["parameters"] = params
    if body is not None:
        out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    for code in errors:  # a public operation lists 401 only when it answers it (a wrong password)
        out["responses"][str(code)] = {"description": ERROR_TEXT.get(code, "错误"),
                                       "content": {"application/json": {"schema": ERROR_REF}}}
    if public:
        out["security"] = []
    return out


COMPONENTS = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                   "description": "POST /api/v1/tokens 取得的令牌"}},
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": string(description="机器可读的错误代码，如 invalid、not_found、duplicate"),
                    "message": string(description="给人看的说明（默认中文），输入错误时指明字段"),
                    "details": {"type": "object", "description": "补充信息，如 {\"field\": \"class_id\"}"},
                },
            }},
        },
    },
}

OPENAPI_PATHS = {
    "/api/v1/openapi.json": {
        "get": op("本接口的 OpenAPI 3 描述", response={"type": "object"}, errors=(), public=True,
                  tag="meta"),
    },
}


def api_modules() -> list[ModuleType]:
    """The modules imported by the API package (admin/api/__init__.py), in name order."""
    pkg = sys.modules[__package__]
    return sorted((m for m in vars(pkg).values()
                   if isinstance(m, ModuleType) and m.__name__.startswith(__package__ + ".")),
                  key=lambda m: m.__name__)


def build_spec() -> dict:
    """Merge every module's OPENAPI_PATHS (a module without one contributes nothing)."""
    paths: dict[str, dict] = {}
    for module in api_modules():
        for path, operations in (getattr(module, "OPENAPI_PATHS", None) or {}).items():
            paths.setdefault(path, {}).update(operations)
    return {
        "openapi": "3.0.3",
        "info": {"title": "保学 Baoxue JSON API", "version": "1",
                 "description": "控辍保学工作流的 JSON 接口。除取令牌与本文档外，每个请求都需要 "
                                "Authorization: Bearer <令牌>。超出管辖范围的对象一律返回 404。"},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": COMPONENTS,
    }


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document (public)."""
    return jsonify(build_spec())
