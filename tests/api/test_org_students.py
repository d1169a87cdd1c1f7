"""POST/GET /students: enrolment by the school's office, scope of reading, ID-card masking."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from models import Case, Enrolment, Guardian, Student
from workflow import clock
from workflow.org.services import id_card_check_char


def id_card(prefix17="11010120160501123"):
    return prefix17 + id_card_check_char(prefix17)


def counts(session):
    return tuple(session.scalar(select(func.count()).select_from(m)) for m in (Student, Guardian, Enrolment))


def body(world, klass="klass", village="village", **kw):
    return {"name": "王小明", "gender": "M", "birth_date": "2016-05-01", "class_id": getattr(world, klass).id,
            "village_id": getattr(world, village).id,
            "guardians": [{"name": "王大明", "relation": "父亲", "phone": "13900000000"}], **kw}


@pytest.mark.parametrize("role,klass,village", [
    ("admin", "klass", "village"),
    ("center_head", "klass", "village2"),
    ("center_office", "center_class", "village"),
    ("principal", "klass", "village"),
    ("office", "klass2", "village2"),
    ("other_office", "other_class", "other_village"),
])
def test_allowed_roles_enrol_students(api, world, session, role, klass, village):
    r = api.as_user(world[role]).post("/students", json=body(world, klass, village))
    assert r.status_code == 201, r.json
    assert r.json["status"] == "active"
    st = session.get(Student, r.json["id"])
    k = getattr(world, klass)
    assert (st.class_id, st.school_id, st.village_id) == (k.id, k.school_id, getattr(world, village).id)
    assert [(e.class_id, e.start_date, e.start_reason, e.end_date) for e in st.enrolments] == \
        [(k.id, clock.today(), "enrol", None)]
    assert [(g.name, g.relation, g.phone) for g in st.guardians] == [("王大明", "父亲", "13900000000")]


def test_all_fields_are_stored_and_answered(api, world, session):
    data = body(world, student_no="G110101201605011234", id_card_no=id_card(), flags=["poor", "left_behind"])
    r = api.as_user(world["office"]).post("/students", json=data)
    assert r.status_code == 201
    assert r.json == {
        "id": r.json["id"], "name": "王小明", "gender": "M", "birth_date": "2016-05-01",
        "student_no": "G110101201605011234", "id_card_no": id_card(), "class_id": world.klass.id,
        "school_id": world.branch.id, "village_id": world.village.id, "status": "active",
        "is_provisional": False, "flags": ["left_behind", "poor"],
        "guardians": [{"name": "王大明", "relation": "父亲", "phone": "13900000000"}],
        "enrolled_on": clock.today().isoformat(),
    }
    assert api.get(f"/students/{r.json['id']}").json == r.json


@pytest.mark.parametrize("role,klass,village,status,field", [
    ("principal", "other_class", "village", 404, "class_id"),
    ("principal", "center_class", "village", 404, "class_id"),
    ("center_head", "other_class", "village", 404, "class_id"),
    ("principal", "klass", "other_village", 404, "village_id"),
    ("liaison", "klass", "village", 404, "class_id"),
    ("teacher", "klass", "village", 403, None),
    ("subject", "klass", "village", 403, None),
    ("team", "klass", "village", 403, None),
    ("supervisor", "klass", "village", 403, None),
])
def test_others_may_not_enrol_students(api, world, session, role, klass, village, status, field):
    before = counts(session)
    r = api.as_user(world[role]).post("/students", json=body(world, klass, village))
    assert r.status_code == status, r.json
    assert counts(session) == before
    if field:
        assert r.json["error"]["details"] == {"field": field}
        # the message says what is wrong in words; the key is for clients, in details
        what = {"class_id": "班级", "village_id": "村"}[field]
        assert r.json["error"]["message"] == f"{what}不存在或不在您的管辖范围内"


def test_class_error_message_is_chinese_and_names_the_field(api, world):
    r = api.as_user(world["principal"]).post("/students", json=body(world, "other_class"))
    assert r.json["error"]["message"] == "班级不存在或不在您的管辖范围内"
    assert r.json["error"]["details"] == {"field": "class_id"}


def test_village_outside_the_centers_catchment_is_422(api, world, session):
    before = counts(session)
    r = api.as_user(world["admin"]).post("/students", json=body(world, "klass", "other_village"))
    assert r.status_code == 422
    assert r.json["error"]["details"] == {"field": "village_id"}
    assert counts(session) == before


# (change, details.field, what the message names): the body's shape errors name the JSON key;
# the ID-number checks say 身份证号, as staff call it
@pytest.mark.parametrize("change,field,named", [
    ({"gender": "X"}, "gender", "gender"),
    ({"birth_date": "2016-13-01"}, "birth_date", "birth_date"),
    ({"birth_date": "01/05/2016"}, "birth_date", "birth_date"),
    ({"birth_date": "2999-01-01"}, "birth_date", "birth_date"),
    ({"class_id": "1"}, "class_id", "class_id"),
    ({"village_id": None}, "village_id", "village_id"),
    ({"id_card_no": "12345"}, "id_card_no", "身份证号必须是18位"),
    ({"id_card_no": "1101012016050112X4"}, "id_card_no", "身份证号必须是18位"),
    ({"id_card_no": "110101201613011230"}, "id_card_no", "身份证号中的出生日期无效"),
    ({"id_card_no": id_card()[:17] + ("0" if id_card()[17] != "0" else "1")}, "id_card_no", "身份证号校验位不正确"),
    ({"flags": ["rich"]}, "flags[0]", "flags[0]"),
    ({"flags": "poor"}, "flags", "flags"),
    ({"guardians": [{"name": "王大明", "relation": "父亲"}]}, "guardians[0].phone", "guardians[0].phone"),
    ({"guardians": [{"name": "王大明", "relation": "父亲", "phone": "1", "age": 40}]}, "guardians[0].age",
     "guardians[0].age"),
    ({"hobby": "football"}, "hobby", "hobby"),
])
def test_malformed_student_is_422_naming_the_field(api, world, session, change, field, named):
    before = counts(session)
    r = api.as_user(world["admin"]).post("/students", json=body(world, **change))
    assert r.status_code == 422, r.json
    assert r.json["error"]["details"]["field"] == field
    assert named in r.json["error"]["message"]
    assert counts(session) == before


@pytest.mark.parametrize("missing", ["name", "gender", "birth_date", "class_id", "village_id", "guardians"])
def test_missing_required_field_is_422(api, world, session, missing):
    data = body(world)
    del data[missing]
    r = api.as_user(world["admin"]).post("/students", json=data)
    assert r.status_code == 422
    assert r.json["error"]["message"] == f"缺少必填字段：{missing}"


def test_lowercase_x_in_id_card_is_accepted_and_stored_upper(api, world, session):
    number = next(p + id_card_check_char(p) for p in (f"1101012016050112{i}" for i in range(10))
                  if id_card_check_char(p) == "X")
    r = api.as_user(world["admin"]).post("/students", json=body(world, id_card_no=number.lower()))
    assert r.status_code == 201
    assert r.json["id_card_no"] == number


@pytest.mark.parametrize("field,value", [("student_no", "G0001"), ("id_card_no", id_card())])
def test_duplicate_student_numbers_are_409(api, world, session, factory, field, value):
    factory.student(world.other_class, world.other_village, **{field: value})
    before = counts(session)
    r = api.as_user(world["office"]).post("/students", json=body(world, **{field: value}))
    assert r.status_code == 409
    assert r.json["error"]["code"] == "duplicate"
    assert r.json["error"]["details"] == {"field": field}
    assert counts(session) == before


# --- reading students ----------------------------------------------------------------------


@pytest.fixture
def pupil(world, factory):
    """A student of world.klass (branch school) from world.village, with an ID card on record."""
    return factory.student(world.klass, world.village, id_card_no=id_card())


MASKED = id_card()[:6] + "********" + id_card()[-4:]


@pytest.mark.parametrize("role,expected", [
    ("admin", "full"),
    ("principal", "full"),
    ("office", "full"),
    ("center_office", "full"),
    ("center_head", "masked"),
    ("supervisor", "masked"),
    ("teacher", "masked"),
    ("subject", "masked"),
    ("team", "masked"),
])
def test_id_card_shown_in_full_only_to_records_roles(api, world, pupil, role, expected):
    r = api.as_user(world[role]).get(f"/students/{pupil.id}")
    assert r.status_code == 200
    assert r.json["id_card_no"] == (id_card() if expected == "full" else MASKED)
    listed = api.get("/students").json["items"]
    assert [s["id_card_no"] for s in listed if s["id"] == pupil.id] == [r.json["id_card_no"]]


def test_records_role_of_another_school_sees_the_mask(api, world, factory, pupil):
    # an academic office of another school who is also this class's subject teacher
    factory.grant(world["other_office"], "subject_teacher", klass=world.klass)
    r = api.as_user(world["other_office"]).get(f"/students/{pupil.id}")
    assert r.status_code == 200
    assert r.json["id_card_no"] == MASKED


def test_liaison_sees_the_mask_while_a_case_is_open(api, world, session, pupil):
    session.add(Case(process="absence", state="reported", student_id=pupil.id, school_id=pupil.school_id,
                     opened_on=dt.date(2026, 9, 7), is_open=True))
    r = api.as_user(world["liaison"]).get(f"/students/{pupil.id}")
    assert r.status_code == 200
    assert r.json["id_card_no"] == MASKED


@pytest.mark.parametrize("role", ["other_principal", "other_center_head", "other_teacher", "liaison",
                                  "other_liaison"])
def test_student_out_of_scope_is_404(api, world, pupil, role):
    r = api.as_user(world[role]).get(f"/students/{pupil.id}")
    assert r.status_code == 404
    assert r.json["error"]["code"] == "not_found"


def test_teacher_sees_only_their_class(api, world, factory, pupil):
    other = factory.student(world.klass2, world.village)
    api.as_user(world["teacher"])
    assert api.get(f"/students/{other.id}").status_code == 404
    assert [s["id"] for s in api.get("/students").json["items"]] == [pupil.id]


def test_student_list_filters(api, world, factory, pupil):
    k2 = factory.student(world.klass2, world.village2)
    gone = factory.student(world.klass2, world.village2, status="dropped_out")
    center_pupil = factory.student(world.center_class, world.village)
    factory.student(world.other_class, world.other_village)
    api.as_user(world["center_office"])
    ids = lambda q: [s["id"] for s in api.get("/students" + q).json["items"]]  # noqa: E731
    assert ids("") == [pupil.id, k2.id, gone.id, center_pupil.id]
    assert ids(f"?class_id={world.klass2.id}") == [k2.id, gone.id]
    assert ids(f"?school_id={world.branch.id}&status=active") == [pupil.id, k2.id]
    assert ids("?status=dropped_out") == [gone.id]
    assert ids(f"?class_id={world.other_class.id}") == []
    page = api.get("/students?limit=1&offset=1").json
    assert page == {"items": [api.get(f"/students/{k2.id}").json], "total": 4}


@pytest.mark.parametrize("query,field", [("?status=lost", "status"), ("?class_id=abc", "class_id"),
                                         ("?offset=-1", "offset")])
def test_bad_list_query_is_422(api, world, query, field):
    r = api.as_user(world["admin"]).get("/students" + query)
    assert r.status_code == 422
    assert r.json["error"]["details"] == {"field": field}


# --- enrolled_on, PATCH and the change history (SPEC §1, §5) ------------------------------------


def test_enrolled_on_starts_the_enrolment_period(api, world, session):
    r = api.as_user(world["office"]).post("/students", json=body(world, enrolled_on="2026-09-01"))
    assert r.status_code == 201, r.json
    assert r.json["enrolled_on"] == "2026-09-01"
    st = session.get(Student, r.json["id"])
    assert [(e.start_date, e.end_date) for e in st.enrolments] == [(dt.date(2026, 9, 1), None)]


@pytest.mark.parametrize("value,needle", [
    ((clock.today() + dt.timedelta(days=1)).isoformat(), "不能晚于今天"),
    ("2016-04-01", "不能早于出生日期"),
    ("2026-13-01", "enrolled_on"),
])
def test_bad_enrolled_on_is_422_and_writes_nothing(api, world, session, value, needle):
    before = counts(session)
    r = api.as_user(world["office"]).post("/students", json=body(world, enrolled_on=value))
    assert r.status_code == 422
    assert needle in r.json["error"]["message"]
    assert counts(session) == before


def test_close_watch_flags_are_accepted(api, world):
    r = api.as_user(world["office"]).post("/students", json=body(world, flags=["orphan", "migrant",
                                                                                "justice_involved"]))
    assert r.status_code == 201, r.json
    assert r.json["flags"] == ["orphan", "migrant", "justice_involved"]


def test_patch_keeps_who_changed_what(api, world, pupil):
    old_name, old_guardian = pupil.name, pupil.guardians[0].name
    api.as_user(world["office"])
    r = api.request("PATCH", f"/students/{pupil.id}", json={"name": "王小红", "flags": ["orphan"],
                                                "guardians": [{"name": "李奶奶", "relation": "祖母",
                                                               "phone": "13700000000"}]})
    assert r.status_code == 200, r.json
    assert r.json["name"] == "王小红" and r.json["flags"] == ["orphan"]
    changes = api.get(f"/students/{pupil.id}/changes").json
    assert [(c["field"], c["old"], c["new"]) for c in changes["items"]] == [
        ("name", old_name, "王小红"), ("flags", [], ["orphan"]),
        ("guardians", [{"name": old_guardian, "relation": "父亲", "phone": "13800000000"}],
         [{"name": "李奶奶", "relation": "祖母", "phone": "13700000000"}])]
    assert {c["by"]["id"] for c in changes["items"]} == {world["office"].id}
    # the same values again change nothing and add no history
    assert api.request("PATCH", f"/students/{pupil.id}", json={"name": "王小红", "flags": ["orphan"]}).status_code == 200
    assert api.get(f"/students/{pupil.id}/changes").json["total"] == 3


def test_changes_mask_the_id_number_for_a_teacher(api, world, pupil):
    new = id_card("11010120160501124")
    assert api.as_user(world["office"]).request("PATCH", f"/students/{pupil.id}", json={"id_card_no": new}).status_code == 200
    item = api.as_user(world["teacher"]).get(f"/students/{pupil.id}/changes").json["items"][0]
    assert (item["old"], item["new"]) == (MASKED, new[:6] + "********" + new[-4:])
    full = api.as_user(world["office"]).get(f"/students/{pupil.id}/changes").json["items"][0]
    assert full["new"] == new


@pytest.mark.parametrize("role,payload,status", [
    ("teacher", {"name": "改名"}, 403),
    ("other_office", {"name": "改名"}, 404),
    ("office", {"class_id": 1}, 422),
    ("office", {"gender": "X"}, 422),
    ("office", {"village_id": "other_village"}, 404),
    ("office", {"id_card_no": "110101201605011230"}, 422),
])
def test_bad_patch_writes_nothing(api, world, pupil, session, role, payload, status):
    name = pupil.name
    if payload.get("village_id") == "other_village":
        payload = {"village_id": world.other_village.id}
    r = api.as_user(world[role]).request("PATCH", f"/students/{pupil.id}", json=payload)
    assert r.status_code == status, r.json
    assert api.as_user(world["office"]).get(f"/students/{pupil.id}/changes").json["total"] == 0
    assert api.get(f"/students/{pupil.id}").json["name"] == name


def test_patch_duplicate_student_no_is_409(api, world, factory, pupil):
    factory.student(world.klass, world.village, student_no="G1")
    r = api.as_user(world["office"]).request("PATCH", f"/students/{pupil.id}", json={"student_no": "G1"})
    assert r.status_code == 409 and r.json["error"]["code"] == "duplicate"
