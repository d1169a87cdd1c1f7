from models import User


def test_login_page_is_chinese(client):
    html = client.get("/login").get_data(as_text=True)
    assert "登录" in html


def test_world_builds(world, session):
    assert session.query(User).count() == len(world.users)


def test_token_then_me(api, world):
    r = api.post("/tokens", json={"username": "teacher", "password": "secret-pass-1"})
    assert r.status_code == 201, r.json
    assert r.json["token"] and r.json["expires_at"]
    r2 = api.anonymous().post("/tokens", json={"username": "teacher", "password": "nope"})
    assert r2.status_code == 401
    assert r2.json["error"]["code"] == "unauthorized"
