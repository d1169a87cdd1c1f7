"""Authentication of the organization API: who is calling, and tokens that no longer work."""
import datetime as dt

import pytest
from sqlalchemy import select

from models import ApiToken, LoginThrottle
from tests.factories import PASSWORD

ORG_READS = ["/me", "/schools", "/villages", "/classes", "/users", "/students", "/students/1",
             "/classes/1", "/users/1", "/schools/1", "/calendar/1"]
ORG_WRITES = [("POST", "/schools"), ("POST", "/villages"), ("POST", "/classes"), ("POST", "/users"),
              ("POST", "/students"), ("PUT", "/calendar/1")]


def test_me_answers_the_callers_roles(api, world):
    r = api.as_user(world["teacher"]).get("/me")
    assert r.status_code == 200
    assert r.json == {"id": world["teacher"].id, "username": "teacher", "name": "teacher",
                      "roles": [{"role": "homeroom_teacher", "school_id": None,
                                 "class_id": world.klass.id, "village_id": None}]}


@pytest.mark.parametrize("path", ORG_READS)
def test_reads_without_token_are_401(api, world, path):
    r = api.anonymous().get(path)
    assert r.status_code == 401
    assert r.json["error"]["code"] == "unauthorized"
    assert "Authorization" in r.json["error"]["message"]


@pytest.mark.parametrize("method,path", ORG_WRITES)
def test_writes_without_token_are_401(api, world, method, path):
    r = api.anonymous().request(method, path, json={})
    assert r.status_code == 401


def test_garbage_token_is_401(api, world):
    api.token = "not-a-token"
    r = api.get("/me")
    assert r.status_code == 401
    assert r.json["error"]["message"] == "令牌无效或已过期"


def test_token_of_deactivated_user_is_401(api, world, session):
    api.as_user(world["principal"])
    assert api.get("/me").status_code == 200
    world["principal"].is_active = False
    r = api.get("/me")
    assert r.status_code == 401


def test_expired_token_is_401(api, world, session):
    api.as_user(world["principal"])
    assert api.get("/me").status_code == 200
    for row in session.query(ApiToken).all():
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    r = api.get("/me")
    assert r.status_code == 401


def test_failed_token_requests_are_counted_although_they_answer_401(api, world, db):
    """The attempt count outlives the request's rollback (boundary.keep_writes_on_error)."""
    def stored_attempts() -> int:
        with db.engine.connect() as conn:
            return conn.scalar(select(LoginThrottle.attempts).where(LoginThrottle.key == "pair:127.0.0.1|teacher"))

    for n in (1, 2):
        assert api.anonymous().post("/tokens", json={"username": "teacher", "password": "nope"}).status_code == 401
        assert stored_attempts() == n


def test_repeated_failed_token_requests_are_throttled_for_the_api_too(api, world):
    for _ in range(5):
        api.anonymous().post("/tokens", json={"username": "teacher", "password": "nope"})
    r = api.anonymous().post("/tokens", json={"username": "teacher", "password": PASSWORD})
    assert r.status_code == 429
    assert r.json["error"]["code"] == "throttled"
    assert "秒后再试" in r.json["error"]["message"]
    assert int(r.headers["Retry-After"]) == r.json["error"]["details"]["retry_after"] > 0


def test_delete_current_token_revokes_only_that_token(api, world, session):
    other = api.__class__(api.client.application, session).as_user(world["principal"])
    api.as_user(world["principal"])
    assert api.get("/me").status_code == 200
    r = api.delete("/tokens/current")
    assert r.status_code == 204
    assert api.get("/me").status_code == 401
    assert api.delete("/tokens/current").status_code == 401
    assert other.get("/me").status_code == 200  # the same user's other token still works


def test_delete_current_token_without_a_token_is_401(api, world):
    assert api.anonymous().delete("/tokens/current").status_code == 401
