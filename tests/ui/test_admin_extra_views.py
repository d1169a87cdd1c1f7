"""档案管理, more views: 防辍阶梯 (versions; editing saves a new one), 基数, 考试成绩 and 适龄儿童登记 —
in-scope lists, 404 outside the scope, ID masking, export."""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from models import Baseline, CatchmentChild, ExamScore, LadderPolicy
from tests.conftest import csrf_token_from
from workflow.absence import ladder

INNER_ID = "433127201505010012"
OUTER_ID = "433127201505020028"


@pytest.fixture
def rows(world, factory, session):
    """For each view one row of `center` (seen by the principal of `branch` and by center_head)
    and one of `other_center`, each with a text that names it in the list."""
    w = world
    inner_student = factory.student(w.klass, w.village, name="内生甲")
    outer_student = factory.student(w.other_class, w.other_village, name="外生乙")
    inner_ladder = LadderPolicy(center_school_id=w.center.id, version=1, rungs=ladder.DEFAULT_RUNGS)
    outer_ladder = LadderPolicy(center_school_id=w.other_center.id, version=1,
                                rungs=[{**r, "day": r["day"] + 10} for r in ladder.DEFAULT_RUNGS])
    now = dt.datetime(2026, 9, 1, 1, tzinfo=dt.UTC)
    inner_base = Baseline(class_id=w.klass.id, school_id=w.branch.id, school_year="2031-2032", term=1, count=31,
                          rule="term_start", counted_on=dt.date(2031, 9, 1), frozen_at=now)
    outer_base = Baseline(class_id=w.other_class.id, school_id=w.other_branch.id, school_year="2041-2042", term=1,
                          count=29, rule="term_start", counted_on=dt.date(2041, 9, 1), frozen_at=now)
    inner_score = ExamScore(student_id=inner_student.id, class_id=w.klass.id, school_year="2026-2027", term=1,
                            exam="final", subject="内科目", score=Decimal("88.5"))
    outer_score = ExamScore(student_id=outer_student.id, class_id=w.other_class.id, school_year="2026-2027",
                            term=1, exam="final", subject="外科目", score=Decimal("77"))
    inner_child = CatchmentChild(village_id=w.village.id, name="内童甲", gender="M", birth_date=dt.date(2015, 5, 1),
                                 id_card_no=INNER_ID, household_status="local", status="not_enrolled")
    outer_child = CatchmentChild(village_id=w.other_village.id, name="外童乙", gender="F",
                                 birth_date=dt.date(2015, 5, 2), id_card_no=OUTER_ID, household_status="local",
                                 status="enrolled_here")
    session.add_all([inner_ladder, outer_ladder, inner_base, outer_base, inner_score, outer_score, inner_child,
                     outer_child])
    session.commit()
    return {
        "ladderpolicy": (inner_ladder, outer_ladder, "第 1 天", "第 11 天"),
        "baseline": (inner_base, outer_base, "2031-2032", "2041-2042"),
        "examscore": (inner_score, outer_score, "内科目", "外科目"),
        "catchmentchild": (inner_child, outer_child, "内童甲", "外童乙"),
    }


VIEWS = ["ladderpolicy", "baseline", "examscore", "catchmentchild"]


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("role", ["principal", "center_head"])
def test_list_shows_only_rows_in_scope(view, role, rows, world, login):
    _inner, _outer, inner_text, outer_text = rows[view]
    html = login(world[role]).get(f"/admin/{view}/").get_data(as_text=True)
    assert inner_text in html
    assert outer_text not in html


@pytest.mark.parametrize("view", ["ladderpolicy", "baseline", "catchmentchild"])
def test_details_of_an_out_of_scope_id_is_404(view, rows, world, login):
    inner, outer, _, _ = rows[view]
    client = login(world["center_head"])
    assert client.get(f"/admin/{view}/details/?id={inner.id}").status_code == 200
    assert client.get(f"/admin/{view}/details/?id={outer.id}").status_code == 404
    assert client.get(f"/admin/{view}/details/?id=abc").status_code == 404


def test_ladder_edit_of_another_centers_policy_is_404(rows, world, login):
    _inner, outer, _, _ = rows["ladderpolicy"]
    assert login(world["center_office"]).get(f"/admin/ladderpolicy/edit/?id={outer.id}").status_code == 404


