"""`suspension` — 休学 (SPEC §3.2).

An extension (`extend`) sends the case through the approvals again while the student stays
suspended. During that round (`case.data["extending"]`) `send_back` and `withdraw` return the
case to `suspended` with the old end date, and `center_file` applies the new end date: a case
that has suspended a child never ends in `draft` or `withdrawn` with the child still suspended.
"""
import datetime as dt

from workflow.access.scope import CENTER_ROLES
from workflow.cases import effects as e
from workflow.cases import guards as g
from workflow.cases.definitions import Process, T, approval_steps, send_back_steps
from workflow.errors import NP_
from workflow.validation import N_, Req


def extending(case) -> bool:
    return bool((case.data or {}).get("extending"))


SUBMIT_DATA = {"start": dt.date, "end": dt.date, "reason": str}
STARTERS = ("homeroom_teacher", "academic_office")

PROCESS = Process(
    name="suspension",
    label=NP_("process", "休学"),
    states=("draft", "submitted", "office_approved", "approved", "suspended", "resumed", "withdrawn"),
    initial="draft",
    final_states=("resumed", "withdrawn"),
    state_labels={"draft": N_("草稿"), "submitted": N_("已提交"), "office_approved": N_("教导处已审核"),
                  "approved": N_("校长已批准"), "suspended": N_("休学中"), "resumed": N_("已复学"),
                  "withdrawn": N_("已撤回")},
    create_roles=STARTERS,
    create_data_spec=SUBMIT_DATA,
    create_check=g.student_settled_active,
    transitions=[
        T("submit", "draft", "submitted", roles=STARTERS, data_spec=SUBMIT_DATA,
          merge_keys=("start", "end", "reason"), label=N_("提交"),
          guards=(g.student_settled_active, g.suspension_dates, g.in_person_visit,
                  g.has_document("suspension_grounds"))),
        # the extension round first: the engine takes the first T whose `when` holds
        T("center_file", "approved", "suspended", roles=CENTER_ROLES, approval=True,
          effects=(e.apply_extension,), when=extending, label=N_("中心校备案（延长）")),
        *send_back_steps("suspended", effects=(e.cancel_extension,), when=extending),
        T("withdraw", "submitted", "suspended", roles=STARTERS, effects=(e.cancel_extension,),
          when=extending, label=N_("撤回")),
        *approval_steps("suspended", center_file_guards=(g.student_settled_active,),
                        center_file_effects=(e.suspend_student,)),
        *send_back_steps("draft"),
        T("withdraw", ("draft", "submitted"), "withdrawn", roles=STARTERS, label=N_("撤回")),
        T("extend", "suspended", "submitted", roles=STARTERS, data_spec={"end": Req(dt.date)},
          guards=(g.extension_end, g.grounds_after_filing), effects=(e.start_extension,),
          label=N_("申请延长")),
        T("resume", "suspended", "resumed", roles=("academic_office",),
          data_spec={"class_id": Req(int)}, checks=(g.check_class_in_case_school,),
          guards=(g.student_status("suspended"), g.class_of_the_year), effects=(e.resume_student,), label=NP_("action", "复学")),
    ],
)
