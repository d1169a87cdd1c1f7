"""The queue's and the case pages' next-step lines read as what to do, in Chinese and in English
(issue 12 follow-up): the queue's count is one sentence ("2 in total, 1 overdue", no Chinese
comma), a rung's line names the roles in the user's language, a step whose label names an
outcome (已返校) says what to do ("待孩子返校后登记返校", not "待已返校"), and the liaison's
notes on an absence case are translated."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from admin.labels import text
from tests.ui.pages_support import text_of
from tests.workflow.ladder_helpers import (  # noqa: F401  (fixtures)
    absence_cases,
    day,
    fixed_clock_fixture,
    marks_fixture,
    sweep,
    term_fixture,
)
from workflow.cases import nextstep
from workflow.processes import REGISTRY

U = "unexcused"


@pytest.fixture
def rung_case(session, factory, world, marks):
    """张小明's absence case on the first home-visit rung, no visit or guardian contact logged."""
    child = factory.student(world.klass, world.village, name="张小明")
    session.commit()
    marks.record(world.klass, day(0), {child: U})
    sweep(session, day(1))
    return absence_cases(session, child)[0]


def _queue_text(client, lang: str) -> str:
    client.get(f"/lang/{lang}")
    return text_of(client.get("/queue").get_data(as_text=True))


def _next_step(client, case_id: int) -> str:
    html = client.get(f"/cases/{case_id}").get_data(as_text=True)
    # the line after its "下一步：" / "Next step: " heading
    return text_of(re.search(r"data-next-step><strong>.*?</strong>(.*?)</p>", html, re.S).group(1)).strip()


def test_queue_count_is_one_sentence_in_either_language(login, world, rung_case):
    client = login(world["teacher"])
    assert "共 1 件，逾期 1 件" in _queue_text(client, "zh_CN")
    english = _queue_text(client, "en")
    assert "1 in total, 1 overdue" in english
    assert not set("，；：（）") & set(english)


def test_rung_line_names_the_visit_and_the_roles_in_the_users_language(login, world, rung_case):
    client = login(world["teacher"])
    chinese = _queue_text(client, "zh_CN")
    assert "第一次家访：入户家访，须有班主任、控辍小组成员参加" in chinese
    assert "补登考勤：2026-11-03" in chinese
    english = _queue_text(client, "en")
    assert "First home visit: Home visit, with Homeroom teacher, Dropout-prevention team member" in english
    assert "Record the missing attendance: 2026-11-03" in english


def test_overdue_deadline_follows_the_line_once(login, world, rung_case):
    client = login(world["teacher"])
    chinese = _queue_text(client, "zh_CN")
    assert "待孩子返校后登记返校 已逾期（应于 2026-11-03 前办理）" in chinese
    english = _queue_text(client, "en")
    assert "To do: Record the return once the child is back Overdue (due by 2026-11-03)" in english
    assert "): To do" not in english and english.count("Overdue (due by") == 1


def test_absence_case_next_step_says_what_to_do_not_the_outcome(login, world, rung_case):
    office = login(world["office"])
    office.get("/lang/zh_CN")
    chinese = _next_step(office, rung_case.id)
    assert chinese == "待孩子返校后登记返校或转为休学/转出"
    office.get("/lang/en")
    english = _next_step(office, rung_case.id)
    assert english == "To do: Record the return once the child is back or Convert to suspension/transfer out"
    assert "Back at school" not in english


@pytest.mark.parametrize(("process", "steps", "chinese", "english"), [
    ("recovery", ["mark_returned", "confirm_elsewhere"], "待孩子返校后登记返校或确认在外校就读",
     "To do: Record the return once the child is back or Confirm studying at another school"),
    ("dropout_check", ["confirm_in_school", "not_ours"], "待确认在校或标为非本校学生",
     "To do: Confirm in school or Mark as not a student of this school"),
    # a label that already reads as an action is kept
    ("suspension", ["office_approve"], "待教导处审核", "To do: Academic office review"),
])
def test_steps_named_by_their_outcome_read_as_actions(app, process, steps, chinese, english):
    proc = REGISTRY[process]
    actions = [(name, proc.named(name)[0].roles[0]) for name in steps]
    held = {role for _name, role in actions}
    case = SimpleNamespace(id=1, process=process, state=proc.named(steps[0])[0].sources[0], data={})
    line = nextstep.next_step(proc, case, actions=actions, held=held, facts=None, now=None)
    assert line == chinese
    with app.test_request_context("/?lang=en"):
        assert text(line) == english


def test_liaison_notes_read_in_the_users_language(login, world, rung_case):
    liaison = login(world["liaison"])
    liaison.get("/lang/zh_CN")
    chinese = text_of(liaison.get(f"/liaison/cases/{rung_case.id}").get_data(as_text=True))
    # overdue: the deadline is on the red line, once, and the note says what is to be done
    assert "待完成第一次家访（入户家访，须有班主任、控辍小组成员参加）" in chinese
    assert "已逾期（应于 2026-11-03 前办理）" in chinese and chinese.count("2026-11-03 前") == 1
    assert "尚未联系家长（班主任应在报告后30分钟内联系）" in chinese
    liaison.get("/lang/en")
    english = text_of(liaison.get(f"/liaison/cases/{rung_case.id}").get_data(as_text=True))
    assert ("To do: First home visit (Home visit, with Homeroom teacher, Dropout-prevention team member)"
            in english)
    assert "Overdue (due by 2026-11-03)" in english
    assert "Guardian not contacted yet" in english
    assert "Attendance was not recorded on these school days; the homeroom teacher should fill it in: 2026-11-03" in english
    assert "待完成" not in english and "须有" not in english


def test_api_duty_notes_follow_the_requests_language(api, world, rung_case):
    as_teacher = api.as_user(world["teacher"])
    chinese = as_teacher.get(f"/cases/{rung_case.id}").json["duty_notes"]
    english = as_teacher.get(f"/cases/{rung_case.id}", headers={"Accept-Language": "en"}).json["duty_notes"]
    assert chinese[0] == "尚未联系家长（班主任应在报告后30分钟内联系）"
    assert english[0].startswith("Guardian not contacted yet") and len(english) == len(chinese) == 3
