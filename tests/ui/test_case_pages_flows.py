"""The case flows as their people meet them (issue 12a): the stand-in for a blocked approval, what
was submitted, the next step with its deadline, refused forms that keep what was typed, the
destination school chosen from a list, and confirmation of final steps."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import AttendanceRecord, Case, CaseHistory, Fee, RoleAssignment
from tests.ui.pages_support import (  # noqa: F401  (fixtures)
    NOW,
    TODAY,
    add_suspension_evidence,
    csrf,
    fire,
    fixed_clock,
    new_suspension,
    term,
    text_of,
)
from workflow.access.scope import scope_for
from workflow.cases import engine
from workflow.errors import Forbidden

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")
SUSPENSION = {"start": "2026-10-15", "end": "2027-03-01", "reason": "住院治疗"}


@pytest.fixture
def student(world, factory, session):
    st = factory.student(world.klass, world.village, name="李小明")
    session.commit()
    return st


def _page(client, case_id):
    resp = client.get(f"/cases/{case_id}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _form(html: str, name: str) -> str:
    block = html[html.index(f'data-transition="{name}"'):]
    return block[:block.index("</form>")]


def office_submitted(session, world, student):
    """A suspension opened and submitted by the school's only academic office."""
    office = world["office"]
    case = engine.create_case(session, scope_for(session, office), office, "suspension", student.id,
                              dict(SUSPENSION), today=TODAY)
    session.commit()
    add_suspension_evidence(session, world, case)
    return fire(session, office, case, "submit")


# --- the stand-in for a blocked approval (SPEC §3) ------------------------------------------------


def test_principal_stands_in_for_the_only_office_that_submitted_and_the_record_says_so(
        world, student, session, login):
    case = office_submitted(session, world, student)
    principal = login(world["principal"])
    html = _page(principal, case.id)
    form = _form(html, "office_approve")
    assert "提交人是本校唯一的教导处" in text_of(form) and "代教导处办理此步" in text_of(form)
    assert "您目前不能" not in html
    assert "教导处审核（代教导处）" in text_of(html[html.index("data-next-step"):])
    # the principal's queue lists it, saying whose step it is
    queue = text_of(principal.get("/queue").get_data(as_text=True))
    assert "待教导处审核（代教导处）" in queue

    resp = principal.post(f"/cases/{case.id}/transitions/office_approve",
                          data={"csrf_token": csrf(html), "version": str(case.version)}, follow_redirects=True)
    assert resp.status_code == 200
    assert "已办理「教导处审核」" in text_of(resp.get_data(as_text=True))
    row = session.scalars(select(CaseHistory).where(CaseHistory.case_id == case.id)
                          .order_by(CaseHistory.id.desc())).first()
    assert (row.transition, row.user_id, row.role) == ("office_approve", world["principal"].id, "principal")
    assert row.data["stand_in_for"] == "academic_office"
    assert "代教导处办理" in text_of(resp.get_data(as_text=True))

    # the rest of the chain as usual: the principal approves, the center office files
    session.expire_all()
    case = fire(session, world["principal"], session.get(Case, case.id), "principal_approve")
    case = fire(session, world["center_office"], case, "center_file")
    assert case.state == "suspended"


def test_api_history_names_the_role_stood_in_for(world, student, session, api):
    case = office_submitted(session, world, student)
    r = api.as_user(world["principal"]).get(f"/cases/{case.id}")
    assert r.json["available_transitions"] == ["office_approve"]
    r = api.as_user(world["principal"]).post(f"/cases/{case.id}/transitions/office_approve",
                                             json={"version": case.version})
    assert r.status_code == 200, r.json
    last = api.as_user(world["office"]).get(f"/cases/{case.id}").json["history"][-1]
    assert (last["role"], last["stand_in_for"], last["stand_in_label"]) == ("principal", "academic_office", "教导处")


