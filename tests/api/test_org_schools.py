"""POST/GET /schools and /villages: who may create which node, what each role sees."""
import pytest
from sqlalchemy import func, select

from models import School, Village


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def school_body(world, kind="branch", parent="center", name="新建村小"):
    parent_id = getattr(world, parent).id if parent else None
    return {"name": name, "kind": kind, "parent_id": parent_id}


# --- POST /schools -------------------------------------------------------------------------


@pytest.mark.parametrize("role,kind,parent", [
    ("admin", "county", None),
    ("admin", "center", "county"),
    ("admin", "center", None),
    ("admin", "branch", "center"),
    ("center_head", "branch", "center"),
    ("center_office", "branch", "center"),
])
def test_allowed_roles_create_schools(api, world, session, role, kind, parent):
    r = api.as_user(world[role]).post("/schools", json=school_body(world, kind, parent))
    assert r.status_code == 201, r.json
    school = session.get(School, r.json["id"])
    assert (school.kind, school.name) == (kind, "新建村小")
    assert r.json["parent_id"] == (getattr(world, parent).id if parent else None)


def test_new_branch_is_placed_under_its_center_and_county(api, world, session):
    r = api.as_user(world["center_office"]).post("/schools", json=school_body(world))
    assert r.json["center_id"] == world.center.id
    assert r.json["county_id"] == world.county.id
    listed = api.get("/schools").json["items"]
    assert r.json["id"] in [s["id"] for s in listed]


def test_new_county_is_its_own_county(api, world):
    r = api.as_user(world["admin"]).post("/schools", json=school_body(world, "county", None))
    assert r.json["county_id"] == r.json["id"]


@pytest.mark.parametrize("role,kind,parent,status", [
    # another center's school is out of scope: 404 whatever the role
    ("center_head", "branch", "other_center", 404),
    ("center_office", "branch", "other_center", 404),
    ("principal", "branch", "center", 404),
    ("teacher", "branch", "center", 404),
    ("liaison", "branch", "center", 404),
    ("center_head", "center", "county", 404),  # the county node is above a center's scope
    # in scope but not a role that creates schools there: 403
    ("supervisor", "branch", "center", 403),
    ("center_head", "center", None, 403),
    ("center_head", "county", None, 403),
    ("supervisor", "center", "county", 403),
])
def test_others_may_not_create_schools(api, world, session, role, kind, parent, status):
    before = count(session, School)
    r = api.as_user(world[role]).post("/schools", json=school_body(world, kind, parent))
    assert r.status_code == status, r.json
    assert count(session, School) == before
    if status == 404:
        assert r.json["error"]["details"] == {"field": "parent_id"}
        assert r.json["error"]["message"] == "学校不存在或不在您的管辖范围内"


@pytest.mark.parametrize("body,field", [
    ({"kind": "branch", "parent_id": None}, "name"),
    ({"name": "  ", "kind": "branch", "parent_id": None}, "name"),
    ({"name": "甲", "kind": "village", "parent_id": None}, "kind"),
    ({"name": "甲", "kind": "branch"}, "parent_id"),
    ({"name": "甲", "kind": "branch", "parent_id": "3"}, "parent_id"),
    ({"name": "甲", "kind": "branch", "parent_id": None, "code": "x"}, "code"),
])
def test_malformed_school_is_422_naming_the_field(api, world, session, body, field):
    before = count(session, School)
    r = api.as_user(world["admin"]).post("/schools", json=body)
    assert r.status_code == 422
    assert r.json["error"]["details"]["field"] == field
    assert field in r.json["error"]["message"]
    assert count(session, School) == before


@pytest.mark.parametrize("kind,parent", [
    ("branch", None),
    ("branch", "branch"),
    ("branch", "county"),
    ("center", "center"),
    ("county", "county"),
])
def test_school_tree_rules_are_422(api, world, session, kind, parent):
    before = count(session, School)
    r = api.as_user(world["admin"]).post("/schools", json=school_body(world, kind, parent))
    assert r.status_code == 422
    assert r.json["error"]["details"]["field"] == "parent_id"
    assert count(session, School) == before


def test_sibling_with_same_name_is_409(api, world, session):
    before = count(session, School)
    r = api.as_user(world["center_head"]).post("/schools", json=school_body(world, name="东坡村小"))
    assert r.status_code == 409
    assert r.json["error"]["code"] == "duplicate"
    assert count(session, School) == before
    # the same name under another center is a different school
    r = api.as_user(world["admin"]).post("/schools", json=school_body(world, parent="other_center", name="东坡村小"))
    assert r.status_code == 201


