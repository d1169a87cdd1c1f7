"""GET /api/v1/openapi.json describes every route of the API, publicly."""
import json
import re

import pytest

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def template(rule: str) -> str:
    """Flask's /cases/<int:case_id> → OpenAPI's /cases/{case_id}."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


@pytest.fixture
def spec(api, app):
    r = api.anonymous().get("/openapi.json")
    assert r.status_code == 200
    return r.json


def api_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            for method in sorted(rule.methods & METHODS):
                yield template(rule.rule), method.lower()


def operations(spec):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method.upper() in METHODS:
                yield path, method, op


def test_document_is_public_openapi_3(api):
    r = api.anonymous().get("/openapi.json")
    assert r.status_code == 200
    assert r.json["openapi"].startswith("3.")
    assert r.json["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert set(r.json["components"]["schemas"]["Error"]["properties"]["error"]["required"]) == \
        {"code", "message", "details"}


def test_every_api_route_is_described(app, spec):
    missing = [f"{method.upper()} {path}" for path, method in api_routes(app)
               if method not in spec["paths"].get(path, {})]
    assert not missing, "routes without an entry in some module's OPENAPI_PATHS: " + ", ".join(missing)


def test_nothing_is_described_that_does_not_exist(app, spec):
    routes = set(api_routes(app))
    extra = [f"{m.upper()} {p}" for p, m, _ in operations(spec) if (p, m) not in routes]
    assert not extra, "OPENAPI_PATHS entries without a route: " + ", ".join(extra)


def test_every_operation_has_a_chinese_summary_and_responses(spec):
    for path, method, op in operations(spec):
        where = f"{method.upper()} {path}"
        assert CHINESE.search(op.get("summary", "")), f"{where}: summary must be Chinese"
        codes = set(op.get("responses", {}))
        assert any(c.startswith("2") for c in codes), f"{where}: no success response"
        if method in ("post", "put", "patch"):
            assert "requestBody" in op, f"{where}: no requestBody"


def test_path_parameters_are_declared(spec):
    for path, method, op in operations(spec):
        declared = {p["name"] for p in op.get("parameters", []) + spec["paths"][path].get("parameters", [])
                    if p["in"] == "path"}
        assert declared == set(re.findall(r"{([^}]+)}", path)), f"{method.upper()} {path}"


def test_every_reference_resolves(spec):
    text = json.dumps(spec)
    for ref in set(re.findall(r'"\$ref": "#/([^"]+)"', text)):
        node = spec
        for part in ref.split("/"):
            assert part in node, f"unresolved $ref #/{ref}"
            node = node[part]


def test_protected_operations_need_the_bearer_token(spec):
    assert spec["security"] == [{"bearer": []}]
    public = {(p, m) for p, m, op in operations(spec) if op.get("security") == []}
    assert public == {("/api/v1/tokens", "post"), ("/api/v1/openapi.json", "get")}


def test_student_creation_is_documented_with_its_fields(spec):
    op = spec["paths"]["/api/v1/students"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert {"name", "gender", "birth_date", "class_id", "village_id", "student_no", "id_card_no", "flags",
            "guardians", "enrolled_on"} == set(schema["properties"])
    assert {"201", "401", "403", "404", "409", "422"} <= set(op["responses"])
