"""`transfer_in` — 转入 (SPEC §3.5). No one may refuse: there is no reject transition.

Opened by the academic office of the receiving school with the origin school and the class the
family chose. `student_id` names a student of this deployment (e.g. one a sister school has
transferred out: such a student is found even outside the creator's scope); without it,
`data.student` creates the new student as `incoming`.
"""
from workflow.cases import effects as e
from workflow.cases import guards as g
from workflow.cases.definitions import Process, T
from workflow.errors import NP_
from workflow.org import transfers
from workflow.validation import N_, Req

PROCESS = Process(
    name="transfer_in",
    label=NP_("process", "转入"),
    states=("submitted", "enrolled", "withdrawn"),
    initial="submitted",
    final_states=("enrolled", "withdrawn"),
    state_labels={"submitted": N_("待接收"), "enrolled": N_("已入班"), "withdrawn": N_("已撤回")},
    create_roles=("academic_office",),
    create_data_spec={"origin_school": Req(str), "class_id": Req(int), "student": transfers.NEW_STUDENT,
                      "reason": str},
    locate=transfers.locate_transfer_in,
    create_checks=(transfers.check_new_student,),
    create_check=g.student_status(*transfers.RECEIVABLE),
    create_effects=(transfers.create_incoming_student,),
    class_for_roles=lambda case: (case.data or {}).get("class_id"),
    transitions=[
        T("accept", "submitted", "enrolled", roles=("homeroom_teacher", "principal"),
          guards=(g.student_status(*transfers.RECEIVABLE), g.class_of_the_year),
          effects=(e.enrol_transfer_in, e.confirm_sister_transfer_out), label=N_("接收入班")),
        T("change_class", "submitted", "submitted", roles=("academic_office",),
          data_spec={"class_id": Req(int)}, checks=(g.check_class_in_case_school,),
          guards=(g.class_of_the_year,), merge_keys=("class_id",), label=N_("更换班级")),
        T("withdraw", "submitted", "withdrawn", roles=("academic_office",), needs_comment=True,
          label=N_("撤回（家长放弃）")),
    ],
)