def test_no_stand_in_while_another_office_can_approve(world, student, session, factory, login):
    factory.user("office2", "academic_office", school=world.branch, name="第二教务员")
    session.commit()
    case = office_submitted(session, world, student)
    assert 'data-transition="office_approve"' not in _page(login(world["principal"]), case.id)
    with pytest.raises(Forbidden) as err:
        engine.fire(session, scope_for(session, world["principal"]), world["principal"], case.id,
                    "office_approve", version=case.version, today=TODAY)
    assert err.value.code == "role_forbidden"


def test_an_inactive_second_office_does_not_count(world, student, session, factory, api):
    factory.user("office_gone", "academic_office", school=world.branch, active=False)
    session.commit()
    case = office_submitted(session, world, student)
    assert api.as_user(world["principal"]).get(f"/cases/{case.id}").json["available_transitions"] == ["office_approve"]


def test_the_submitter_never_stands_in_for_themselves(world, student, session, factory):
    both = factory.user("both", "academic_office", school=world.branch)
    session.add(RoleAssignment(user_id=both.id, role="principal", school_id=world.branch.id))
    session.delete(session.scalars(select(RoleAssignment).where(
        RoleAssignment.user_id == world["office"].id)).one())
    session.commit()
    case = engine.create_case(session, scope_for(session, both), both, "suspension", student.id,
                              dict(SUSPENSION), today=TODAY)
    session.commit()
    add_suspension_evidence(session, world, case)
    case = fire(session, both, case, "submit")
    with pytest.raises(Forbidden) as err:
        engine.fire(session, scope_for(session, both), both, case.id, "office_approve",
                    version=case.version, today=TODAY)
    assert err.value.code == "separation_of_duties"
    # the other principal of the school may stand in
    case = fire(session, world["principal"], case, "office_approve")
    assert case.state == "office_approved"


# --- what was submitted ------------------------------------------------------------------------------


def test_case_page_and_api_show_what_was_submitted_with_chinese_labels(world, student, session, login, api):
    case = office_submitted(session, world, student)
    html = _page(login(world["principal"]), case.id)
    section = text_of(html[html.index('id="submitted"'):html.index('id="student"')])
    for words in ("申请内容", "休学开始日期 2026-10-15", "休学结束日期 2027-03-01", "原因 住院治疗"):
        assert words in section
    assert "start" not in section and "end" not in section
    items = api.as_user(world["principal"]).get(f"/cases/{case.id}").json["submitted"]
    assert [(i["key"], i["label"], i["text"]) for i in items] == [
        ("start", "休学开始日期", "2026-10-15"), ("end", "休学结束日期", "2027-03-01"), ("reason", "原因", "住院治疗")]


def test_a_returns_chosen_class_and_fees_are_shown_by_name(world, student, session, login):
    office = world["office"]
    student.status = "dropped_out"
    session.commit()
    case = engine.create_case(session, scope_for(session, office), office, "return", student.id,
                              {"class_id": world.klass.id, "reason": "家长带回"}, today=TODAY)
    session.commit()
    session.add(Fee(case_id=case.id, item="课本费", amount_due=120))
    session.commit()
    section = _page(login(office), case.id)
    section = text_of(section[section.index('id="submitted"'):section.index('id="student"')])
    assert "班级 东坡村小 三年级1班（2026-2027）" in section
    assert "应缴费用合计 120.00 元" in section and "尚欠 120.00 元" in section


# --- next step with its deadline ---------------------------------------------------------------------


def _fresh_absence(session, world, student, minutes_ago: int):
    session.add(AttendanceRecord(student_id=student.id, class_id=world.klass.id, date=TODAY, status="unexcused",
                                 reported_at=NOW - dt.timedelta(minutes=minutes_ago)))
    case = engine.create_case_system(session, "absence", student.id, {"reason": "旷课"}, effective_date=TODAY)
    session.commit()
    return case


def test_fresh_absence_tells_the_teacher_to_call_within_30_minutes_with_the_minutes_left(
        world, student, session, login):
    case = _fresh_absence(session, world, student, minutes_ago=12)
    teacher = login(world["teacher"])
    queue = text_of(teacher.get("/queue").get_data(as_text=True))
    assert "30 分钟内联系家长（还剩 18 分钟）" in queue and "待家访（已报告）" not in queue
    html = _page(teacher, case.id)
    assert "30 分钟内联系家长（还剩 18 分钟）" in text_of(html[html.index("data-next-step"):])
    # the contact form comes first, before the actions and the history
    assert html.index('id="contact-first"') < html.index('id="actions"')
    assert html.count('data-form="contact"') == 1


