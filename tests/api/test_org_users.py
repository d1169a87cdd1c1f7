"""POST/GET /users: staff accounts with scoped roles, never granted wider than the granter's."""
import pytest
from sqlalchemy import func, select

from models import RoleAssignment, User


def counts(session):
    return (session.scalar(select(func.count()).select_from(User)),
            session.scalar(select(func.count()).select_from(RoleAssignment)))


def grant(world, role, target=None):
    """A role item: target names a World attribute (a school, class or village)."""
    item = {"role": role}
    if target is not None:
        obj = getattr(world, target)
        key = {"klass": "class_id", "klass2": "class_id", "center_class": "class_id", "other_class": "class_id",
               "village": "village_id", "village2": "village_id", "other_village": "village_id"}.get(target, "school_id")
        item[key] = obj.id
    return item


def body(world, *roles, username="newuser", password="long-enough-1"):
    return {"username": username, "password": password, "name": "新老师",
            "roles": [grant(world, *r) for r in roles]}


@pytest.mark.parametrize("granter,role,target", [
    ("admin", "admin", None),
    ("admin", "county_supervisor", "county"),
    ("admin", "center_head", "other_center"),
    ("center_head", "center_office", "center"),
    ("center_head", "principal", "branch2"),
    ("center_office", "team_member", "center"),
    ("center_office", "homeroom_teacher", "klass"),
    ("center_office", "village_liaison", "village2"),
    ("principal", "academic_office", "branch"),
    ("principal", "homeroom_teacher", "klass2"),
    ("office", "subject_teacher", "klass"),
    ("office", "team_member", "branch"),
])
def test_allowed_grants_create_the_user(api, world, session, granter, role, target):
    r = api.as_user(world[granter]).post("/users", json=body(world, (role, target)))
    assert r.status_code == 201, r.json
    user = session.get(User, r.json["id"])
    assert user.username == "newuser" and user.is_active
    assert [(a.role, a.school_id or a.class_id or a.village_id) for a in user.roles] == \
        [(role, getattr(world, target).id if target else None)]
    assert "password" not in r.json and "password_hash" not in r.json


def test_new_user_logs_in_and_sees_their_class(api, world, session):
    api.as_user(world["principal"]).post("/users", json=body(world, ("homeroom_teacher", "klass2")))
    r = api.anonymous().post("/tokens", json={"username": "newuser", "password": "long-enough-1"})
    assert r.status_code == 201
    api.token = r.json["token"]
    assert [k["id"] for k in api.get("/classes").json["items"]] == [world.klass2.id]


def test_user_with_several_roles(api, world, session):
    r = api.as_user(world["center_head"]).post(
        "/users", json=body(world, ("principal", "branch2"), ("homeroom_teacher", "klass"), ("team_member", "branch")))
    assert r.status_code == 201
    assert {a["role"] for a in r.json["roles"]} == {"principal", "homeroom_teacher", "team_member"}


@pytest.mark.parametrize("granter,role,target,status,field", [
    # the target is out of the granter's scope (or does not exist): 404 naming the field
    ("principal", "homeroom_teacher", "other_class", 404, "roles[0].class_id"),
    ("principal", "academic_office", "branch2", 404, "roles[0].school_id"),
    ("principal", "center_office", "center", 404, "roles[0].school_id"),
    ("center_head", "principal", "other_branch", 404, "roles[0].school_id"),
    ("center_head", "county_supervisor", "county", 404, "roles[0].school_id"),
    ("center_office", "village_liaison", "other_village", 404, "roles[0].village_id"),
    ("teacher", "subject_teacher", "other_class", 404, "roles[0].class_id"),
    # visible, but wider than the granter's own scope: 403
    ("center_head", "admin", None, 403, None),
    ("principal", "admin", None, 403, None),
    ("principal", "village_liaison", "village", 403, None),
    ("office", "village_liaison", "village", 403, None),
    ("supervisor", "homeroom_teacher", "klass", 403, None),
    ("supervisor", "county_supervisor", "county", 403, None),
    ("teacher", "subject_teacher", "klass", 403, None),
    ("team", "team_member", "branch", 403, None),
    ("liaison", "village_liaison", "village", 403, None),
    # SPEC §2: only roles ranked strictly below the granter's own highest role (issue 11)
    ("office", "academic_office", "branch", 403, None),
    ("office", "principal", "branch", 403, None),
    ("principal", "principal", "branch", 403, None),
    ("center_office", "center_head", "center", 403, None),
])
def test_grants_beyond_scope_are_refused(api, world, session, granter, role, target, status, field):
    before = counts(session)
    r = api.as_user(world[granter]).post("/users", json=body(world, (role, target)))
    assert r.status_code == status, r.json
    assert counts(session) == before
    if field:
        # the key is for clients, in details; the message says what is out of reach in words
        assert r.json["error"]["details"] == {"field": field}
        what = {"class_id": "班级", "school_id": "学校", "village_id": "村"}[field.rsplit(".", 1)[1]]
        assert r.json["error"]["message"] == f"{what}不存在或不在您的管辖范围内"


