"""The academic office's school-year page: a roster's report is shown before anything is written,
then the file is imported; the rollover is previewed, then run (SPEC §5)."""
from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from models import SchoolClass, Student
from tests.api.test_roster_import import row, xlsx
from tests.conftest import csrf_token_from


def post(client, path, data):
    page = client.get("/school-year")
    return client.post(path, data={"csrf_token": csrf_token_from(page.get_data(as_text=True)), **data},
                       content_type="multipart/form-data")


def students(session):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Student))


def test_report_first_then_import(world, login, client, session):
    login(world["office"])
    page = client.get("/school-year")
    assert page.status_code == 200 and "学籍名册" in page.get_data(as_text=True)
    bad = xlsx([row(1), row(2, 户籍村="<b>河口村</b>")])
    r = post(client, "/school-year/roster", {"school_id": str(world.branch.id), "school_year": "2026-2027",
                                             "mode": "check", "file": (io.BytesIO(bad), "名册.xlsx")})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-row="3"' in html
    assert "&lt;b&gt;河口村&lt;/b&gt;" in html and "<b>河口村" not in html  # what the user typed is escaped
    assert "data-import-all" not in html and "data-import-valid" in html
    assert students(session) == 0
    good = xlsx([row(1), row(2)])
    r = post(client, "/school-year/roster", {"school_id": str(world.branch.id), "school_year": "2026-2027",
                                             "mode": "check", "file": (io.BytesIO(good), "名册.xlsx")})
    html = r.get_data(as_text=True)
    assert "data-import-all" in html and students(session) == 0
    carried = re.search(r'name="file_b64" value="([^"]+)"', html).group(1)
    r = post(client, "/school-year/roster", {"school_id": str(world.branch.id), "school_year": "2026-2027",
                                             "mode": "all", "file_b64": carried})
    assert r.status_code == 200 and "data-imported" in r.get_data(as_text=True)
    assert students(session) == 2


def test_rollover_preview_then_run(world, factory, login, client, session):
    factory.student(world.klass, world.village)
    session.commit()
    login(world["office"])
    form = {"school_id": str(world.branch.id), "from_year": "2026-2027", "to_year": "2027-2028"}
    r = post(client, "/school-year/rollover", form | {"action": "preview"})
    assert 'data-rollover-result="dry"' in r.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(SchoolClass).where(
        SchoolClass.school_year == "2027-2028")) == 0
    r = post(client, "/school-year/rollover", form | {"action": "run"})
    assert 'data-rollover-result="run"' in r.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(SchoolClass).where(
        SchoolClass.school_year == "2027-2028")) == 2


def test_teacher_may_not_open_the_page(world, login, client):
    login(world["teacher"])
    assert client.get("/school-year").status_code == 403