def test_teacher_sees_the_scores_of_their_class_only(rows, world, factory, session, login):
    other = factory.student(world.klass2, world.village, name="隔壁班生")
    session.add(ExamScore(student_id=other.id, class_id=world.klass2.id, school_year="2026-2027", term=1,
                          exam="final", subject="隔壁科目", score=Decimal("60")))
    session.commit()
    html = login(world["teacher"]).get("/admin/examscore/").get_data(as_text=True)
    assert "内科目" in html and "隔壁科目" not in html and "外科目" not in html


def _ladder_form(client, url: str, **changes) -> dict:
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    data = {"csrf_token": token, "base_version": "1"}
    for i, rung in enumerate(ladder.DEFAULT_RUNGS):
        data[f"day_{i}"] = str(rung["day"])
        data[f"kind_{i}"] = rung["visit_kind"]
        data[f"roles_{i}"] = list(rung["roles"])
        data[f"report_{i}"] = list(rung.get("report_to", []))
    data.update(changes)
    return data


def test_editing_the_ladder_saves_a_new_version_and_keeps_the_old_one(rows, world, login, session):
    inner, _outer, _, _ = rows["ladderpolicy"]
    client = login(world["center_office"])
    url = f"/admin/ladderpolicy/edit/?id={inner.id}"
    resp = client.post(url, data=_ladder_form(client, url, day_3="6", kind_2="in_person_at_school"))
    assert resp.status_code == 302

    session.expire_all()
    versions = session.scalars(select(LadderPolicy).where(LadderPolicy.center_school_id == world.center.id)
                               .order_by(LadderPolicy.version)).all()
    assert [v.version for v in versions] == [1, 2]
    assert versions[0].rungs == ladder.DEFAULT_RUNGS  # the old version is untouched
    assert versions[1].rungs[3]["day"] == 6 and versions[1].rungs[2]["visit_kind"] == "in_person_at_school"
    assert versions[1].created_by_id == world["center_office"].id
    assert ladder.current_policy(session, world.center.id).version == 2
    # the list reads like the ladder, in Chinese
    html = client.get("/admin/ladderpolicy/").get_data(as_text=True)
    assert "第 6 天 · 村校联合家访 · 村校联合家访 · 村委联络员" in html
    assert "家长到校面谈" in html


def test_ladder_edit_with_bad_days_writes_nothing_and_says_why(rows, world, login, session):
    inner, _outer, _, _ = rows["ladderpolicy"]
    client = login(world["center_head"])
    url = f"/admin/ladderpolicy/edit/?id={inner.id}"
    resp = client.post(url, data=_ladder_form(client, url, day_1="1"))
    assert resp.status_code == 200
    assert "必须大于上一级的天数" in resp.get_data(as_text=True)
    session.expire_all()
    assert session.scalars(select(LadderPolicy.version).where(
        LadderPolicy.center_school_id == world.center.id)).all() == [1]


def test_ladder_post_without_csrf_writes_nothing(rows, world, login, session):
    inner, _outer, _, _ = rows["ladderpolicy"]
    client = login(world["center_office"])
    url = f"/admin/ladderpolicy/edit/?id={inner.id}"
    data = _ladder_form(client, url, day_3="6")
    del data["csrf_token"]
    client.post(url, data=data)
    session.expire_all()
    assert len(session.scalars(select(LadderPolicy).where(LadderPolicy.center_school_id == world.center.id)).all()) == 1


def test_a_center_without_a_saved_ladder_starts_from_the_default(world, login, session):
    client = login(world["center_office"])
    page = client.get("/admin/ladderpolicy/new/").get_data(as_text=True)
    assert 'value="4"' in page  # the default's village-joint day
    data = _ladder_form(client, "/admin/ladderpolicy/new/", center=str(world.center.id), base_version="0",
                        day_0="2", day_1="3", day_2="4", day_3="5")
    assert client.post("/admin/ladderpolicy/new/", data=data).status_code == 302
    session.expire_all()
    assert ladder.current_policy(session, world.center.id).rungs[0].day == 2


