"""The catchment register: import checks the whole file first, export round-trips, and the
cross-check against the rolls opens one recovery per child enrolled nowhere."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from models import Case, CaseHistory, CatchmentChild, Student
from workflow.access.scope import scope_for
from workflow.cases import engine
from workflow.errors import Forbidden, Invalid, NotFound
from workflow.org.services import id_card_check_char
from workflow.registers import catchment

TODAY = dt.date(2026, 10, 12)
HEADERS = ["姓名", "性别", "出生日期", "身份证号", "户籍", "就读状态", "就读学校/去向", "备注"]


def id_no(birth: dt.date, seq: int) -> str:
    """A valid 18-digit ID number for a birth date (check character computed)."""
    first = f"522601{birth:%Y%m%d}{seq:03d}"
    return first + id_card_check_char(first)


def xlsx(rows, headers=HEADERS, title_row: str | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    if title_row:
        ws.append([title_row])
    ws.append(headers)
    for r in rows:
        ws.append(list(r))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def row(name="张小明", gender="男", birth="2016-05-01", idc="", household="本地户籍", status="本学区就读",
        dest="", notes=""):
    return [name, gender, birth, idc, household, status, dest, notes]


def count(session, village=None) -> int:
    q = select(func.count(CatchmentChild.id))
    if village is not None:
        q = q.where(CatchmentChild.village_id == village.id)
    return session.scalar(q)


def do_import(session, user, village, data, **kw):
    try:
        out = catchment.import_register(session, scope_for(session, user), user, village.id, data, today=TODAY, **kw)
    except Exception:
        session.rollback()
        raise
    session.commit()
    return out


def do_check(session, user, **kw):
    out = catchment.crosscheck(session, scope_for(session, user), user, today=TODAY, **kw)
    session.commit()
    return out


# --- import -------------------------------------------------------------------------------------


def test_clean_file_imports_every_row_with_its_values(session, world):
    b1, b2 = dt.date(2016, 5, 1), dt.date(2013, 2, 3)
    data = xlsx([row("张小明", "男", "2016-05-01", id_no(b1, 11)),
                 row("李小红", "女", "2013/2/3", id_no(b2, 22), "外地户籍", "外地就读", "广州市白云区某小学", "随迁子女")],
                title_row="东坡村适龄儿童登记表")
    result = do_import(session, world["office"], world.village, data)
    assert (result.created, result.updated, result.check.errors) == (2, 0, [])
    red = session.scalar(select(CatchmentChild).where(CatchmentChild.name == "李小红"))
    assert (red.gender, red.birth_date, red.household_status, red.status, red.destination, red.notes) == \
        ("F", b2, "migrant", "enrolled_elsewhere", "广州市白云区某小学", "随迁子女")
    assert red.village_id == world.village.id and red.id_card_no == id_no(b2, 22)


def test_file_with_bad_rows_reports_every_row_by_number_and_writes_nothing(session, world, factory):
    taken = dt.date(2015, 1, 1)
    session.add(CatchmentChild(village_id=world.village2.id, name="王已登", gender="M", birth_date=taken,
                               id_card_no=id_no(taken, 5), household_status="local", status="enrolled_here"))
    session.commit()
    good = dt.date(2016, 5, 1)
    data = xlsx([
        ["东坡村", *row("张小明", idc=id_no(good, 11))],          # row 2: fine
        ["东坡村", *row("赵错日", birth="2016-13-40")],            # row 3: bad date
        ["桃花村", *row("钱某某", birth="2015-03-03")],            # row 4: unknown village
        ["东坡村", *row("孙重复", idc=id_no(good, 11))],           # row 5: ID twice in the file
        ["东坡村", *row("", birth="2014-04-04")],                   # row 6: empty name
        ["东坡村", *row("周另村", birth="2015-01-01", idc=id_no(taken, 5))],  # row 7: ID in another village
        ["西岭村", *row("吴西岭", birth="2015-06-06")],            # row 8: another village of the center
        ["东坡村", *row("郑正确", gender="女", birth="2014-07-07")],  # row 9: fine
    ], headers=["村", *HEADERS])
    with pytest.raises(Invalid) as exc:
        do_import(session, world["office"], world.village, data)
    assert exc.value.code == "invalid_rows"
    errors = exc.value.details["errors"]
    assert sorted({e["row"] for e in errors}) == [3, 4, 5, 6, 7, 8]
    by_row = {e["row"]: e for e in errors}
    assert by_row[3]["field"] == "出生日期" and "2016-13-40" in by_row[3]["reason"]
    assert by_row[4]["field"] == "村" and "未知的村" in by_row[4]["reason"]
    assert by_row[5]["field"] == "身份证号" and "第 2 行重复" in by_row[5]["reason"]
    assert by_row[6]["field"] == "姓名" and "不能为空" in by_row[6]["reason"]
    assert "西岭村" in by_row[7]["reason"]
    assert "西岭村" in by_row[8]["reason"]
    assert count(session, world.village) == 0 and count(session) == 1


def test_only_valid_imports_just_the_good_rows_and_still_reports_the_bad(session, world):
    data = xlsx([row("张小明"), row("赵错日", birth="不详"), row("", birth="2014-04-04"), row("郑正确", birth="2014-07-07")])
    result = do_import(session, world["office"], world.village, data, only_valid=True)
    assert result.created == 2
    assert [e["row"] for e in result.check.error_dicts()] == [3, 4]
    assert set(session.scalars(select(CatchmentChild.name))) == {"张小明", "郑正确"}


@pytest.mark.parametrize("data, words", [
    (b"name,gender\nzhang,M\n", "不是 Excel"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
    (b"PK\x03\x04 not really a zip", "不是 Excel"),
    (b"", "空的"),
])
def test_a_file_that_is_not_xlsx_is_refused_with_a_chinese_message(session, world, data, words):
    with pytest.raises(Invalid) as exc:
        do_import(session, world["office"], world.village, data)
    assert exc.value.code == "invalid_file" and words in exc.value.message
    assert count(session) == 0


def test_missing_required_column_is_reported_with_the_header_row(session, world):
    data = xlsx([["张小明", "男", "2016-05-01"]], headers=["姓名", "性别", "出生日期"])
    with pytest.raises(Invalid) as exc:
        do_import(session, world["office"], world.village, data)
    assert {e["field"] for e in exc.value.details["errors"]} == {"户籍", "就读状态"}


def test_id_number_with_a_wrong_check_digit_or_another_birth_date_is_an_error(session, world):
    birth = dt.date(2016, 5, 1)
    good = id_no(birth, 11)
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    data = xlsx([row("甲", idc=wrong_check), row("乙", birth="2016-05-02", idc=id_no(birth, 12)),
                 row("丙", idc=int(good[:17]))])
    with pytest.raises(Invalid) as exc:
        do_import(session, world["office"], world.village, data)
    reasons = {e["row"]: e["reason"] for e in exc.value.details["errors"]}
    assert "校验位" in reasons[2] and "不符" in reasons[3] and "文本格式" in reasons[4]


def test_age_outside_6_to_15_is_a_warning_and_the_child_is_registered(session, world):
    data = xlsx([row("学前", birth="2022-01-01"), row("十六岁", birth="2010-01-01"), row("十岁", birth="2016-01-01")])
    result = do_import(session, world["office"], world.village, data)
    assert result.created == 3
    assert [(w["row"], w["field"]) for w in result.check.warning_dicts()] == [(2, "出生日期"), (3, "出生日期")]


def test_enrolled_elsewhere_needs_a_destination(session, world):
    with pytest.raises(Invalid) as exc:
        do_import(session, world["office"], world.village, xlsx([row(status="外地就读")]))
    assert exc.value.details["errors"][0]["field"] == "就读学校/去向"


def test_export_reimports_cleanly_and_changes_nothing(session, world):
    b = dt.date(2013, 2, 3)
    first = xlsx([row("张小明"), row("李小红", "女", "2013-02-03", id_no(b, 22), "外地户籍", "外地就读", "广州某校"),
                  row("王未读", birth="2015-09-09", status="未就读", notes="在家放牛")])
    do_import(session, world["office"], world.village, first)
    village, data = catchment.export_register(session, scope_for(session, world["office"]), world.village.id)
    sheet = load_workbook(io.BytesIO(data)).active
    assert [c.value for c in sheet[1]] == ["村", *HEADERS]
    again = do_import(session, world["office"], world.village, data)
    assert (again.created, again.updated, again.unchanged, again.check.errors) == (0, 0, 3, [])
    assert count(session) == 3


def test_reimport_updates_the_child_with_the_same_id_number(session, world):
    b = dt.date(2013, 2, 3)
    do_import(session, world["office"], world.village, xlsx([row("李小红", "女", "2013-02-03", id_no(b, 22))]))
    result = do_import(session, world["office"], world.village,
                       xlsx([row("李小红", "女", "2013-02-03", id_no(b, 22), status="未就读")]))
    assert (result.created, result.updated) == (0, 1)
    assert session.scalar(select(CatchmentChild.status)) == "not_enrolled"


def test_another_centers_village_is_not_found_and_a_teacher_may_not_import(session, world):
    data = xlsx([row()])
    with pytest.raises(NotFound):
        do_import(session, world["office"], world.other_village, data)
    with pytest.raises(Forbidden):
        do_import(session, world["teacher"], world.village, data)


def test_export_masks_id_numbers_for_those_who_may_not_see_them(session, world):
    b = dt.date(2013, 2, 3)
    full = id_no(b, 22)
    do_import(session, world["office"], world.village, xlsx([row("李小红", "女", "2013-02-03", full)]))
    _, data = catchment.export_register(session, scope_for(session, world["center_head"]), world.village.id)
    assert load_workbook(io.BytesIO(data)).active["E2"].value == full[:6] + "*" * 8 + full[-4:]


# --- cross-check --------------------------------------------------------------------------------


def recovery_cases(session):
    return list(session.scalars(select(Case).where(Case.process == "recovery")))


def test_crosscheck_opens_exactly_one_recovery_for_a_child_enrolled_nowhere_and_none_on_a_second_run(
        session, world):
    b = dt.date(2015, 9, 9)
    do_import(session, world["office"], world.village,
              xlsx([row("王未读", birth="2015-09-09", idc=id_no(b, 7), status="未就读")]))
    first = do_check(session, world["office"], village_id=world.village.id)
    assert len(first.opened_case_ids) == 1
    case = session.get(Case, first.opened_case_ids[0])
    student = case.student
    assert (case.process, case.state, case.school_id) == ("recovery", "open", world.center.id)
    assert (student.status, student.class_id, student.id_card_no) == ("incoming", None, id_no(b, 7))
    assert session.scalar(select(CatchmentChild.student_id)) == student.id
    history = session.scalars(select(CaseHistory).where(CaseHistory.case_id == case.id)).all()
    assert [(h.transition, h.role) for h in history] == [("create", "system")]

    second = do_check(session, world["office"], village_id=world.village.id)
    assert second.opened_case_ids == []
    assert [i["case_id"] for i in second.enrolled_nowhere] == [case.id]
    assert len(recovery_cases(session)) == 1
    assert session.scalar(select(func.count(Student.id)).where(Student.name == "王未读")) == 1


def test_the_recovered_child_can_be_seated_in_a_branch_class(session, world):
    do_import(session, world["office"], world.village, xlsx([row("王未读", birth="2015-09-09", status="未就读")]))
    case_id = do_check(session, world["center_office"], center_school_id=world.center.id).opened_case_ids[0]
    case = session.get(Case, case_id)
    user = world["center_office"]
    engine.fire(session, scope_for(session, user), user, case.id, "mark_returned", version=case.version,
                data={"class_id": world.klass.id, "credited_user_ids": [world["teacher"].id]}, today=TODAY)
    session.commit()
    student = case.student
    assert (student.status, student.class_id, student.school_id) == ("active", world.klass.id, world.branch.id)
    # back on the rolls: no new case, and the register's 未就读 is now flagged for correction
    again = do_check(session, world["office"], village_id=world.village.id)
    assert again.opened_case_ids == [] and [i["name"] for i in again.registered_otherwise] == ["王未读"]


def test_crosscheck_matches_by_id_then_name_and_birth_date_and_lists_what_differs(session, world, factory):
    b1, b2 = dt.date(2016, 5, 1), dt.date(2015, 3, 3)
    on_roll = factory.student(world.klass, world.village, name="张在校", birth_date=b1, id_card_no=id_no(b1, 1))
    factory.student(world.klass, world.village, name="李辍学", birth_date=b2, status="dropped_out")
    factory.student(world.klass2, world.village, name="陈在校", birth_date=dt.date(2014, 4, 4))
    session.commit()
    do_import(session, world["office"], world.village, xlsx([
        row("张小名改了", birth="2016-05-01", idc=id_no(b1, 1)),          # same ID, other name: matched
        row("李辍学", birth="2015-03-03"),                                  # name + birth: matched, not active
        row("无学籍", birth="2014-01-01"),                                  # registered here, on no roll
        row("陈在校", birth="2014-04-04", status="外地就读", dest="县城"),   # on the roll, register says elsewhere
    ]))
    result = do_check(session, world["office"], village_id=world.village.id)
    assert (result.checked, result.matched) == (4, 3)
    linked = dict(session.execute(select(CatchmentChild.name, CatchmentChild.student_id)).all())
    assert linked["张小名改了"] == on_roll.id
    assert [i["name"] for i in result.not_on_rolls] == ["无学籍"]
    assert [(i["name"], i["student_status"]) for i in result.not_active] == [("李辍学", "dropped_out")]
    assert [i["name"] for i in result.registered_otherwise] == ["陈在校"]
    assert result.opened_case_ids == []


def test_a_dropout_with_an_open_recovery_gets_no_second_case(session, world, factory):
    b = dt.date(2015, 3, 3)
    st = factory.student(world.klass, world.village, name="李辍学", birth_date=b, status="dropped_out")
    existing = engine.create_case_system(session, "recovery", st.id, {"reason_category": "厌学"},
                                         effective_date=TODAY)
    session.commit()
    do_import(session, world["office"], world.village, xlsx([row("李辍学", birth="2015-03-03", status="未就读")]))
    result = do_check(session, world["office"], village_id=world.village.id)
    assert result.opened_case_ids == [] and [i["case_id"] for i in result.enrolled_nowhere] == [existing.id]
    assert len(recovery_cases(session)) == 1


def test_a_child_too_young_for_school_gets_no_recovery(session, world):
    # born 2020-09-01: six only after 31 August 2026, so not yet of compulsory age in October 2026
    do_import(session, world["office"], world.village, xlsx([row("学前", birth="2020-09-01", status="未就读")]))
    assert do_check(session, world["office"], village_id=world.village.id).opened_case_ids == []
    assert recovery_cases(session) == []


def test_crosscheck_of_another_centers_village_is_not_found_and_a_teacher_may_not_run_it(session, world):
    with pytest.raises(NotFound):
        do_check(session, world["office"], village_id=world.other_village.id)
    with pytest.raises(NotFound):
        do_check(session, world["office"], center_school_id=world.other_center.id)
    with pytest.raises(Forbidden):
        do_check(session, world["teacher"], village_id=world.village.id)


@pytest.mark.parametrize("birth, on, expected", [
    (dt.date(2020, 8, 31), dt.date(2026, 9, 1), True),
    (dt.date(2020, 9, 1), dt.date(2026, 9, 1), False),
    (dt.date(2010, 10, 13), dt.date(2026, 10, 12), True),   # 15 until tomorrow
    (dt.date(2010, 10, 12), dt.date(2026, 10, 12), False),  # 16 today
])
def test_compulsory_age_follows_the_31_august_entry_rule_and_ends_at_16(birth, on, expected):
    assert catchment.is_compulsory_age(birth, on) is expected
