"""SPEC §2 "who may grant what" as a table: every acting role × every target role × the target in
or out of the actor's scope × create / edit / reset password / deactivate, through the JSON API
and through the 档案管理 user screen (Flask-Admin).

The expected outcome is written here independently of workflow.access.permissions:
- admin may do everything;
- otherwise the target must be bound where the actor manages (center roles: their center school,
  its branches, classes and villages; principal and academic office: their own school and its
  classes) and its role must rank strictly below the actor's (admin > county supervisor > center
  head > center office > principal > academic office > teaching and village roles);
- what the actor cannot see answers 404 (the API), what they see but may not touch 403.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from models import ApiToken, LoginSession, User
from tests.conftest import csrf_token_from
from tests.factories import PASSWORD

ACTORS = ("admin", "supervisor", "center_head", "center_office", "principal", "office", "teacher", "subject",
          "team", "liaison")
ACTOR_ROLE = {"admin": "admin", "supervisor": "county_supervisor", "center_head": "center_head",
              "center_office": "center_office", "principal": "principal", "office": "academic_office",
              "teacher": "homeroom_teacher", "subject": "subject_teacher", "team": "team_member",
              "liaison": "village_liaison"}
RANK = {"admin": 0, "county_supervisor": 1, "center_head": 2, "center_office": 3, "principal": 4,
        "academic_office": 5, "homeroom_teacher": 6, "subject_teacher": 6, "team_member": 6, "village_liaison": 6}
# where a target role is bound: in the World's first center (in scope of its staff), or in the
# other center / another county (out of scope)
BINDING = {
    "admin": {"in": None, "out": None},
    "county_supervisor": {"in": "county", "out": "other_county"},
    "center_head": {"in": "center", "out": "other_center"},
    "center_office": {"in": "center", "out": "other_center"},
    "principal": {"in": "branch", "out": "other_branch"},
    "academic_office": {"in": "branch", "out": "other_branch"},
    "team_member": {"in": "branch", "out": "other_branch"},
    "homeroom_teacher": {"in": "klass", "out": "other_class"},
    "subject_teacher": {"in": "klass", "out": "other_class"},
    "village_liaison": {"in": "village", "out": "other_village"},
}
# the bindings each actor manages (creates and changes accounts there), by hand
MANAGES = {
    "center_head": {"center", "branch", "klass", "village"},
    "center_office": {"center", "branch", "klass", "village"},
    "principal": {"branch", "klass"},
    "office": {"branch", "klass"},
}
TARGETS = [(role, side) for role in RANK for side in (("in",) if role == "admin" else ("in", "out"))]
ACTIONS = ("create", "edit", "reset", "deactivate")
NEW_PASSWORD = "Fresh-pass-2026x"


def allowed(actor: str, role: str, side: str) -> bool:
    if actor == "admin":
        return True
    binding = BINDING[role][side]
    return binding in MANAGES.get(actor, set()) and RANK[role] > RANK[ACTOR_ROLE[actor]]


@pytest.fixture
def other_county(factory, session, world):
    county = factory.school("远山县教育局", "county")
    session.commit()
    return county


def _binding(world, other_county, name):
    return other_county if name == "other_county" else getattr(world, name) if name else None


def _role_item(world, other_county, role, side) -> dict:
    obj = _binding(world, other_county, BINDING[role][side])
    key = {"homeroom_teacher": "class_id", "subject_teacher": "class_id",
           "village_liaison": "village_id"}.get(role, "school_id")
    return {"role": role, **({key: obj.id} if obj is not None else {})}


def _target(factory, session, world, other_county, role, side) -> User:
    obj = _binding(world, other_county, BINDING[role][side])
    kw = {"klass": obj} if role in ("homeroom_teacher", "subject_teacher") else \
        {"village": obj} if role == "village_liaison" else {"school": obj}
    user = factory.user(f"target_{role}_{side}", role, **kw)
    session.commit()
    return user


def _visible(api, target) -> bool:
    return api.get(f"/users/{target.id}").status_code == 200


def _state(session, user_id):
    session.expire_all()
    u = session.get(User, user_id)
    return u.name, u.password_hash, u.is_active


def _sessions_and_tokens(session, user_id) -> int:
    return (len(session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)).all())
            + len(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)).all()))


PATCHES = {"edit": {"name": "改了名字"}, "reset": {"password": NEW_PASSWORD}, "deactivate": {"is_active": False}}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role,side", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_api_grant_rule(api, world, factory, session, other_county, actor, role, side, action):
    ok = allowed(actor, role, side)
    if action == "create":
        body = {"username": "brand_new", "password": NEW_PASSWORD, "name": "新同事",
                "roles": [_role_item(world, other_county, role, side)]}
        r = api.as_user(world[actor]).post("/users", json=body)
        created = session.scalar(select(User.id).where(User.username == "brand_new")) is not None
        assert created is ok, r.json
        assert r.status_code in ((201,) if ok else (403, 404)), r.json
        return
    target = _target(factory, session, world, other_county, role, side)
    api.as_user(target)  # the target holds a token: a reset or deactivation must end it
    target_token = api.token
    before = _state(session, target.id)
    api.as_user(world[actor])
    seen = _visible(api, target)
    r = api.request("PATCH", f"/users/{target.id}", json=PATCHES[action])
    after = _state(session, target.id)
    if ok:
        assert r.status_code == 200, r.json
        assert after != before
        if action != "edit":
            api.token = target_token
            assert api.get("/me").status_code == 401  # the target's token ended at once
    else:
        assert r.status_code == (403 if seen else 404), r.json
        assert after == before
        if r.status_code == 403:
            assert "低于您本人最高角色" in r.json["error"]["message"]


# --- the same table through Flask-Admin ---------------------------------------------------------

READERS = {"admin", "supervisor", "center_head", "center_office", "principal", "office"}


def _admin_login(client, user):
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302


def _form_roles(world, other_county, role, side) -> dict:
    item = _role_item(world, other_county, role, side)
    key = {"school_id": "school", "class_id": "klass", "village_id": "village"}
    out = {"roles-0-role": role}
    for k, v in item.items():
        if k != "role":
            out[f"roles-0-{key[k]}"] = str(v)
    return out


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role,side", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_flask_admin_grant_rule(app, world, factory, session, other_county, actor, role, side, action):
    ok = allowed(actor, role, side)
    client = app.test_client()
    if action == "create":
        session.commit()
        _admin_login(client, world[actor])
        page = client.get("/admin/user/new/")
        if actor not in READERS or page.status_code != 200:
            assert not ok
            assert page.status_code in (302, 403)
            return
        data = {"csrf_token": csrf_token_from(page.get_data(as_text=True)), "username": "brand_new",
                "name": "新同事", "is_active": "y", "password": NEW_PASSWORD,
                **_form_roles(world, other_county, role, side)}
        client.post("/admin/user/new/", data=data)
        session.expire_all()
        assert (session.scalar(select(User.id).where(User.username == "brand_new")) is not None) is ok
        return
    target = _target(factory, session, world, other_county, role, side)
    target_client = app.test_client()
    _admin_login(target_client, target)  # the target is signed in: a reset or deactivation ends it
    _admin_login(client, world[actor])
    before = _state(session, target.id)
    url = f"/admin/user/edit/?id={target.id}"
    page = client.get(url)
    if not ok:
        # not a reader: 403; out of scope: 404; in scope but not permitted: to the details page
        assert page.status_code in (403, 404) or (page.status_code == 302 and "details" in page.headers["Location"])
        if actor in READERS and page.status_code != 302:
            assert page.status_code == 404
        data = {"csrf_token": csrf_token_from(client.get("/login").get_data(as_text=True)),
                "name": "改了名字", "is_active": "", "password": NEW_PASSWORD}
        client.post(url, data=data)
        assert _state(session, target.id) == before
        return
    assert page.status_code == 200, page.headers.get("Location")
    ra = session.get(User, target.id).roles[0]
    data = {"csrf_token": csrf_token_from(page.get_data(as_text=True)), "name": before[0], "is_active": "y",
            "password": "", **_form_roles(world, other_county, role, side), "roles-0-id": str(ra.id)}
    if action == "edit":
        data["name"] = "改了名字"
    elif action == "reset":
        data["password"] = NEW_PASSWORD
    else:
        data["is_active"] = ""
    resp = client.post(url, data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    after = _state(session, target.id)
    assert after != before
    if action != "edit":
        assert _sessions_and_tokens(session, target.id) == 0
        assert target_client.get("/home/summary").status_code != 200  # signed out at once
