"""School-year rollover and balanced placement (SPEC §5, API.md): dry run then run, promotion,
graduation by the school's level, suspended children and open cases carried, recovery kept open,
twice = once, the unverified rolls warned about; a placement balanced by gender, replayable from
its seed, never using scores."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import func, select

from models import Case, Enrolment, SchoolClass, Student
from workflow.cases.engine import create_case_system


@pytest.fixture
def year(world, factory, session):
    """The branch as a primary school with classes of grades 3, 4 and 6, and children in them."""
    world.branch.level = "primary"
    six = factory.klass(world.branch, 6, "六年级1班")
    kids = {
        "three": [factory.student(world.klass, world.village) for _ in range(3)],
        "four": [factory.student(world.klass2, world.village) for _ in range(2)],
        "six": [factory.student(six, world.village) for _ in range(2)],
    }
    kids["suspended"] = factory.student(world.klass, world.village, status="suspended")
    kids["dropped"] = factory.student(world.klass2, world.village, status="dropped_out")
    kids["recovery"] = create_case_system(session, "recovery", kids["dropped"].id, {"reason_category": "厌学"},
                                          effective_date=dt.date(2026, 11, 2))
    incoming = factory.student(world.klass, world.village, status="incoming")
    kids["transfer_in"] = Case(process="transfer_in", state="submitted", student_id=incoming.id,
                               school_id=world.branch.id, data={"class_id": world.klass.id, "origin_school": "外县"},
                               opened_on=dt.date(2026, 12, 1))
    session.add(kids["transfer_in"])
    session.flush()
    return six, kids


def roll(api, user, school, dry_run, **kw):
    return api.as_user(user).post("/school-years/rollover", json={
        "school_id": school.id, "from_year": "2026-2027", "to_year": "2027-2028", "dry_run": dry_run, **kw})


def snapshot(session):
    return (session.scalar(select(func.count()).select_from(SchoolClass)),
            session.scalar(select(func.count()).select_from(Enrolment)),
            tuple(session.execute(select(Student.id, Student.status, Student.class_id).order_by(Student.id))))


def test_dry_run_then_run_then_run_again(api, world, session, year):
    six, kids = year
    before = snapshot(session)
    dry = roll(api, world["office"], world.branch, True)
    assert dry.status_code == 200, dry.json
    expected = {"classes_created": 2, "promoted": 5, "graduated": 2, "suspended_carried": 1, "carried_cases": 1}
    assert {k: dry.json[k] for k in expected} == expected
    assert {c["name"] for c in dry.json["unverified_classes"]} == {"三年级1班", "四年级1班", "六年级1班"}
    assert snapshot(session) == before  # a dry run writes nothing

    run = roll(api, world["office"], world.branch, False)
    assert {k: run.json[k] for k in expected} == expected
    new = {k.name: k for k in session.scalars(select(SchoolClass).where(SchoolClass.school_year == "2027-2028"))}
    assert {(n, k.grade) for n, k in new.items()} == {("四年级1班", 4), ("五年级1班", 5)}
    child = session.get(Student, kids["three"][0].id)
    assert (child.status, child.class_id) == ("active", new["四年级1班"].id)
    assert [(e.class_id, e.start_date, e.end_date, e.end_reason) for e in child.enrolments] == [
        (world.klass.id, dt.date(2026, 9, 1), dt.date(2027, 8, 1), "promoted"),
        (new["四年级1班"].id, dt.date(2027, 8, 1), None, None)]
    # a graduate: status graduated, enrolment closed
    grad = session.get(Student, kids["six"][0].id)
    assert grad.status == "graduated"
    assert [(e.end_date, e.end_reason) for e in grad.enrolments] == [(dt.date(2027, 8, 1), "graduated")]
    # suspended: still suspended, followed by the new class's teacher
    sus = session.get(Student, kids["suspended"].id)
    assert (sus.status, sus.class_id) == ("suspended", new["四年级1班"].id)
    # the dropped-out child's recovery stays open; the transfer-in waits for the new class
    assert session.get(Case, kids["recovery"].id).is_open
    assert session.get(Student, kids["dropped"].id).status == "dropped_out"
    assert session.get(Case, kids["transfer_in"].id).data["class_id"] == new["四年级1班"].id

    after = snapshot(session)
    again = roll(api, world["office"], world.branch, False)
    assert {k: again.json[k] for k in expected} == dict.fromkeys(expected, 0)
    assert snapshot(session) == after


def test_a_nine_year_school_graduates_grade_nine_not_six(api, world, factory, session):
    nine = factory.klass(world.center, 9, "九年级1班")
    six = factory.klass(world.center, 6, "六年级2班")
    a, b = factory.student(nine, world.village), factory.student(six, world.village)
    r = roll(api, world["center_office"], world.center, False)
    assert r.json["graduated"] == 1
    assert session.get(Student, a.id).status == "graduated"
    assert session.get(Student, b.id).status == "active"


def test_verified_classes_are_not_warned_about(api, world, session, year):
    r = api.as_user(world["office"]).post("/cases", json={"process": "roll_verification",
                                                          "data": {"class_id": world.klass.id}})
    case = session.get(Case, r.json["id"])
    api.as_user(world["teacher"]).post(f"/cases/{case.id}/transitions/submit",
                                       json={"version": case.version, "data": {"differences": []}})
    version = session.get(Case, case.id).version
    ok = api.as_user(world["office"]).post(f"/cases/{case.id}/transitions/office_approve",
                                           json={"version": version, "data": {"resolutions": []}})
    assert ok.status_code == 200, ok.json
    names = {c["name"] for c in roll(api, world["office"], world.branch, True).json["unverified_classes"]}
    assert names == {"四年级1班", "六年级1班"}


def test_center_office_rolls_all_its_schools(api, world, factory, session):
    factory.student(world.klass, world.village)
    factory.student(world.center_class, world.village)
    other = factory.student(world.other_class, world.other_village)
    r = roll(api, world["center_office"], world.center, False, include_branches=True)
    assert r.status_code == 200, r.json
    assert set(r.json["schools"]) == {world.center.id, world.branch.id, world.branch2.id}
    assert r.json["promoted"] == 2
    assert session.get(Student, other.id).class_id == world.other_class.id


@pytest.mark.parametrize("role,school,body,status", [
    ("teacher", "branch", {}, 403),
    ("office", "center", {"include_branches": True}, 404),
    ("principal", "branch", {"include_branches": True}, 422),
    ("other_office", "branch", {}, 404),
    ("office", "branch", {"to_year": "2028-2029"}, 422),
])
def test_rollover_refusals_write_nothing(api, world, session, year, role, school, body, status):
    before = snapshot(session)
    r = api.as_user(world[role]).post("/school-years/rollover", json={
        "school_id": getattr(world, school).id, "from_year": "2026-2027", "to_year": "2027-2028",
        "dry_run": False, **body})
    assert r.status_code == status, r.json
    assert snapshot(session) == before


# --- placement -----------------------------------------------------------------------------------


@pytest.fixture
def intake(world, factory):
    classes = [factory.klass(world.branch, 1, f"一年级{i}班") for i in (1, 2, 3)]
    holding = factory.klass(world.branch, 1, "一年级新生")
    kids = [factory.student(holding, world.village, gender="M" if i < 11 else "F") for i in range(20)]
    return classes, kids


def place(api, user, world, classes, kids, seed=None):
    body = {"school_id": world.branch.id, "school_year": "2026-2027", "grade": 1,
            "class_ids": [k.id for k in classes], "student_ids": [s.id for s in kids]}
    if seed is not None:
        body["seed"] = seed
    return api.as_user(user).post("/placements", json=body)


def test_placement_is_balanced_and_replayable(api, world, session, intake):
    classes, kids = intake
    r = place(api, world["office"], world, classes, kids, seed=20260901)
    assert r.status_code == 201, r.json
    assert r.json["seed"] == 20260901
    gender = {s.id: s.gender for s in kids}
    per_class = Counter(a["class_id"] for a in r.json["assignments"])
    assert max(per_class.values()) - min(per_class.values()) <= 1
    for g in ("M", "F"):
        counts = Counter(a["class_id"] for a in r.json["assignments"] if gender[a["student_id"]] == g)
        assert max(counts[k.id] for k in classes) - min(counts[k.id] for k in classes) <= 1
    # each child is now in the class drawn
    assert all(session.get(Student, a["student_id"]).class_id == a["class_id"] for a in r.json["assignments"])
    got = api.get(f"/placements/{r.json['id']}").json
    assert got["assignments"] == got["replayed"] == r.json["assignments"]
    # the same seed and inputs, in any order, give the same classes
    again = place(api, world["office"], world, classes, list(reversed(kids)), seed=20260901)
    assert again.json["assignments"] == r.json["assignments"]
    other = place(api, world["office"], world, classes, kids, seed=7)
    assert other.json["assignments"] != r.json["assignments"]


def test_placement_without_seed_records_one(api, world, intake):
    classes, kids = intake
    r = place(api, world["office"], world, classes, kids)
    assert isinstance(r.json["seed"], int)
    assert api.get(f"/placements/{r.json['id']}").json["replayed"] == r.json["assignments"]


@pytest.mark.parametrize("role,change,status", [
    ("teacher", {}, 403),
    ("office", {"grade": 3}, 422),
    ("office", {"class_ids": "klass"}, 422),
    ("other_office", {}, 404),
])
def test_placement_refusals(api, world, session, intake, role, change, status):
    classes, kids = intake
    body = {"school_id": world.branch.id, "school_year": "2026-2027", "grade": 1,
            "class_ids": [k.id for k in classes], "student_ids": [s.id for s in kids]} | change
    if change.get("class_ids") == "klass":
        body["class_ids"] = [world.klass.id]
    before = snapshot(session)
    r = api.as_user(world[role]).post("/placements", json=body)
    assert r.status_code == status, r.json
    assert snapshot(session) == before


def test_placement_page_prints_each_class(api, world, intake, login, client):
    classes, kids = intake
    r = place(api, world["office"], world, classes, kids, seed=1)
    login(world["office"])
    page = client.get(f"/school-year/placements/{r.json['id']}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert all(k.name in text for k in classes) and "1" in text
