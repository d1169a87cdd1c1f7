"""A unique-constraint race answers 409 `duplicate` and writes nothing, never a 500."""
from sqlalchemy import func, select

import workflow.org.users
from models import User


def test_username_taken_between_check_and_insert_is_409_and_writes_nothing(api, world, monkeypatch):
    # Another request inserts the same username after our duplicate check has run: simulate the
    # lost race by letting the check see nothing, so the database's unique constraint decides.
    before = api.session.scalar(select(func.count()).select_from(User))
    original = workflow.org.users.select

    def blind_select(*cols):
        stmt = original(*cols)
        if cols and cols[0] is User.id:
            return stmt.where(User.id < 0)  # the pre-check finds nothing
        return stmt

    monkeypatch.setattr(workflow.org.users, "select", blind_select)
    resp = api.as_user(world["admin"]).post("/users", json={
        "username": "teacher", "password": "long-enough-1", "name": "重名",
        "roles": [{"role": "homeroom_teacher", "class_id": world.klass.id}]})
    assert resp.status_code == 409, resp.json
    assert resp.json["error"]["code"] == "duplicate"
    assert "未写入" in resp.json["error"]["message"]
    assert api.session.scalar(select(func.count()).select_from(User)) == before
