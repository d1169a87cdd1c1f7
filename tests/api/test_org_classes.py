"""POST/GET /classes: classes of a school year, created by the school's or center's office."""
import pytest
from sqlalchemy import func, select

from models import SchoolClass


def count(session):
    return session.scalar(select(func.count()).select_from(SchoolClass))


def body(world, school="branch", **kw):
    return {"school_id": getattr(world, school).id, "school_year": "2026-2027", "grade": 5,
            "name": "五年级1班", **kw}


@pytest.mark.parametrize("role,school", [
    ("admin", "branch"),
    ("admin", "other_branch"),
    ("center_head", "branch"),
    ("center_head", "center"),
    ("center_office", "branch2"),
    ("principal", "branch"),
    ("office", "branch"),
    ("other_office", "other_branch"),
])
def test_allowed_roles_create_classes(api, world, session, role, school):
    r = api.as_user(world[role]).post("/classes", json=body(world, school))
    assert r.status_code == 201, r.json
    k = session.get(SchoolClass, r.json["id"])
    assert (k.school_id, k.school_year, k.grade, k.name) == (getattr(world, school).id, "2026-2027", 5, "五年级1班")


@pytest.mark.parametrize("role,school,status", [
    ("principal", "branch2", 404),
    ("office", "center", 404),
    ("center_head", "other_branch", 404),
    ("other_center_head", "branch", 404),
    ("teacher", "other_branch", 404),
    ("liaison", "branch", 404),
    ("teacher", "branch", 403),
    ("subject", "branch", 403),
    ("team", "branch", 403),
    ("supervisor", "branch", 403),
])
def test_others_may_not_create_classes(api, world, session, role, school, status):
    before = count(session)
    r = api.as_user(world[role]).post("/classes", json=body(world, school))
    assert r.status_code == status, r.json
    assert count(session) == before
    if status == 404:
        assert r.json["error"]["message"] == "学校不存在或不在您的管辖范围内"
        assert r.json["error"]["details"] == {"field": "school_id"}


def test_unknown_school_is_404(api, world, session):
    r = api.as_user(world["admin"]).post("/classes", json={**body(world), "school_id": 99999})
    assert r.status_code == 404
    assert r.json["error"]["details"] == {"field": "school_id"}


# (change, details.field, what the message names): the body's shape errors name the JSON key;
# the class's own checks say what staff call it
@pytest.mark.parametrize("change,field,named", [
    ({"school_year": "2026-2028"}, "school_year", "学年"),
    ({"school_year": "2026"}, "school_year", "学年"),
    ({"school_year": 2026}, "school_year", "school_year"),
    ({"grade": 0}, "grade", "年级"),
    ({"grade": 10}, "grade", "年级"),
    ({"grade": "3"}, "grade", "grade"),
    ({"name": ""}, "name", "name"),
    ({"name": None}, "name", "name"),
    ({"school_id": None}, "school_id", "school_id"),
    ({"teacher_id": 1}, "teacher_id", "teacher_id"),
])
def test_malformed_class_is_422_naming_the_field(api, world, session, change, field, named):
    before = count(session)
    r = api.as_user(world["admin"]).post("/classes", json=body(world, **change))
    assert r.status_code == 422, r.json
    assert r.json["error"]["details"]["field"] == field
    assert named in r.json["error"]["message"]
    assert count(session) == before


def test_missing_field_is_422(api, world, session):
    data = body(world)
    del data["grade"]
    r = api.as_user(world["admin"]).post("/classes", json=data)
    assert r.status_code == 422
    assert r.json["error"]["message"] == "缺少必填字段：grade"


def test_county_has_no_classes(api, world, session):
    r = api.as_user(world["admin"]).post("/classes", json=body(world, "county"))
    assert r.status_code == 422
    assert r.json["error"]["details"] == {"field": "school_id"}


def test_malformed_input_is_checked_before_scope(api, world):
    r = api.as_user(world["principal"]).post("/classes", json=body(world, "other_branch", grade=12))
    assert r.status_code == 422


def test_same_name_in_same_school_and_year_is_409(api, world, session):
    api.as_user(world["principal"])
    before = count(session)
    r = api.post("/classes", json=body(world, name="三年级1班", grade=3))
    assert r.status_code == 409
    assert r.json["error"]["code"] == "duplicate"
    assert count(session) == before
    assert api.post("/classes", json=body(world, name="三年级1班", grade=3, school_year="2027-2028")).status_code == 201


@pytest.mark.parametrize("role,expected", [
    ("admin", {"klass", "klass2", "center_class", "other_class"}),
    ("supervisor", {"klass", "klass2", "center_class", "other_class"}),
    ("center_office", {"klass", "klass2", "center_class"}),
    ("principal", {"klass", "klass2"}),
    ("team", {"klass", "klass2"}),
    ("teacher", {"klass"}),
    ("subject", {"klass"}),
    ("other_teacher", {"other_class"}),
    ("liaison", set()),
])
def test_class_list_is_the_roles_scope(api, world, role, expected):
    r = api.as_user(world[role]).get("/classes")
    assert r.status_code == 200
    assert {k["id"] for k in r.json["items"]} == {getattr(world, k).id for k in expected}
    assert r.json["total"] == len(expected)


def test_class_list_filters(api, world):
    api.as_user(world["admin"])
    r = api.get(f"/classes?school_id={world.branch.id}&grade=4&school_year=2026-2027")
    assert [k["id"] for k in r.json["items"]] == [world.klass2.id]
    assert api.get("/classes?grade=x").json["error"]["details"] == {"field": "grade"}


@pytest.mark.parametrize("role,klass,status", [
    ("teacher", "klass", 200),
    ("teacher", "klass2", 404),
    ("principal", "klass2", 200),
    ("principal", "other_class", 404),
    ("center_head", "center_class", 200),
])
def test_one_class_in_scope_or_404(api, world, role, klass, status):
    r = api.as_user(world[role]).get(f"/classes/{getattr(world, klass).id}")
    assert r.status_code == status
    if status == 200:
        assert r.json["name"] == getattr(world, klass).name


def test_role_is_checked_before_duplicates(api, world, session):
    r = api.as_user(world["teacher"]).post("/classes", json=body(world, name="三年级1班", grade=3))
    assert r.status_code == 403
    assert r.json["error"]["code"] == "forbidden"
