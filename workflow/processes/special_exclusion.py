"""`special_exclusion` — students excluded from head-count assessment (SPEC §3.7).

An excluded student counts in neither baseline nor losses while the case is `excluded` (the
case stays open so that it can be revoked).
"""
from workflow.cases import guards as g
from workflow.cases.definitions import Process, T
from workflow.validation import N_

PROCESS = Process(
    name="special_exclusion",
    label=N_("特殊学生不计入考核"),
    states=("draft", "submitted", "excluded", "revoked", "withdrawn"),
    initial="draft",
    final_states=("revoked", "withdrawn"),
    state_labels={"draft": N_("草稿"), "submitted": N_("已提交"), "excluded": N_("已不计入考核"), "revoked": N_("已撤销"),
                  "withdrawn": N_("已撤回")},
    create_roles=("homeroom_teacher",),
    create_data_spec={"reason": str},
    create_check=g.student_status("active"),
    transitions=[
        T("submit", "draft", "submitted", roles=("homeroom_teacher",), data_spec={"reason": str},
          merge_keys=("reason",), guards=(g.student_flagged, g.has_document("guardian_agreement")),
          label=N_("提交")),
        T("principal_approve", "submitted", "excluded", roles=("principal",), approval=True,
          label=N_("校长批准")),
        T("revoke", "excluded", "revoked", roles=("principal", "academic_office"), needs_comment=True,
          label=N_("撤销")),
        T("withdraw", ("draft", "submitted"), "withdrawn", roles=("homeroom_teacher",), label=N_("撤回")),
    ],
)