def test_malformed_json_is_rejected(api, world, session):
    r = api.as_user(world["admin"]).post("/schools", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    assert r.json["error"]["code"] == "malformed_json"


# --- GET /schools --------------------------------------------------------------------------

ALL = {"county", "center", "branch", "branch2", "other_center", "other_branch"}


@pytest.mark.parametrize("role,expected", [
    ("admin", ALL),
    ("supervisor", ALL),
    ("center_head", {"center", "branch", "branch2"}),
    ("center_office", {"center", "branch", "branch2"}),
    ("other_center_head", {"other_center", "other_branch"}),
    ("principal", {"branch"}),
    ("office", {"branch"}),
    ("team", {"branch"}),
    ("teacher", {"branch"}),
    ("subject", {"branch"}),
    ("other_principal", {"other_branch"}),
    ("liaison", set()),
])
def test_school_list_is_the_roles_scope(api, world, role, expected):
    r = api.as_user(world[role]).get("/schools")
    assert r.status_code == 200
    ids = {getattr(world, k).id for k in expected}
    assert {s["id"] for s in r.json["items"]} == ids
    assert r.json["total"] == len(ids)


def test_school_list_pages_and_filters(api, world):
    api.as_user(world["admin"])
    page = api.get("/schools?limit=2&offset=1").json
    assert page["total"] == 6 and len(page["items"]) == 2
    branches = api.get(f"/schools?kind=branch&parent_id={world.center.id}").json["items"]
    assert {s["name"] for s in branches} == {"东坡村小", "西岭教学点"}
    assert api.get("/schools?limit=0").status_code == 422
    assert api.get("/schools?kind=village").json["error"]["details"] == {"field": "kind"}


@pytest.mark.parametrize("role,school,status", [
    ("center_office", "branch", 200),
    ("principal", "branch", 200),
    ("principal", "branch2", 404),
    ("center_head", "other_branch", 404),
])
def test_one_school_in_scope_or_404(api, world, role, school, status):
    r = api.as_user(world[role]).get(f"/schools/{getattr(world, school).id}")
    assert r.status_code == status
    assert api.get("/schools/99999").status_code == 404


# --- villages ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "center_head", "center_office"])
def test_center_roles_add_villages_to_their_catchment(api, world, session, role):
    r = api.as_user(world[role]).post("/villages", json={"name": "新村", "center_school_id": world.center.id})
    assert r.status_code == 201, r.json
    v = session.get(Village, r.json["id"])
    assert (v.name, v.center_school_id) == ("新村", world.center.id)


@pytest.mark.parametrize("role,center,status", [
    ("center_head", "other_center", 404),
    ("other_center_head", "center", 404),
    ("teacher", "other_center", 404),
    ("liaison", "center", 404),
    ("principal", "other_center", 404),
    ("supervisor", "center", 403),
])
def test_others_may_not_add_villages(api, world, session, role, center, status):
    before = count(session, Village)
    r = api.as_user(world[role]).post("/villages", json={"name": "新村",
                                                           "center_school_id": getattr(world, center).id})
    assert r.status_code == status
    assert count(session, Village) == before
    if status == 404:
        assert r.json["error"]["details"] == {"field": "center_school_id"}


@pytest.mark.parametrize("body,field", [
    ({"center_school_id": 1}, "name"),
    ({"name": "新村"}, "center_school_id"),
    ({"name": "新村", "center_school_id": "x"}, "center_school_id"),
    ({"name": "新村", "center_school_id": 1, "area": 3}, "area"),
])
def test_malformed_village_is_422(api, world, session, body, field):
    before = count(session, Village)
    r = api.as_user(world["admin"]).post("/villages", json=body)
    assert r.status_code == 422
    assert r.json["error"]["details"]["field"] == field
    assert field in r.json["error"]["message"]
    assert count(session, Village) == before


def test_village_of_a_branch_school_is_422(api, world, session):
    r = api.as_user(world["admin"]).post("/villages", json={"name": "新村", "center_school_id": world.branch.id})
    assert r.status_code == 422
    assert r.json["error"]["details"]["field"] == "center_school_id"


def test_duplicate_village_is_409(api, world, session):
    before = count(session, Village)
    r = api.as_user(world["center_office"]).post("/villages", json={"name": "东坡村",
                                                                      "center_school_id": world.center.id})
    assert r.status_code == 409
    assert r.json["error"]["code"] == "duplicate"
    assert count(session, Village) == before


@pytest.mark.parametrize("role,expected", [
    ("admin", {"village", "village2", "other_village"}),
    ("supervisor", {"village", "village2", "other_village"}),
    ("center_head", {"village", "village2"}),
    ("principal", {"village", "village2"}),
    ("teacher", {"village", "village2"}),
    ("other_principal", {"other_village"}),
    ("liaison", {"village"}),
    ("other_liaison", {"other_village"}),
])
def test_village_list_is_the_roles_scope(api, world, role, expected):
    r = api.as_user(world[role]).get("/villages")
    assert r.status_code == 200
    assert {v["id"] for v in r.json["items"]} == {getattr(world, k).id for k in expected}


# --- level (SPEC §1: which grades a school teaches) -----------------------------------------


@pytest.mark.parametrize("level,expected", [(None, "nine_year"), ("primary", "primary"), ("junior", "junior")])
def test_school_level_is_stored_and_answered(api, world, session, level, expected):
    body = school_body(world) | ({"level": level} if level else {})
    r = api.as_user(world["admin"]).post("/schools", json=body)
    assert r.status_code == 201, r.json
    assert r.json["level"] == expected
    assert session.get(School, r.json["id"]).level == expected


@pytest.mark.parametrize("kind,parent,level", [("branch", "center", "senior"), ("county", None, "primary")])
def test_bad_school_level_is_422(api, world, session, kind, parent, level):
    before = count(session, School)
    r = api.as_user(world["admin"]).post("/schools", json=school_body(world, kind, parent) | {"level": level})
    assert r.status_code == 422
    assert r.json["error"]["details"]["field"] == "level"
    assert count(session, School) == before
