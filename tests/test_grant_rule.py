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

Speed without sharing state: the world, the actors' API tokens and their signed-in browser
sessions are built and committed once for the module; each of the 1,520 cases then runs in a
transaction of its own that is rolled back after it (`_case_transaction`), so a user created,
renamed, reset or deactivated by one case is gone before the next case starts.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import literal, select, union_all

from admin.extensions import db as _db
from models import ApiToken, LoginSession, RoleAssignment, User
from tests.conftest import ApiClient, csrf_token_from
from tests.factories import PASSWORD, Factory, build_world
from workflow.access.accounts import issue_token

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
READERS = {"admin", "supervisor", "center_head", "center_office", "principal", "office"}


def allowed(actor: str, role: str, side: str) -> bool:
    if actor == "admin":
        return True
    binding = BINDING[role][side]
    return binding in MANAGES.get(actor, set()) and RANK[role] > RANK[ACTOR_ROLE[actor]]


# --- the shared world and the per-case transaction ----------------------------------------------

@dataclass(frozen=True)
class Signed:
    """An account of the shared world and how it is signed in: a bearer token, the session cookie
    of a browser that went through the login form, and a CSRF token valid with that cookie."""

    id: int
    username: str
    token: str
    cookie: str
    csrf: str


@dataclass(frozen=True)
class Shared:
    """What every case starts from, as plain values (the ORM objects that built it are gone)."""

    places: dict[str, int]  # BINDING's names → school, class or village id
    actors: dict[str, Signed]
    targets: dict[tuple[str, str], Signed]  # (role, side) → an account with that one role there
    target_role_ids: dict[tuple[str, str], int]
    snapshot: tuple  # the committed accounts, to check that every case leaves them as it found them


def _sign_in(client, username: str) -> None:
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302


def _snapshot(conn) -> tuple:
    """Every account's name, password, activity and roles, and every open session and token."""
    accounts = conn.execute(
        select(User.id, User.username, User.name, User.password_hash, User.is_active, RoleAssignment.id,
               RoleAssignment.role, RoleAssignment.school_id, RoleAssignment.class_id, RoleAssignment.village_id)
        .outerjoin(RoleAssignment, RoleAssignment.user_id == User.id).order_by(User.id, RoleAssignment.id)).all()
    held = conn.execute(union_all(select(literal("session"), LoginSession.id), select(literal("token"), ApiToken.id))
                        .order_by("id")).all()
    return tuple(map(tuple, accounts)), tuple(sorted(map(tuple, held)))


def _role_item(places: dict[str, int], role: str, side: str) -> dict:
    name = BINDING[role][side]
    key = {"homeroom_teacher": "class_id", "subject_teacher": "class_id",
           "village_liaison": "village_id"}.get(role, "school_id")
    return {"role": role, **({key: places[name]} if name else {})}


@pytest.fixture(scope="module")
def shared(app, module_session) -> Shared:
    """The World plus a county of its own and one account per target (role, side), committed
    once; every actor and target holds an API token and a browser session, both made through the
    real paths (issue_token, the login form)."""
    f = Factory(module_session)
    world = build_world(f)
    other_county = f.school("远山县教育局", "county")
    places = {name: getattr(world, name).id for side in BINDING.values() for name in side.values()
              if name and name != "other_county"}
    places["other_county"] = other_county.id
    targets = {}
    for role, side in TARGETS:
        user = User(username=f"target_{role}_{side}", name=f"target_{role}_{side}", is_active=True)
        user.set_password(PASSWORD)
        user.roles.append(RoleAssignment(**_role_item(places, role, side)))
        module_session.add(user)
        targets[(role, side)] = user
    module_session.flush()
    people = {**{actor: world[actor] for actor in ACTORS}, **targets}
    tokens = {key: issue_token(module_session, user)[0] for key, user in people.items()}
    module_session.commit()
    role_ids = {key: user.roles[0].id for key, user in targets.items()}
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    signed = {}
    for key, user in people.items():
        client = app.test_client()
        _sign_in(client, user.username)
        csrf = csrf_token_from(client.get("/login").get_data(as_text=True))
        signed[key] = Signed(user.id, user.username, tokens[key], client.get_cookie(cookie_name).value, csrf)
    module_session.remove()
    with _db.engine.connect() as conn:
        snapshot = _snapshot(conn)
    return Shared(places, {a: signed[a] for a in ACTORS}, {t: signed[t] for t in TARGETS}, role_ids, snapshot)


class _JoinedSession(_db.session.session_factory.class_):
    """Flask-SQLAlchemy's session, bound to the case's connection: its own `get_bind` would pick
    the engine (a fresh connection, outside the case's transaction)."""

    def get_bind(self, *args, **kwargs):
        return self.bind


