"""`roll_verification` — 学年末核实 (SPEC §3.8).

One per class and school year, and its subject is the class, not a child (`cases.class_id`,
`student_id` empty; who may see the class sees the case). The homeroom teacher checks the roll and
submits the differences (`data.differences`, may be empty); the academic office approves once
each difference is resolved — a case opened for the child or the record corrected, named in
`data.resolutions` — or sends the list back. A school's roll is verified for the year when all
its classes are `verified`; the school-year rollover warns about the others
(workflow/schoolyear/rollover.py)."""
from workflow.cases.definitions import Process, T
from workflow.schoolyear import verification as v
from workflow.validation import N_, Req

PROCESS = Process(
    name="roll_verification",
    label=N_("学年末核实"),
    states=("draft", "submitted", "verified"),
    initial="draft",
    final_states=("verified",),
    state_labels={"draft": N_("待核实"), "submitted": N_("已提交"), "verified": N_("已核实")},
    create_roles=("academic_office",),
    create_data_spec={"class_id": Req(int)},
    locate=v.locate_class,
    create_effects=(v.set_class_subject,),
    class_for_roles=v.class_of_case,
    transitions=[
        T("submit", "draft", "submitted", roles=("homeroom_teacher",), data_spec={"differences": list},
          checks=(v.check_differences,), merge_keys=("differences",), label=N_("提交核实结果")),
        T("office_approve", "submitted", "verified", roles=("academic_office",), approval=True,
          data_spec={"resolutions": list}, checks=(v.check_resolutions,), merge_keys=("resolutions",),
          guards=(v.differences_resolved,), label=N_("教导处确认")),
        T("send_back", "submitted", "draft", roles=("academic_office",), needs_comment=True, label=N_("退回")),
    ],
)