def test_a_principal_cannot_edit_the_ladder(rows, world, login, session):
    inner, _outer, _, _ = rows["ladderpolicy"]
    client = login(world["principal"])
    url = f"/admin/ladderpolicy/edit/?id={inner.id}"
    html = client.get("/admin/ladderpolicy/").get_data(as_text=True)
    assert "/admin/ladderpolicy/new/" not in html and "/admin/ladderpolicy/edit/" not in html
    # the edit page sends them to the details page, whose logout form carries a CSRF token
    assert "/details/" in client.get(url).headers["Location"]
    token = csrf_token_from(client.get(f"/admin/ladderpolicy/details/?id={inner.id}").get_data(as_text=True))
    data = {"csrf_token": token, "base_version": "1", "day_3": "9"}
    for i, rung in enumerate(ladder.DEFAULT_RUNGS[:3]):
        data.update({f"day_{i}": str(rung["day"]), f"kind_{i}": rung["visit_kind"], f"roles_{i}": rung["roles"]})
    resp = client.post(url, data=data)
    assert resp.status_code == 302 and "/details/" in resp.headers["Location"]
    assert client.post("/admin/ladderpolicy/new/", data={"csrf_token": token, "center": str(world.center.id)}
                       ).status_code == 302
    session.expire_all()
    assert session.scalars(select(LadderPolicy.version).where(
        LadderPolicy.center_school_id == world.center.id)).all() == [1]


def test_school_staff_see_only_the_current_version_of_their_center(rows, world, login, session):
    inner, _outer, _, _ = rows["ladderpolicy"]
    newer = LadderPolicy(center_school_id=world.center.id, version=2,
                         rungs=[{**r, "day": r["day"] + 20} for r in ladder.DEFAULT_RUNGS])
    session.add(newer)
    session.commit()
    principal = login(world["principal"])
    assert principal.get(f"/admin/ladderpolicy/details/?id={inner.id}").status_code == 404
    assert principal.get(f"/admin/ladderpolicy/details/?id={newer.id}").status_code == 200
    head = login(world["center_head"])
    assert head.get(f"/admin/ladderpolicy/details/?id={inner.id}").status_code == 200


def test_catchment_ids_are_masked_for_roles_that_may_not_see_them(rows, world, login):
    head = login(world["center_head"]).get("/admin/catchmentchild/").get_data(as_text=True)
    assert INNER_ID not in head and "433127********0012" in head
    office_csv = login(world["center_office"]).get("/admin/catchmentchild/export/csv/").get_data(as_text=True)
    assert INNER_ID in office_csv
    head_csv = login(world["center_head"]).get("/admin/catchmentchild/export/csv/").get_data(as_text=True)
    assert INNER_ID not in head_csv
    table = list(csv.reader(io.StringIO(head_csv.lstrip("\ufeff"))))
    assert table[0][:3] == ["村", "姓名", "性别"] and table[1][1] == "内童甲" and table[1][6] == "未就读"
    assert "外童乙" not in head_csv


def test_baseline_list_filters_by_school_year_and_is_read_only(rows, world, login, factory, session):
    session.add(Baseline(class_id=world.klass.id, school_id=world.branch.id, school_year="2032-2033", term=2,
                         count=30, rule="takeover", counted_on=dt.date(2033, 1, 20),
                         frozen_at=dt.datetime(2033, 2, 1, tzinfo=dt.UTC)))
    session.commit()
    client = login(world["principal"])
    html = client.get("/admin/baseline/?flt1_2=2032-2033").get_data(as_text=True)
    assert "上学期末人数" in html and "2031-2032" not in html
    assert client.get("/admin/baseline/new/").status_code in (302, 403, 404)
    inner, _o, _, _ = rows["baseline"]
    assert client.get(f"/admin/baseline/edit/?id={inner.id}").status_code in (302, 403, 404)


def test_exam_score_export_is_an_excel_file_of_the_scope(rows, world, login):
    from openpyxl import load_workbook

    resp = login(world["center_head"]).get("/admin/examscore/export/xlsx/")
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.data)).active
    values = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert values[0][0] == "学生" and any("内科目" in r for r in values) and not any("外科目" in r for r in values)