@pytest.fixture(autouse=True)
def _ctx(app, shared, module_session):
    """Replaces the conftest's per-test emptying: each case runs in one outer transaction on one
    connection, rolled back after it. `db.session` (shared by the test and the requests, which
    reuse the test's app context) joins that transaction with a SAVEPOINT, so the request
    boundary's commits only release savepoints and the rollback undoes them all. Afterwards the
    committed accounts must be exactly as before, or the case leaked into the next."""
    conn = _db.engine.connect()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        # pysqlite defers BEGIN to the first write, so the first SAVEPOINT would open (and its
        # RELEASE commit) the transaction itself: drive this connection's transaction by hand.
        raw = conn.connection.driver_connection
        raw.isolation_level = None
    outer = conn.begin()
    if sqlite:
        conn.exec_driver_sql("BEGIN")
    _db.session.registry.set(_JoinedSession(db=_db, bind=conn, join_transaction_mode="create_savepoint"))
    try:
        yield
    finally:
        _db.session.remove()
        outer.rollback()
        if sqlite:
            raw.isolation_level = ""
        left = _snapshot(conn)
        conn.close()
    assert left == shared.snapshot, "a case's writes outlived it"


@pytest.fixture
def api(app) -> ApiClient:
    return ApiClient(app, _db.session)


def _state(session, user_id):
    session.expire_all()
    u = session.get(User, user_id)
    return u.name, u.password_hash, u.is_active


def _sessions_and_tokens(session, user_id) -> int:
    return (len(session.scalars(select(LoginSession).where(LoginSession.user_id == user_id)).all())
            + len(session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)).all()))


def _created(session) -> bool:
    session.expire_all()
    return session.scalar(select(User.id).where(User.username == "brand_new")) is not None


PATCHES = {"edit": {"name": "改了名字"}, "reset": {"password": NEW_PASSWORD}, "deactivate": {"is_active": False}}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role,side", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_api_grant_rule(api, shared, actor, role, side, action):
    session = _db.session
    ok = allowed(actor, role, side)
    api.token = shared.actors[actor].token
    if action == "create":
        body = {"username": "brand_new", "password": NEW_PASSWORD, "name": "新同事",
                "roles": [_role_item(shared.places, role, side)]}
        r = api.post("/users", json=body)
        assert _created(session) is ok, r.json
        assert r.status_code in ((201,) if ok else (403, 404)), r.json
        return
    target = shared.targets[(role, side)]  # holds a token: a reset or deactivation must end it
    before = _state(session, target.id)
    seen = api.get(f"/users/{target.id}").status_code == 200
    r = api.request("PATCH", f"/users/{target.id}", json=PATCHES[action])
    after = _state(session, target.id)
    if ok:
        assert seen and r.status_code == 200, r.json
        assert after != before
        if action != "edit":
            api.token = target.token
            assert api.get("/me").status_code == 401  # the target's token ended at once
    else:
        assert r.status_code == (403 if seen else 404), r.json
        assert after == before
        if r.status_code == 403:
            assert "低于您本人最高角色" in r.json["error"]["message"]


# --- the same table through Flask-Admin ---------------------------------------------------------


def _browser(app, person: Signed):
    """A browser holding the person's module-wide session cookie; a new one each case, so that
    nothing a case leaves in its cookie (a flashed message, say) reaches the next."""
    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], person.cookie)
    return client


def _form_roles(shared: Shared, role: str, side: str) -> dict:
    item = _role_item(shared.places, role, side)
    key = {"school_id": "school", "class_id": "klass", "village_id": "village"}
    out = {"roles-0-role": role}
    for k, v in item.items():
        if k != "role":
            out[f"roles-0-{key[k]}"] = str(v)
    return out


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("role,side", TARGETS)
@pytest.mark.parametrize("actor", ACTORS)
def test_flask_admin_grant_rule(app, shared, actor, role, side, action):
    session = _db.session
    ok = allowed(actor, role, side)
    client = _browser(app, shared.actors[actor])
    if action == "create":
        page = client.get("/admin/user/new/")
        if actor not in READERS or page.status_code != 200:
            assert not ok
            assert page.status_code in (302, 403)
            return
        data = {"csrf_token": csrf_token_from(page.get_data(as_text=True)), "username": "brand_new",
                "name": "新同事", "is_active": "y", "password": NEW_PASSWORD,
                **_form_roles(shared, role, side)}
        client.post("/admin/user/new/", data=data)
        assert _created(session) is ok
        return
    target = shared.targets[(role, side)]
    target_client = _browser(app, target)  # the target is signed in: a reset or deactivation ends it
    before = _state(session, target.id)
    url = f"/admin/user/edit/?id={target.id}"
    page = client.get(url)
    if not ok:
        # not a reader: 403; out of scope: 404; in scope but not permitted: to the details page
        assert page.status_code in (403, 404) or (page.status_code == 302 and "details" in page.headers["Location"])
        if actor in READERS and page.status_code != 302:
            assert page.status_code == 404
        data = {"csrf_token": shared.actors[actor].csrf, "name": "改了名字", "is_active": "",
                "password": NEW_PASSWORD}
        client.post(url, data=data)
        assert _state(session, target.id) == before
        return
    assert page.status_code == 200, page.headers.get("Location")
    data = {"csrf_token": csrf_token_from(page.get_data(as_text=True)), "name": before[0], "is_active": "y",
            "password": "", **_form_roles(shared, role, side), "roles-0-id": str(shared.target_role_ids[(role, side)])}
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
