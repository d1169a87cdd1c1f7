"""`return` — back after leaving without procedures (擅自转出后返校, SPEC §3.4).

From `submit` on the child sits in the chosen class (`active`, provisional) while the
paperwork and fees are completed; `withdraw` after `submit` takes the provisional seat back and
restores the student's earlier status (the family withdrew, e.g. moved away).
"""
from workflow.cases import effects as e
from workflow.cases import guards as g
from workflow.cases.definitions import Process, T
from workflow.validation import N_, Req

STARTERS = ("homeroom_teacher", "academic_office")
RETURNABLE = ("dropped_out", "transferred_out")


def class_for_roles(case):
    student = case.student
    return (student.class_id if student is not None else None) or (case.data or {}).get("class_id")


def check_create_class(ctx) -> None:
    if "class_id" in ctx.data:
        g.class_of_school(ctx.session, ctx.data["class_id"], ctx.case.school.id)


PROCESS = Process(
    name="return",
    label=N_("返校"),
    states=("draft", "submitted", "paperwork_verified", "fees_settled", "re_enrolled", "withdrawn"),
    initial="draft",
    final_states=("re_enrolled", "withdrawn"),
    state_labels={"draft": N_("草稿"), "submitted": N_("随班就读中"), "paperwork_verified": N_("手续已核验"),
                  "fees_settled": N_("费用已结清"), "re_enrolled": N_("已正式入学"), "withdrawn": N_("已撤回")},
    create_roles=STARTERS,
    create_data_spec={"class_id": int, "reason": str},
    create_checks=(check_create_class,),
    create_check=g.student_status(*RETURNABLE),
    class_for_roles=class_for_roles,
    transitions=[
        T("submit", "draft", "submitted", roles=STARTERS, data_spec={"class_id": int},
          checks=(g.check_class_in_case_school,), merge_keys=("class_id",), label=N_("提交（随班就读）"),
          guards=(g.student_status(*RETURNABLE), g.class_chosen, g.class_of_the_year,
                  g.has_document("enrollment_form")),
          effects=(e.seat_provisionally,)),
        T("verify_paperwork", "submitted", "paperwork_verified", roles=("academic_office",),
          guards=(g.has_document("enrollment_form"), g.has_document("guardian_id"),
                  g.has_document("prior_school_record")), label=N_("核验手续")),
        T("waive_fees", "paperwork_verified", "paperwork_verified", roles=("principal",),
          needs_comment=True, effects=(e.record_waiver,), label=N_("减免费用")),
        T("settle_fees", "paperwork_verified", "fees_settled", roles=("academic_office",),
          guards=(g.fees_paid_or_waived, g.fees_on_schedule), label=N_("结清费用")),
        T("re_enroll", "fees_settled", "re_enrolled", roles=("academic_office",),
          data_spec={"class_id": Req(int), "credited_user_ids": list[int]},
          checks=(g.check_class_in_case_school, g.check_user_ids("credited_user_ids")),
          merge_keys=("class_id", "credited_user_ids"), label=N_("正式入学"),
          guards=(g.student_status("active"), g.class_of_the_year),
          effects=(e.complete_re_enrolment, e.close_open_recovery)),
        T("withdraw", ("draft", "submitted"), "withdrawn", roles=("academic_office",),
          effects=(e.unseat,), label=N_("撤回")),
    ],
)