def test_late_contact_says_so(world, student, session, login):
    case = _fresh_absence(session, world, student, minutes_ago=45)
    html = _page(login(world["teacher"]), case.id)
    assert "尽快联系家长（已超过 30 分钟）" in text_of(html)


# --- refused forms keep their input; fields named by label ---------------------------------------


def test_refused_transfer_keeps_what_was_typed_and_names_no_field_key(world, student, session, login):
    teacher = world["teacher"]
    case = engine.create_case(session, scope_for(session, teacher), teacher, "transfer_out", student.id,
                              {}, today=TODAY)
    session.commit()
    client = login(teacher)
    html = _page(client, case.id)
    resp = client.post(f"/cases/{case.id}/transitions/submit", data={
        "csrf_token": csrf(html), "version": str(case.version), "destination_school_id": "abc",
        "destination_school": "东莞市某小学", "destination_region": "广东省东莞市", "comment": "家长务工随迁"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "输入有误" in text_of(page) and "「转入学校（本系统内）」" in text_of(page)
    assert "data.destination_school_id" not in page
    form = _form(page, "submit")
    assert 'value="广东省东莞市"' in form and 'value="东莞市某小学"' in form and "家长务工随迁" in form
    session.expire_all()
    assert session.get(Case, case.id).state == "draft"


def test_destination_is_chosen_from_the_deployments_schools_grouped_by_center(world, student, session, login):
    teacher = world["teacher"]
    case = engine.create_case(session, scope_for(session, teacher), teacher, "transfer_out", student.id,
                              {}, today=TODAY)
    session.commit()
    form = _form(_page(login(teacher), case.id), "submit")
    select_html = form[form.index('name="destination_school_id"'):form.index("</select>")]
    assert '<optgroup label="清水镇中心校">' in select_html and '<optgroup label="河口镇中心校">' in select_html
    assert f'value="{world.branch2.id}">西岭教学点' in select_html
    assert f'value="{world.branch.id}"' not in select_html  # not to its own school
    assert "本系统以外的学校" in select_html


# --- final steps ask to confirm ---------------------------------------------------------------------


def test_withdraw_asks_to_confirm_and_is_styled_as_a_secondary_action(world, student, session, login):
    case = new_suspension(session, world, student)
    form = _form(_page(login(world["teacher"]), case.id), "withdraw")
    assert 'data-confirm="withdraw"' in form and "btn-outline-danger" in form
    assert "确定要「撤回」吗？办理后不能撤销。" in text_of(form)
    assert 'data-confirm-fire="withdraw"' in form and "onclick" not in form
    submit = _form(_page(login(world["teacher"]), case.id), "submit")
    assert "btn-outline-danger" not in submit


def test_approval_asks_to_confirm(world, student, session, login):
    case = office_submitted(session, world, student)
    form = _form(_page(login(world["principal"]), case.id), "office_approve")
    assert 'data-confirm="office_approve"' in form and "确定要「教导处审核」吗" in text_of(form)


def test_a_confirmed_dropout_links_to_the_recovery_it_opened(world, student, session, login):
    absence = engine.create_case_system(session, "absence", student.id, {"reason": "旷课"}, effective_date=TODAY)
    recovery = engine.create_case_system(session, "recovery", student.id, {"reason_category": "厌学"},
                                         effective_date=TODAY, parent_case_id=absence.id)
    session.commit()
    html = _page(login(world["principal"]), absence.id)
    related = html[html.index("data-related"):]
    assert f'href="/cases/{recovery.id}"' in related and "由此案件开启" in text_of(related)
    back = _page(login(world["principal"]), recovery.id)
    assert f'href="/cases/{absence.id}"' in back[back.index("data-related"):]
