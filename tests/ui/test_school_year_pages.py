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


# --- balanced placement from the page (issue 12) ----------------------------------------------------


def intake_world(world, factory, session, n=10):
    """The branch's grade 1 of this year: a holding class with the new intake, two empty classes."""
    holding = factory.klass(world.branch, 1, "一年级新生")
    targets = [factory.klass(world.branch, 1, f"一年级{i}班") for i in (1, 2)]
    kids = [factory.student(holding, world.village, gender="M" if i % 2 else "F", name=f"新生{i}")
            for i in range(n)]
    session.commit()
    return holding, targets, kids


def test_office_places_an_intake_after_confirming_and_sees_the_lists(world, factory, login, client, session):
    from models import Placement

    holding, targets, kids = intake_world(world, factory, session)
    login(world["office"])
    html = client.get(f"/school-year?placement_school_id={world.branch.id}&grade=1").get_data(as_text=True)
    assert 'data-placement-form' in html and f'data-placement-class="{holding.id}"' in html
    assert "10 人（男 5，女 5）" in html
    # the final step asks first: the run button sits inside the confirmation
    assert re.search(r'data-confirm="placement".*?data-confirm-fire="placement"', html, re.S)
    r = client.post("/school-year/placements", data={
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1),
        "placement_school_id": str(world.branch.id), "grade": "1", "intake_ids": [str(holding.id)],
        "target_ids": [str(k.id) for k in targets], "seed": "20260901"})
    assert r.status_code == 302
    row = session.scalar(select(Placement))
    assert r.headers["Location"].endswith(f"/school-year/placements/{row.id}") and row.seed == 20260901
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已分班：10 名学生分入 2 个班，抽签种子 20260901" in page
    assert all(k.name in page for k in targets) and page.count("共 5 人（男") == 2
    session.expire_all()
    assert sorted(session.get(Student, s.id).class_id for s in kids) == sorted([targets[0].id] * 5 + [targets[1].id] * 5)
    # the earlier placements are listed with a link to their lists
    html = client.get("/school-year").get_data(as_text=True)
    assert f'data-placement-link="{row.id}"' in html and "10 人分入 2 个班" in html


def test_a_refused_placement_keeps_the_choice_and_writes_nothing(world, factory, login, client, session):
    from models import Enrolment, Placement

    holding, targets, _kids = intake_world(world, factory, session, n=4)
    login(world["office"])
    html = client.get("/school-year").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    base = {"csrf_token": token, "placement_school_id": str(world.branch.id), "grade": "1"}
    periods = session.scalar(select(func.count()).select_from(Enrolment))
    for form, message in [
        ({"intake_ids": [str(holding.id)]}, "请勾选要分入的班级"),
        ({"target_ids": [str(targets[0].id)]}, "请勾选新生现在所在的班级"),
        ({"intake_ids": [str(holding.id)], "target_ids": [str(targets[0].id)], "seed": "abc"},
         "抽签种子必须是 0 到 2147483647 之间的整数"),
        ({"intake_ids": [str(targets[1].id)], "target_ids": [str(targets[0].id)]}, "没有在校或待入学的学生"),
        ({"intake_ids": [str(world.klass.id)], "target_ids": [str(targets[0].id)]}, "不是该校本学年这个年级的班级"),
        ({"intake_ids": [str(holding.id)], "target_ids": [str(targets[0].id)], "grade": "3"}, "请选择一年级或七年级"),
    ]:
        r = client.post("/school-year/placements", data=base | form)
        html = r.get_data(as_text=True)
        assert r.status_code == 422 and message in html, (form, message)
        assert "class_ids" not in html and "student_ids" not in html
    # what was ticked and typed is still there
    r = client.post("/school-year/placements", data=base | {"intake_ids": [str(holding.id)], "seed": "12x"})
    html = r.get_data(as_text=True)
    assert re.search(rf'name="intake_ids" value="{holding.id}"[^>]*checked', html) and 'value="12x"' in html
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Placement)) == 0
    assert session.scalar(select(func.count()).select_from(Enrolment)) == periods


def test_placement_of_another_school_is_not_found(world, factory, login, client, session):
    intake_world(world, factory, session, n=2)
    other = factory.klass(world.other_branch, 1, "一年级1班")
    session.commit()
    login(world["office"])
    html = client.get("/school-year").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    r = client.post("/school-year/placements", data={
        "csrf_token": token, "placement_school_id": str(world.other_branch.id), "grade": "1",
        "intake_ids": [str(other.id)], "target_ids": [str(other.id)]})
    assert r.status_code == 404
