"""The year-end roll verification on the pages (SPEC §3.8, issue 12): the academic office opens it
for a class from the school-year page, the homeroom teacher records the differences row by row
(a child of the class or a typed name, the kind, a note; "no differences" only when ticked), the
office resolves each one, and the case page shows them as a table. Refused rows are named by
number, in the user's language, and kept as typed; nothing is written."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from models import Case, SchoolClass
from tests.ui.pages_support import TODAY, csrf, fixed_clock, term, text_of  # noqa: F401  (fixtures)
from workflow.access.scope import scope_for
from workflow.cases import engine

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")


@pytest.fixture
def pupils(world, factory, session):
    kids = [factory.student(world.klass, world.village, name=n) for n in ("王小花", "李大山", "赵一")]
    session.commit()
    return kids


@pytest.fixture
def verification(world, session, pupils):
    office = world["office"]
    case = engine.create_case(session, scope_for(session, office), office, "roll_verification", None,
                              {"class_id": world.klass.id}, today=TODAY)
    session.commit()
    return case


def _reload(session, case) -> Case:
    session.expire_all()
    return session.get(Case, case.id)


def _submit_form(html: str, case, rows: list[dict], *, no_differences=False, count: int | None = None) -> dict:
    form = {"csrf_token": csrf(html), "version": str(case.version), "rows": str(count or max(len(rows), 3))}
    for n, row in enumerate(rows, start=1):
        form |= {f"diff-{n}-{k}": v for k, v in row.items()}
    if no_differences:
        form["no_differences"] = "on"
    return form


def _submit(client, session, case, rows, **kw):
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    return client.post(f"/cases/{case.id}/transitions/submit", data=_submit_form(html, case, rows, **kw))


def test_office_opens_the_verification_of_a_class_from_the_school_year_page(world, login, client, session):
    login(world["office"])
    html = client.get("/school-year").get_data(as_text=True)
    assert f'data-open-verification="{world.klass.id}"' in html
    assert "学年末核实（2026-2027 学年）" in text_of(html)
    r = client.post("/school-year/verifications", data={"csrf_token": csrf(html), "class_id": world.klass.id})
    assert r.status_code == 302
    case = session.scalar(select(Case).where(Case.process == "roll_verification"))
    assert case.class_id == world.klass.id and r.headers["Location"].endswith(f"/cases/{case.id}")
    html = client.get("/school-year").get_data(as_text=True)
    # opened once: the class now links to its case instead of offering to open another
    assert f'data-open-verification="{world.klass.id}"' not in html
    assert f'data-verification-case="{case.id}"' in html and "待核实" in text_of(html)
    r = client.post("/school-year/verifications", data={"csrf_token": csrf(html), "class_id": world.klass.id})
    assert r.status_code == 302 and "已有学年末核实" in text_of(client.get("/school-year").get_data(as_text=True))
    assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_office_opens_every_class_of_its_school_at_once_after_confirming(world, login, client, session):
    """SPEC §3.8: "or for every class of a school at once" — one confirmed button per school."""
    login(world["office"])
    html = client.get("/school-year").get_data(as_text=True)
    form = html[html.index(f'data-open-all="{world.branch.id}"'):]
    form = form[:form.index("</form>")]
    classes = session.scalars(select(SchoolClass).where(SchoolClass.school_id == world.branch.id,
                                                        SchoolClass.school_year == "2026-2027")).all()
    assert f"{len(classes)} 个班" in text_of(form) and "data-confirm-fire" in form
    r = client.post("/school-year/verifications/all", data={"csrf_token": csrf(html), "school_id": world.branch.id})
    assert r.status_code == 302
    opened = session.scalars(select(Case).where(Case.process == "roll_verification")).all()
    assert sorted(c.class_id for c in opened) == sorted(k.id for k in classes)
    after = client.get("/school-year").get_data(as_text=True)
    assert f"已为{world.branch.name}的 {len(classes)} 个班开启学年末核实" in text_of(after)
    assert f'data-open-all="{world.branch.id}"' not in after
    # again: nothing more is opened
    client.post("/school-year/verifications/all", data={"csrf_token": csrf(html), "school_id": world.branch.id})
    assert session.scalar(select(func.count()).select_from(Case)) == len(classes)
    # a school out of the office's reach: 404, nothing opened
    r = client.post("/school-year/verifications/all", data={"csrf_token": csrf(html), "school_id": world.center.id})
    assert r.status_code == 404 and session.scalar(select(func.count()).select_from(Case)) == len(classes)


def test_only_the_academic_office_is_offered_to_open_one(world, login, client, session):
    login(world["principal"])
    html = client.get("/school-year").get_data(as_text=True)
    # the principal sees the classes and their state, but may not open a verification (SPEC §3.8)
    assert 'data-verification-class' in html and "data-open-verification" not in html and "data-open-all" not in html
    r = client.post("/school-year/verifications", data={"csrf_token": csrf(html), "class_id": world.klass.id})
    assert r.status_code == 302 and session.scalar(select(func.count()).select_from(Case)) == 0
    login(world["other_office"])
    html = client.get("/school-year").get_data(as_text=True)
    r = client.post("/school-year/verifications", data={"csrf_token": csrf(html), "class_id": world.klass.id})
    assert r.status_code == 404


def test_teacher_records_two_differences_and_the_page_shows_them_as_a_table(
        world, pupils, verification, login, client, session):
    login(world["teacher"])
    html = client.get(f"/cases/{verification.id}").get_data(as_text=True)
    # three blank rows, the class's children to choose from, the kinds by their Chinese names
    assert 'data-diff-row="3"' in html and 'data-diff-row="4"' not in html
    assert all(k.name in html for k in pupils) and "名在人不在" in html and "人在名不在" in html
    assert "班主任尚未提交核实结果" in text_of(html)
    r = _submit(client, session, verification, [
        {"student": str(pupils[1].id), "kind": "absent_from_class", "note": "随父母外出打工"},
        {"name": "陈小虎", "kind": "not_on_roll", "note": "借读，未办学籍"},
    ])
    assert r.status_code == 302, text_of(r.get_data(as_text=True))[:400]
    case = _reload(session, verification)
    assert case.state == "submitted"
    assert case.data["differences"] == [
        {"student_id": pupils[1].id, "name": "李大山", "kind": "absent_from_class", "note": "随父母外出打工"},
        {"name": "陈小虎", "kind": "not_on_roll", "note": "借读，未办学籍"}]
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    table = re.search(r"<table[^>]*data-differences-table.*?</table>", html, re.S).group(0)
    text = text_of(table)
    for words in ("李大山", "名在人不在", "随父母外出打工", "陈小虎", "不在本班名单上", "人在名不在", "未处理"):
        assert words in text
    # readable, not the raw data
    assert "absent_from_class" not in text_of(html) and "{'" not in html and "student_id" not in text_of(html)


def test_an_empty_form_is_not_taken_for_no_differences(world, verification, login, client, session):
    login(world["teacher"])
    r = _submit(client, session, verification, [])
    assert r.status_code == 422
    assert "请逐行填写核实出的差异" in text_of(r.get_data(as_text=True)) and "核对无差异" in text_of(r.get_data(as_text=True))
    assert _reload(session, verification).state == "draft"
    r = _submit(client, session, verification, [], no_differences=True)
    assert r.status_code == 302
    case = _reload(session, verification)
    assert case.state == "submitted" and case.data["differences"] == []
    assert "班主任核对无差异" in text_of(client.get(f"/cases/{case.id}").get_data(as_text=True))


def test_no_differences_ticked_with_rows_filled_is_refused(world, pupils, verification, login, client, session):
    login(world["teacher"])
    r = _submit(client, session, verification, [{"name": "陈小虎", "kind": "not_on_roll", "note": "借读"}],
                no_differences=True)
    assert r.status_code == 422 and "已勾选「核对无差异」，但还填写了差异" in text_of(r.get_data(as_text=True))
    assert _reload(session, verification).state == "draft"


def test_bad_rows_are_named_by_number_kept_as_typed_and_nothing_is_written(
        world, pupils, factory, verification, login, client, session):
    stranger = factory.student(world.klass2, world.village, name="外班生")
    session.commit()
    login(world["teacher"])
    before = _reload(session, verification).version
    r = _submit(client, session, verification, [
        {"student": str(pupils[0].id), "kind": "details_wrong", "note": "出生日期错"},
        {"name": "陈<b>小虎</b>", "kind": "not_on_roll", "note": ""},
        {"kind": "absent_from_class", "note": "没来"},
        {"student": str(stranger.id), "kind": "absent_from_class", "note": "外班的"},
    ], count=4)
    html = r.get_data(as_text=True)
    text = text_of(html)
    assert r.status_code == 422
    assert "第 2 行：请填写说明" in text
    assert "第 3 行：请选择本班学生，或填写不在名单上的孩子姓名" in text
    assert "第 4 行：所选学生不在本班名单上" in text
    assert "第 1 行" not in text.split("输入有误")[1].split("。")[0]  # the good row is not blamed
    for key in ("data.differences", "student_id", "differences["):
        assert key not in text
    # what was typed is there again (escaped), the bad rows are marked
    assert 'value="陈&lt;b&gt;小虎&lt;/b&gt;"' in html and "<b>小虎" not in html
    assert 'value="出生日期错"' in html and 'data-diff-row="4"' in html
    assert re.search(r'border-danger" data-diff-row="2"', html) and not re.search(r'border-danger" data-diff-row="1"', html)
    case = _reload(session, verification)
    assert case.state == "draft" and case.version == before and not (case.data or {}).get("differences")


def test_add_a_row_without_script_keeps_what_was_typed(world, pupils, verification, login, client, session):
    login(world["teacher"])
    html = client.get(f"/cases/{verification.id}").get_data(as_text=True)
    assert "data-add-row" in html and f'formaction="/cases/{verification.id}/verification-rows"' in html
    form = _submit_form(html, verification, [{"name": "陈小虎", "kind": "not_on_roll", "note": "借读"}])
    r = client.post(f"/cases/{verification.id}/verification-rows", data=form)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert 'data-diff-row="4"' in html and 'name="rows" value="4"' in html
    assert 'value="陈小虎"' in html and 'value="借读"' in html
    assert _reload(session, verification).state == "draft"


def test_sent_back_the_teacher_finds_the_rows_submitted_before(world, pupils, verification, login, client, session):
    login(world["teacher"])
    _submit(client, session, verification, [{"name": "陈小虎", "kind": "not_on_roll", "note": "借读"}])
    office = world["office"]
    case = _reload(session, verification)
    engine.fire(session, scope_for(session, office), office, case.id, "send_back", version=case.version,
                comment="再核一遍", today=TODAY)
    session.commit()
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'value="陈小虎"' in html and 'data-diff-row="2"' in html
    assert "已退回" in text_of(html)


def _submitted_with_two(world, pupils, verification, client, session):
    _submit(client, session, verification, [
        {"student": str(pupils[1].id), "kind": "absent_from_class", "note": "两周未到校"},
        {"name": "陈小虎", "kind": "not_on_roll", "note": "借读"},
    ])
    return _reload(session, verification)


def test_office_resolves_each_difference_and_the_case_is_verified(
        world, pupils, verification, login, client, session):
    login(world["teacher"])
    case = _submitted_with_two(world, pupils, verification, client, session)
    office = world["office"]
    absence = engine.create_case(session, scope_for(session, office), office, "absence", pupils[1].id,
                                 {"reason": "两周未到校"}, today=TODAY)
    session.commit()
    login(office)
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    # each difference with its own choice: the child's open case is offered, the button usable
    assert 'data-resolution-row="1"' in html and 'data-resolution-row="2"' in html
    assert f'value="case-{absence.id}"' in html
    # the guard says what is left to do, above the form that does it, and the step stays usable
    blocked = re.search(r'data-blocked="office_approve">(.*?)</div>', html, re.S)
    assert blocked and "以下差异尚未处理" in text_of(blocked.group(1)) and "陈小虎" in text_of(blocked.group(1))
    assert "办理时还需：" in text_of(blocked.group(1)) and "条件未满足" not in text_of(blocked.group(1))
    assert 'data-confirm="office_approve"' in html and 'disabled data-fire="office_approve"' not in html
    form = {"csrf_token": csrf(html), "version": str(case.version), "res-1-how": f"case-{absence.id}"}
    r = client.post(f"/cases/{case.id}/transitions/office_approve", data=form)
    text = text_of(r.get_data(as_text=True))
    assert r.status_code == 422 and "第 2 行：请选择处理方式" in text and "第 1 行" not in text.split("输入有误")[1][:40]
    assert f'value="case-{absence.id}" selected' in r.get_data(as_text=True)  # kept
    form |= {"res-2-how": "corrected", "res-2-note": ""}
    r = client.post(f"/cases/{case.id}/transitions/office_approve", data=form)
    assert r.status_code == 422 and "第 2 行：已更正学籍的，请在说明中写明更正了什么" in text_of(r.get_data(as_text=True))
    assert _reload(session, case).state == "submitted"
    form["res-2-note"] = "已在学籍系统补录"
    r = client.post(f"/cases/{case.id}/transitions/office_approve", data=form)
    assert r.status_code == 302
    case = _reload(session, case)
    assert case.state == "verified"
    assert case.data["resolutions"] == [{"difference": 0, "case_id": absence.id},
                                        {"difference": 1, "corrected": True, "note": "已在学籍系统补录"}]
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "已核实" in text_of(html)
    assert re.search(rf'data-resolution="1">.*?data-resolution-case="{absence.id}"', html, re.S)
    assert "已更正学籍：已在学籍系统补录" in text_of(html)


def test_a_case_of_another_child_does_not_resolve_a_difference(world, pupils, verification, login, client, session):
    login(world["teacher"])
    case = _submitted_with_two(world, pupils, verification, client, session)
    office = world["office"]
    other = engine.create_case(session, scope_for(session, office), office, "absence", pupils[0].id,
                               {"reason": "未到校"}, today=TODAY)
    session.commit()
    login(office)
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    form = {"csrf_token": csrf(html), "version": str(case.version), "res-1-how": f"case-{other.id}",
            "res-2-how": "corrected", "res-2-note": "补录"}
    r = client.post(f"/cases/{case.id}/transitions/office_approve", data=form)
    assert r.status_code == 422 and "第 1 行：所选案件不是为这名学生开启的本校案件" in text_of(r.get_data(as_text=True))
    assert _reload(session, case).state == "submitted"


def test_row_errors_are_in_english_on_english_pages(world, pupils, verification, login, client, session):
    login(world["teacher"])
    client.get("/lang/en")
    r = _submit(client, session, verification, [{"name": "陈小虎", "kind": "not_on_roll", "note": ""}])
    text = text_of(r.get_data(as_text=True))
    assert r.status_code == 422 and "Row 1: Enter the details" in text and "第 1 行" not in text
    # the kinds by their English names, the typed name kept as typed
    assert "In class, not on the roll" in text and "人在名不在" not in text
    assert 'value="陈小虎"' in r.get_data(as_text=True)
