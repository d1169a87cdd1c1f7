"""`transfer_out` — 转出 (SPEC §3.3).

When the destination is a school of this deployment, that school's academic office opens a
`transfer_in` for the student; its `accept` fires `confirm_arrival` here as the system.
"""
from workflow.access.scope import CENTER_ROLES
from workflow.cases import effects as e
from workflow.cases import guards as g
from workflow.cases.definitions import Process, T, approval_steps, send_back_steps
from workflow.errors import NP_
from workflow.validation import N_

STARTERS = ("homeroom_teacher", "academic_office")
# SPEC §3.3: an arrival not confirmed this many days after filing is flagged (a transfer on paper
# can hide a dropout, 假转学真辍学).
ARRIVAL_CONFIRM_DAYS = 30
DESTINATION = {"destination_school_id": int, "destination_school": str, "destination_region": str,
               "reason": str}

PROCESS = Process(
    name="transfer_out",
    label=NP_("process", "转出"),
    states=("draft", "submitted", "office_approved", "approved", "transferred", "arrival_confirmed",
            "withdrawn"),
    initial="draft",
    final_states=("arrival_confirmed", "withdrawn"),
    state_labels={"draft": N_("草稿"), "submitted": N_("已提交"), "office_approved": N_("教导处已审核"),
                  "approved": N_("校长已批准"), "transferred": N_("已转出"), "arrival_confirmed": N_("已确认到达"),
                  "withdrawn": N_("已撤回")},
    create_roles=STARTERS,
    create_data_spec=DESTINATION,
    create_checks=(g.check_destination_school,),
    create_check=g.student_settled_active,
    transitions=[
        T("submit", "draft", "submitted", roles=STARTERS, data_spec=DESTINATION,
          checks=(g.check_destination_school,), merge_keys=tuple(DESTINATION), label=N_("提交"),
          guards=(g.student_settled_active, g.destination, g.has_document("parent_application"),
                  g.has_document("acceptance_letter"))),
        *approval_steps("transferred", center_file_guards=(g.student_settled_active,),
                        center_file_effects=(e.transfer_student_out,)),
        *send_back_steps("draft"),
        T("withdraw", ("draft", "submitted"), "withdrawn", roles=STARTERS, label=N_("撤回")),
        T("confirm_arrival", "transferred", "arrival_confirmed",
          roles=("academic_office", *CENTER_ROLES), data_spec={"transfer_in_case_id": int},
          guards=(g.has_document("enrollment_proof"),), label=N_("确认到达")),
    ],
)