def test_one_forbidden_role_refuses_the_whole_user(api, world, session):
    before = counts(session)
    r = api.as_user(world["principal"]).post(
        "/users", json=body(world, ("homeroom_teacher", "klass"), ("village_liaison", "village")))
    assert r.status_code == 403
    assert r.json["error"]["details"] == {"field": "roles[1]"}
    assert counts(session) == before


def test_unknown_class_is_404(api, world, session):
    r = api.as_user(world["admin"]).post("/users", json={**body(world), "roles": [
        {"role": "homeroom_teacher", "class_id": 99999}]})
    assert r.status_code == 404
    assert r.json["error"]["details"] == {"field": "roles[0].class_id"}


# (data, details.field, what the message names): the body's shape errors name the JSON key;
# the password and role checks say in words what is wrong
@pytest.mark.parametrize("data,field,named", [
    ({"password": "short"}, "password", "密码至少需要 10 个字符"),
    ({"username": ""}, "username", "username"),
    ({"name": 5}, "name", "name"),
    ({"roles": []}, "roles", "roles"),
    ({"roles": "principal"}, "roles", "roles"),
    ({"roles": [{"role": "king", "school_id": 1}]}, "roles[0].role", "roles[0].role"),
    ({"roles": [{"role": "principal"}]}, "roles[0].school_id", "角色“校长”必须选择学校"),
    ({"roles": [{"role": "homeroom_teacher", "school_id": 1}]}, "roles[0].school_id", "不绑定学校"),
    ({"roles": [{"role": "admin", "school_id": 1}]}, "roles[0].school_id", "不绑定学校"),
    ({"roles": [{"role": "village_liaison", "class_id": 1}]}, "roles[0].class_id", "不绑定班级"),
    ({"roles": [{"role": "principal", "school_id": "1"}]}, "roles[0].school_id", "roles[0].school_id"),
    ({"roles": [{"role": "principal", "school_id": 1, "scope": "x"}]}, "roles[0].scope", "roles[0].scope"),
    ({"email": "a@b.c"}, "email", "email"),
])
def test_malformed_user_is_422_naming_the_field(api, world, session, data, field, named):
    before = counts(session)
    r = api.as_user(world["admin"]).post("/users", json={**body(world, ("principal", "branch")), **data})
    assert r.status_code == 422, r.json
    assert r.json["error"]["details"]["field"] == field
    assert named in r.json["error"]["message"]
    assert counts(session) == before


@pytest.mark.parametrize("role,target", [
    ("principal", "county"),
    ("county_supervisor", "center"),
    ("center_head", "branch"),
])
def test_role_bound_to_the_wrong_kind_of_school_is_422(api, world, session, role, target):
    r = api.as_user(world["admin"]).post("/users", json=body(world, (role, target)))
    assert r.status_code == 422
    assert r.json["error"]["details"] == {"field": "roles[0].school_id"}


@pytest.mark.parametrize("username", ["teacher", "TEACHER"])
def test_taken_username_is_409(api, world, session, username):
    before = counts(session)
    r = api.as_user(world["principal"]).post("/users", json=body(world, ("team_member", "branch"), username=username))
    assert r.status_code == 409
    assert r.json["error"]["code"] == "duplicate"
    assert r.json["error"]["details"] == {"field": "username"}
    assert counts(session) == before


@pytest.mark.parametrize("viewer,sees,not_sees", [
    ("admin", ["other_principal", "center_head", "liaison"], []),
    ("center_head", ["center_office", "principal", "teacher", "liaison"], ["other_principal", "other_liaison", "admin"]),
    ("principal", ["office", "team", "teacher", "subject", "liaison"], ["center_head", "other_principal"]),
    ("teacher", ["principal", "team", "subject"], ["other_teacher", "center_office"]),
    ("liaison", ["liaison"], ["principal", "teacher", "other_liaison"]),
])
def test_user_list_is_the_roles_scope(api, world, viewer, sees, not_sees):
    r = api.as_user(world[viewer]).get("/users?limit=500")
    assert r.status_code == 200
    names = {u["username"] for u in r.json["items"]}
    assert set(sees) <= names
    assert not set(not_sees) & names
    assert r.json["total"] == len(names)


@pytest.mark.parametrize("viewer,target,status", [
    ("principal", "teacher", 200),
    ("principal", "other_teacher", 404),
    ("center_office", "principal", 200),
    ("other_center_head", "principal", 404),
])
def test_one_user_in_scope_or_404(api, world, viewer, target, status):
    r = api.as_user(world[viewer]).get(f"/users/{world[target].id}")
    assert r.status_code == status
    if status == 200:
        assert r.json["username"] == target
