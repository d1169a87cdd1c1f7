"""What each transition needs (guards) and what it does (effects on the student, enrolment
periods and other cases), SPEC §3.2–3.7."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from models import Case, Document, Student
from tests.support_helpers import publish_fee_schedule
from workflow.access.scope import scope_for
from workflow.errors import Conflict, Invalid

from .conftest import TODAY


def unmet(err) -> list[str]:
    assert err.value.code == "guard_failed"
    return err.value.details["unmet"]


# --- suspension ---------------------------------------------------------------------------------


def test_phone_call_does_not_count_as_in_person_visit(flow):
    case = flow.bring("suspension", "draft")
    flow.doc(case, "suspension_grounds")
    flow.visit(case, kind="phone", guardian_present=True)
    flow.visit(case, kind="home_visit", guardian_present=True)
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "submit")
    assert unmet(err) == ["需要家长本人到校的记录（电话不算）"]
    flow.visit(case, kind="in_person_at_school", guardian_present=True)
    assert flow.fire("teacher", case, "submit").state == "submitted"


def test_visit_at_school_without_the_guardian_does_not_count(flow):
    case = flow.bring("suspension", "draft")
    flow.doc(case, "suspension_grounds")
    flow.visit(case, kind="in_person_at_school", guardian_present=False)
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "submit")
    assert unmet(err) == ["需要家长本人到校的记录（电话不算）"]


def test_suspension_needs_grounds_document(flow):
    case = flow.bring("suspension", "draft")
    flow.visit(case)
    flow.doc(case, "other")
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "submit")
    assert unmet(err) == ["需要上传休学依据"]


@pytest.mark.parametrize("data,message", [
    ({}, "需要填写休学开始日期和结束日期"),
    ({"start": "2026-10-15"}, "需要填写休学开始日期和结束日期"),
    ({"start": "2026-10-15", "end": "2026-10-15"}, "休学结束日期必须晚于开始日期"),
    ({"start": "2026-10-15", "end": "2027-10-15"}, "休学期限不得超过一学年（结束日期须早于 2027-10-15）"),
])
def test_suspension_dates_must_be_within_one_school_year(flow, data, message):
    st = flow.student()
    case = flow.create("teacher", "suspension", st, data)
    flow.all_evidence(case)
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "submit")
    assert unmet(err) == [message]


def test_submit_may_bring_the_dates_itself(flow):
    st = flow.student()
    case = flow.create("teacher", "suspension", st, {})
    flow.all_evidence(case)
    case = flow.fire("teacher", case, "submit", data={"start": "2026-10-15", "end": "2027-07-10"})
    assert case.data["start"] == "2026-10-15" and case.data["end"] == "2027-07-10"


def test_center_file_suspends_and_resume_opens_a_second_period(flow):
    case = flow.bring("suspension", "approved")
    student = case.student
    flow.fire("center_office", case, "center_file", data={"date": "2026-10-10"})
    assert student.status == "suspended" and student.class_id == flow.w.klass.id
    assert [(p.end_date, p.end_reason) for p in flow.periods(student)] == [(dt.date(2026, 10, 10), "suspension")]
    case = flow.fire("office", case, "resume", data={"class_id": flow.w.klass2.id})
    assert (case.state, case.is_open) == ("resumed", False)
    periods = flow.periods(student)
    assert len(periods) == 2
    assert (periods[1].class_id, periods[1].start_date, periods[1].end_date, periods[1].start_reason) == (
        flow.w.klass2.id, TODAY, None, "resume")
    assert (student.status, student.class_id) == ("active", flow.w.klass2.id)


def test_resume_into_a_class_of_another_school_is_422(flow):
    case = flow.bring("suspension", "suspended")
    with pytest.raises(Invalid) as err:
        flow.fire("office", case, "resume", data={"class_id": flow.w.other_class.id})
    assert err.value.details["field"] == "data.class_id"


def test_resume_needs_class_id(flow):
    case = flow.bring("suspension", "suspended")
    with pytest.raises(Invalid) as err:
        flow.fire("office", case, "resume", data={})
    assert err.value.details["field"] == "data.class_id"


def test_extend_needs_grounds_newer_than_the_filing(flow):
    case = flow.bring("suspension", "suspended")  # grounds were uploaded before the filing
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "extend", data={"end": "2027-06-30"})
    assert unmet(err) == ["需要上传备案之后的新休学依据"]
    flow.doc(case, "suspension_grounds")
    assert flow.fire("teacher", case, "extend", data={"end": "2027-06-30"}).state == "submitted"


@pytest.mark.parametrize("end,message", [
    ("2027-02-01", "延长后的结束日期必须晚于原结束日期 2027-03-01"),
    ("2027-10-15", "休学期限不得超过一学年（结束日期须早于 2027-10-15）"),
])
def test_extension_end_is_later_and_within_a_school_year_of_start(flow, end, message):
    case = flow.bring("suspension", "suspended")
    flow.doc(case, "suspension_grounds")
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "extend", data={"end": end})
    assert unmet(err) == [message]


def test_extension_repeats_the_approvals_while_the_student_stays_suspended(flow):
    case = flow.bring("suspension", "suspended")
    student = case.student
    flow.doc(case, "suspension_grounds")
    flow.fire("teacher", case, "extend", data={"end": "2027-06-30"})
    for actor, name, state in (("office", "office_approve", "office_approved"),
                               ("principal", "principal_approve", "approved"),
                               ("center_head", "center_file", "suspended")):
        assert student.status == "suspended"
        assert flow.fire(actor, case, name).state == state
    assert case.data["end"] == "2027-06-30" and "extending" not in case.data
    assert student.status == "suspended"
    assert len(flow.periods(student)) == 1


@pytest.mark.parametrize("step", ["send_back", "withdraw"])
def test_a_refused_extension_returns_to_suspended_with_the_old_end(flow, step):
    case = flow.bring("suspension", "suspended")
    flow.doc(case, "suspension_grounds")
    flow.fire("teacher", case, "extend", data={"end": "2027-06-30"})
    case = flow.fire("office" if step == "send_back" else "teacher", case, step)
    assert (case.state, case.is_open, case.data["end"]) == ("suspended", True, "2027-03-01")
    assert case.student.status == "suspended"


def test_center_file_refused_when_student_no_longer_in_school(flow):
    case = flow.bring("suspension", "approved")
    case.student.status = "dropped_out"
    flow.s.commit()
    with pytest.raises(Conflict) as err:
        flow.fire("center_office", case, "center_file")
    assert unmet(err) == ["学生当前状态为「辍学」，须为「在校」"]


# --- transfer_out -------------------------------------------------------------------------------


def test_transfer_out_without_acceptance_letter_is_refused(flow):
    case = flow.bring("transfer_out", "draft")
    flow.doc(case, "parent_application")
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "submit")
    assert unmet(err) == ["需要上传接收证明"]


def test_transfer_out_needs_destination_and_region(flow):
    st = flow.student()
    case = flow.create("teacher", "transfer_out", st, {})
    flow.all_evidence(case)
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "submit")
    assert unmet(err) == ["需要填写转入学校（本系统内的学校，或学校名称）和流向地区"]
    case = flow.fire("teacher", case, "submit", data={"destination_school_id": flow.w.other_branch.id,
                                                      "destination_region": "河口镇"})
    assert case.data["destination_school_id"] == flow.w.other_branch.id


def test_destination_school_id_must_be_a_school_of_this_deployment(flow):
    case = flow.bring("transfer_out", "draft")
    for bad in (999999, flow.w.county.id, flow.w.branch.id):
        with pytest.raises(Invalid) as err:
            flow.fire("teacher", case, "submit", data={"destination_school_id": bad})
        assert err.value.details["field"] == "data.destination_school_id"


def test_center_file_transfers_the_student_out_of_the_roster(flow):
    case = flow.bring("transfer_out", "approved")
    student = case.student
    flow.fire("center_office", case, "center_file")
    assert (student.status, student.class_id, student.school_id) == (
        "transferred_out", None, flow.w.branch.id)
    assert [p.end_reason for p in flow.periods(student)] == ["transfer_out"]


def test_confirm_arrival_needs_enrollment_proof(flow):
    case = flow.bring("transfer_out", "transferred")
    flow.s.execute(delete(Document).where(Document.case_id == case.id, Document.kind == "enrollment_proof"))
    flow.s.commit()
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "confirm_arrival")
    assert unmet(err) == ["需要上传入学证明"]
    flow.doc(case, "enrollment_proof")
    assert flow.fire("center_head", case, "confirm_arrival").state == "arrival_confirmed"


def test_transfer_in_accept_confirms_the_sister_schools_transfer_out(flow, session):
    st = flow.student()
    out = flow.create("teacher", "transfer_out", st, {"destination_school_id": flow.w.other_branch.id,
                                                     "destination_region": "河口镇"})
    flow.all_evidence(out)
    for actor, name in (("teacher", "submit"), ("office", "office_approve"),
                        ("principal", "principal_approve"), ("center_office", "center_file")):
        flow.fire(actor, out, name)
    # the receiving school's office does not see the student, but may take them in
    assert not flow.sees("other_office", st)
    incoming = flow.create("other_office", "transfer_in", st,
                           {"origin_school": "东坡村小", "class_id": flow.w.other_class.id})
    assert incoming.school_id == flow.w.other_branch.id
    flow.fire("other_teacher", incoming, "accept", data={"date": "2026-10-11"})
    session.expire_all()
    out = session.get(Case, out.id)
    assert (out.state, out.is_open) == ("arrival_confirmed", False)
    last = out.history[-1]
    assert (last.transition, last.role, last.user_id, last.effective_date) == (
        "confirm_arrival", "system", None, dt.date(2026, 10, 11))
    # the comment in Chinese for the registers, and as a message for the pages (history_row)
    assert last.comment == f"转入学校已接收（转入案件 #{incoming.id}）"
    assert last.data["comment_msg"] == {"msgid": "转入学校已接收（转入案件 #%(id)s）", "params": {"id": incoming.id}}
    st = session.get(Student, st.id)
    assert (st.status, st.school_id, st.class_id) == ("active", flow.w.other_branch.id, flow.w.other_class.id)
    assert [(p.school_id, p.start_reason, p.end_reason) for p in flow.periods(st)] == [
        (flow.w.branch.id, "enrol", "transfer_out"), (flow.w.other_branch.id, "transfer_in", None)]


# --- transfer_in --------------------------------------------------------------------------------


def test_transfer_in_creates_an_incoming_student_the_chosen_class_teacher_accepts(flow, session):
    case = flow.create("office", "transfer_in", None)
    student = case.student
    assert (student.status, student.school_id, student.class_id, student.guardians[0].name) == (
        "incoming", flow.w.branch.id, None, "王母")
    assert flow.sees("teacher", case)  # the chosen class's homeroom teacher
    assert flow.available("teacher", case) == (["accept"], {})
    flow.fire("teacher", case, "accept")
    assert (student.status, student.class_id) == ("active", flow.w.klass.id)
    assert [p.start_reason for p in flow.periods(student)] == ["transfer_in"]


def test_change_class_hands_the_acceptance_to_the_new_class(flow):
    teacher2 = flow.f.user("teacher2", "homeroom_teacher", klass=flow.w.klass2)
    flow.s.commit()
    case = flow.create("office", "transfer_in", None)
    flow.fire("office", case, "change_class", data={"class_id": flow.w.klass2.id})
    assert case.state == "submitted"
    assert not flow.sees("teacher", case)
    flow.fire(teacher2, case, "accept")
    assert case.student.class_id == flow.w.klass2.id


def test_transfer_in_withdraw_needs_a_comment(flow):
    case = flow.create("office", "transfer_in", None)
    with pytest.raises(Invalid):
        flow.fire("office", case, "withdraw", comment="")
    assert flow.fire("office", case, "withdraw", comment="家长决定去县城").state == "withdrawn"


def test_transfer_in_of_a_student_still_in_school_is_refused(flow):
    st = flow.student()
    with pytest.raises(Conflict) as err:
        flow.create("office", "transfer_in", st, {"origin_school": "x", "class_id": flow.w.klass2.id})
    assert err.value.code == "invalid_state"


def test_transfer_in_of_an_unknown_student_of_another_center_is_404(flow):
    st = flow.student(klass=flow.w.other_class)
    with pytest.raises(Exception) as err:
        flow.create("office", "transfer_in", st, {"origin_school": "x", "class_id": flow.w.klass.id})
    assert getattr(err.value, "status", None) == 404


def test_transfer_in_class_must_be_the_creators(flow):
    with pytest.raises(Invalid) as err:
        flow.create("office", "transfer_in", None, {"origin_school": "x", "class_id": flow.w.other_class.id,
                                                    "student": {"name": "a", "gender": "M",
                                                                "birth_date": "2017-01-01"}})
    assert err.value.details["field"] == "data.class_id"


def test_transfer_in_new_student_fields_are_validated(flow):
    data = {"origin_school": "x", "class_id": flow.w.klass.id,
            "student": {"name": "a", "gender": "X", "birth_date": "2017-01-01"}}
    with pytest.raises(Invalid) as err:
        flow.create("office", "transfer_in", None, data)
    assert err.value.details["field"] == "data.student.gender"


# --- return -------------------------------------------------------------------------------------


def test_return_submit_seats_the_child_provisionally(flow):
    st = flow.student("dropped_out")
    case = flow.create("teacher", "return", st)
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "submit")
    assert unmet(err) == ["需要上传入学登记表"]
    flow.doc(case, "enrollment_form")
    flow.fire("teacher", case, "submit")
    assert (st.status, st.is_provisional, st.class_id) == ("active", True, flow.w.klass.id)
    assert [p.is_provisional for p in flow.periods(st)] == [False, True]


def test_verify_paperwork_needs_the_three_documents(flow):
    st = flow.student("dropped_out")
    case = flow.create("office", "return", st)
    flow.doc(case, "enrollment_form")
    flow.fire("office", case, "submit")
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "verify_paperwork")
    assert unmet(err) == ["需要上传监护人身份证明", "需要上传原学校学籍材料"]


def test_settle_fees_with_partial_payment_fails_then_succeeds_when_paid(flow):
    st = flow.student("dropped_out")
    case = flow.create("office", "return", st)
    flow.all_evidence(case)
    flow.fire("office", case, "submit")
    flow.fire("office", case, "verify_paperwork")
    publish_fee_schedule(flow.s, flow.w.branch, {"课本费": "120.50"})  # the fee is listed (一费制)
    fee = flow.fee(case, "120.50", paid="100.00")
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "settle_fees")
    assert unmet(err) == ["费用未缴清：应缴 120.50 元，已缴 100.00 元（或由校长减免费用）"]
    flow.pay(case, fee, "20.50")
    assert flow.fire("office", case, "settle_fees").state == "fees_settled"


def test_a_principals_waiver_settles_unpaid_fees(flow):
    st = flow.student("dropped_out")
    case = flow.create("office", "return", st)
    flow.all_evidence(case)
    flow.fire("office", case, "submit")
    flow.fire("office", case, "verify_paperwork")
    flow.fee(case, "300.00")
    with pytest.raises(Invalid):
        flow.fire("principal", case, "waive_fees", comment="")
    version = case.version
    case = flow.fire("principal", case, "waive_fees", comment="家庭贫困，免收")
    assert (case.state, case.data["fees_waived"], case.data["waiver_comment"]) == (
        "paperwork_verified", True, "家庭贫困，免收")
    assert case.version > version
    assert flow.fire("office", case, "settle_fees").state == "fees_settled"


def test_re_enroll_makes_the_seat_permanent_and_keeps_the_history(flow):
    case = flow.bring("return", "fees_settled")
    st = case.student
    flow.fire("office", case, "re_enroll", data={"class_id": flow.w.klass2.id})
    assert (st.status, st.is_provisional, st.class_id) == ("active", False, flow.w.klass2.id)
    periods = flow.periods(st)
    assert [(p.class_id, p.is_provisional, p.end_date is None) for p in periods] == [
        (flow.w.klass.id, False, False), (flow.w.klass.id, True, False), (flow.w.klass2.id, False, True)]


def test_re_enroll_closes_the_open_recovery_as_returned(flow, session):
    st = flow.student("dropped_out")
    recovery = flow.create("office", "recovery", st)
    ret = flow.bring("return", "fees_settled", student=st)
    flow.fire("office", ret, "re_enroll", data={"class_id": flow.w.klass.id,
                                                "credited_user_ids": [flow.w["teacher"].id]})
    session.expire_all()
    recovery = session.get(Case, recovery.id)
    assert (recovery.state, recovery.is_open) == ("returned", False)
    assert recovery.data["credited_user_ids"] == [flow.w["teacher"].id]
    assert recovery.history[-1].role == "system"
    st = session.get(Student, st.id)
    assert (st.status, st.is_provisional) == ("active", False)
    assert sum(p.end_date is None for p in st.enrolments) == 1


def test_withdrawing_a_submitted_return_restores_the_earlier_status(flow):
    case = flow.bring("return", "submitted")
    st = case.student
    flow.fire("office", case, "withdraw")
    assert (st.status, st.is_provisional, st.class_id) == ("dropped_out", False, flow.w.klass.id)
    assert all(p.end_date is not None for p in flow.periods(st))


# --- recovery -----------------------------------------------------------------------------------


def test_exempt_needs_medical_deferral(flow):
    case = flow.bring("recovery", "open")
    with pytest.raises(Conflict) as err:
        flow.fire("principal", case, "exempt")
    assert unmet(err) == ["需要上传医疗缓学证明"]
    flow.doc(case, "medical_deferral")
    assert flow.fire("principal", case, "exempt").state == "exempt"


def test_confirm_elsewhere_needs_enrollment_proof(flow):
    case = flow.bring("recovery", "open")
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "confirm_elsewhere")
    assert unmet(err) == ["需要上传入学证明"]
    flow.doc(case, "enrollment_proof")
    flow.fire("center_office", case, "confirm_elsewhere")
    assert case.student.status == "transferred_out"


def test_mark_returned_puts_the_child_back_in_class_and_credits_staff(flow):
    case = flow.bring("recovery", "open")
    st = case.student
    flow.fire("principal", case, "mark_returned", data={"class_id": flow.w.klass.id,
                                                        "credited_user_ids": [flow.w["teacher"].id,
                                                                              flow.w["liaison"].id]})
    assert (st.status, st.class_id) == ("active", flow.w.klass.id)
    assert case.data["credited_user_ids"] == [flow.w["teacher"].id, flow.w["liaison"].id]


def test_mark_returned_credits_only_users_one_can_see(flow):
    case = flow.bring("recovery", "open")
    with pytest.raises(Invalid) as err:
        flow.fire("principal", case, "mark_returned", data={"class_id": flow.w.klass.id,
                                                            "credited_user_ids": [flow.w["other_teacher"].id]})
    assert err.value.details["field"] == "data.credited_user_ids"


def test_mark_returned_waits_for_an_open_return_case(flow):
    st = flow.student("dropped_out")
    case = flow.create("office", "recovery", st)
    flow.bring("return", "submitted", student=st)
    with pytest.raises(Conflict) as err:
        flow.fire("office", case, "mark_returned")
    assert unmet(err) == ["学生的返校手续尚未完成，请由教导处办理正式入学"]


# --- special_exclusion --------------------------------------------------------------------------


def test_special_exclusion_needs_the_flag_and_guardian_agreement(flow):
    st = flow.student()
    case = flow.create("teacher", "special_exclusion", st)
    with pytest.raises(Conflict) as err:
        flow.fire("teacher", case, "submit")
    assert unmet(err) == ["学生须先标记为残疾或学困",
                          "需要上传家长同意书"]
    st.learning_difficulty = True
    flow.doc(case, "guardian_agreement")
    assert flow.fire("teacher", case, "submit").state == "submitted"
    assert flow.fire("principal", case, "principal_approve").state == "excluded"
    with pytest.raises(Invalid):
        flow.fire("office", case, "revoke", comment="")
    assert flow.fire("office", case, "revoke", comment="学生情况好转").state == "revoked"


def test_scope_filter_lets_the_chosen_class_teacher_see_only_open_transfer_ins(flow, session):
    case = flow.create("office", "transfer_in", None)
    teacher = flow.w["teacher"]
    from workflow.access.scope import scoped
    assert [c.id for c in session.scalars(scoped(scope_for(session, teacher), Case))] == [case.id]
    assert flow.sees("teacher", case.student)
    flow.fire("office", case, "withdraw")
    assert list(session.scalars(scoped(scope_for(session, teacher), Case))) == []
    assert session.scalar(select(Student).where(Student.id == case.student_id)).status == "incoming"
