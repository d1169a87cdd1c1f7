"""`dropout_check` (SPEC §3.10): guards, outcomes, one check per child and list entry, the
10-school-day deadline in the queue, and the suspected-dropout ledger."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from models import AttendanceRecord, Case
from workflow.access.scope import scope_for
from workflow.cases.queue import build_queue
from workflow.errors import Conflict, Forbidden
from workflow.registers.reports import ledger_area, ledger_suspected
from workflow.reporting.checks import open_check

from .conftest import TODAY


@pytest.fixture
def term(factory, world, session):
    factory.term(world.branch)
    factory.term(world.other_branch)
    session.commit()


def _check(flow, student=None, who="office"):
    student = student or flow.student()
    return flow.create(who, "dropout_check", student, {"source": "manual", "note": "村里反映"})


def test_in_school_needs_a_recent_present_mark_or_a_visit_at_school(flow, session, world, term):
    case = _check(flow)
    with pytest.raises(Conflict) as exc:
        flow.fire("office", case, "confirm_in_school")
    assert exc.value.code == "guard_failed" and "到校" in exc.value.message
    # a present mark two weeks ago is too old; one last Friday counts
    session.add(AttendanceRecord(student_id=case.student_id, class_id=world.klass.id, date=dt.date(2026, 9, 28),
                                 status="present"))
    session.commit()
    with pytest.raises(Conflict):
        flow.fire("office", case, "confirm_in_school")
    session.add(AttendanceRecord(student_id=case.student_id, class_id=world.klass.id, date=dt.date(2026, 10, 9),
                                 status="present"))
    session.commit()
    assert flow.fire("office", case, "confirm_in_school").state == "in_school"


def test_in_school_by_a_visit_at_school(flow, world, term):
    case = _check(flow)
    flow.visit(case, "in_person_at_school")
    assert flow.fire("principal", case, "confirm_in_school").state == "in_school"


def test_transferred_needs_proof(flow, term):
    case = _check(flow)
    with pytest.raises(Conflict) as exc:
        flow.fire("office", case, "confirm_transferred")
    assert "入学证明" in exc.value.message
    flow.doc(case, "enrollment_proof")
    assert flow.fire("office", case, "confirm_transferred").state == "transferred"


def test_only_the_principal_confirms_a_dropout_after_a_visit(flow, session, world, term):
    case = _check(flow)
    with pytest.raises(Forbidden):
        flow.fire("office", case, "confirm_dropout", {"reason_category": "厌学"})
    with pytest.raises(Conflict) as exc:
        flow.fire("principal", case, "confirm_dropout", {"reason_category": "厌学"})
    assert "家访" in exc.value.message
    flow.visit(case, "home_visit")
    flow.fire("principal", case, "confirm_dropout", {"reason_category": "厌学"})
    session.expire_all()
    assert case.student.status == "dropped_out"
    recovery = session.scalars(select(Case).where(Case.process == "recovery", Case.student_id == case.student_id)).one()
    assert recovery.is_open and recovery.parent_case_id == case.id and recovery.data["reason_category"] == "厌学"


def test_confirming_an_earlier_dropout_joins_its_recovery(flow, session, term):
    student = flow.student("dropped_out")
    recovery = flow.create("office", "recovery", student, {"reason_category": "贫困"})
    case = _check(flow, student)
    flow.visit(case, "home_visit")
    flow.fire("principal", case, "confirm_dropout", {"reason_category": "厌学"})
    session.expire_all()
    recoveries = session.scalars(select(Case).where(Case.process == "recovery", Case.student_id == student.id)).all()
    assert [r.id for r in recoveries] == [recovery.id]
    assert "dropped_out_by_check" not in case.data  # not a second loss


def test_not_ours_opens_a_check_at_the_childs_school(flow, session, world, term):
    case = _check(flow)
    with pytest.raises(Conflict) as exc:
        flow.fire("office", case, "not_ours")
    assert "该生所属的学校" in exc.value.message and "school_id" not in exc.value.message
    flow.fire("office", case, "not_ours", {"school_id": world.other_branch.id})
    assert case.state == "reassigned"
    new = session.scalars(select(Case).where(Case.process == "dropout_check", Case.is_open.is_(True))).one()
    assert new.school_id == world.other_branch.id and new.parent_case_id == case.id
    assert flow.sees("other_office", new) and not flow.sees("office", new)


def test_not_ours_without_a_school_needs_a_comment_and_a_document(flow, term):
    case = _check(flow)
    with pytest.raises(Conflict):
        flow.fire("office", case, "not_ours", comment="已年满16周岁")
    flow.doc(case, "other")
    assert flow.fire("office", case, "not_ours", comment="已年满16周岁").state == "reassigned"


def test_one_check_per_child_and_list_entry(flow, session, world, term):
    student = flow.student()
    first, opened = open_check(session, student, source="national_list", note=None, entry_key="list:a", today=TODAY)
    assert opened
    again, opened = open_check(session, student, source="national_list", note=None, entry_key="list:b", today=TODAY)
    assert (again.id, opened) == (first.id, False)  # one open check per child
    session.commit()
    flow.visit(first, "in_person_at_school")
    flow.fire("office", first, "confirm_in_school")
    _same, opened = open_check(session, student, source="national_list", note=None, entry_key="list:a", today=TODAY)
    assert not opened  # this entry was checked already
    _new, opened = open_check(session, student, source="national_list", note=None, entry_key="list:b", today=TODAY)
    assert opened


def test_queue_shows_the_ten_school_day_deadline(flow, session, world, term):
    case = _check(flow)
    office = world["office"]
    items = build_queue(session, scope_for(session, office), office, today=TODAY)
    item = next(i for i in items if i["id"] == case.id)
    assert item["due"] == "2026-10-26" and not item["overdue"]
    late = build_queue(session, scope_for(session, office), office, today=dt.date(2026, 10, 27))
    assert next(i for i in late if i["id"] == case.id)["overdue"]


def test_open_checks_are_in_the_suspected_dropout_ledger(flow, session, world, term):
    case = _check(flow)
    scope = scope_for(session, world["center_head"])
    area = ledger_area(session, scope, center_school_id=world.center.id)
    assert case.id in [c.id for c in ledger_suspected(session, scope, area)]
    flow.visit(case, "in_person_at_school")
    flow.fire("office", case, "confirm_in_school")
    assert case.id not in [c.id for c in ledger_suspected(session, scope, area)]


def test_a_dropout_confirmed_by_a_check_is_a_loss_of_the_class_and_costs_the_ledger(flow, session, world, term):
    from workflow.figures.ledger import ledger
    from workflow.figures.losses import class_figures

    case = _check(flow)
    flow.visit(case, "home_visit")
    flow.fire("principal", case, "confirm_dropout", {"reason_category": "外出务工"})
    scope = scope_for(session, world["principal"])
    rows = {r["class_id"]: r for r in class_figures(session, scope, school_id=world.branch.id,
                                                     school_year="2026-2027", term=1)}
    assert rows[world.klass.id]["loss_student_ids"] == [case.student_id]
    lines = ledger(session, scope, school_id=world.branch.id, school_year="2026-2027", term=1)
    assert {(li["user_id"], str(li["amount"])) for li in lines} == {
        (world["teacher"].id, "-50"), (world["team"].id, "-50")}


def test_confirming_an_earlier_dropout_is_no_second_loss(flow, session, world, term):
    from workflow.figures.losses import class_figures

    student = flow.student("dropped_out")
    case = _check(flow, student)
    flow.visit(case, "home_visit")
    flow.fire("principal", case, "confirm_dropout", {"reason_category": "厌学"})
    scope = scope_for(session, world["principal"])
    rows = {r["class_id"]: r for r in class_figures(session, scope, school_id=world.branch.id,
                                                     school_year="2026-2027", term=1)}
    assert rows[world.klass.id]["loss_student_ids"] == []
