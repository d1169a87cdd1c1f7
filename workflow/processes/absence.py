"""`absence` — the home-visit ladder (家访阶梯, SPEC §3.1).

Opened by the system when attendance marks a student `unexcused` and no absence case covers that
day (`workflow.absence.opening`), or by hand for a child who left school without permission
(`reason`). The daily sweep (`workflow.absence.sweep`) climbs the rungs (`escalate`, one rung per
firing, system only) and closes the case when a `present` mark ends the run; the rungs' days and
required visitors are the center school's policy (`workflow.absence.ladder`).
"""
from __future__ import annotations

from models import RECOVERY_REASONS
from workflow.absence import ladder
from workflow.cases import effects as e
from workflow.cases import guards as g
from workflow.cases.definitions import Process, T
from workflow.errors import NP_
from workflow.validation import N_, OneOf, Req

RUNGS = ladder.RUNG_STATES
FINAL = ("returned", "dropout_confirmed", "converted")
HAND_OPENERS = ("homeroom_teacher", "academic_office")
# SPEC §5: an open absence case at rung 3 and above is a suspected dropout (疑似辍学).
SUSPECTED_DROPOUT_STATES = ("visit_3", "village_joint")

PROCESS = Process(
    name="absence",
    label=N_("缺勤家访"),
    states=("reported", *RUNGS, *FINAL),
    initial="reported",
    final_states=FINAL,
    state_labels={"reported": N_("已报告"), **ladder.RUNG_NAMES, "returned": N_("已返校"), "dropout_confirmed": NP_("state", "确认辍学"), "converted": N_("已转为休学/转出")},
    create_roles=HAND_OPENERS,
    create_data_spec={"reason": Req(str)},
    create_check=g.student_status("active"),
    create_effects=(e.pin_ladder_policy,),
    duties=ladder.duties,
    transitions=[
        # one rung per firing, so the history shows every rung and the day it was reached
        *[T("escalate", source, dest, roles=(), label=NP_("action", "升级"))
          for source, dest in zip(("reported", *RUNGS[:-1]), RUNGS, strict=True)],
        T("mark_returned", ("reported", *RUNGS), "returned", roles=HAND_OPENERS,
          guards=(g.returned_to_class,), label=N_("已返校"), todo=N_("孩子返校后登记返校")),
        T("confirm_dropout", "village_joint", "dropout_confirmed", roles=("principal",),
          data_spec={"reason_category": Req(OneOf(RECOVERY_REASONS))}, merge_keys=("reason_category",),
          guards=(g.student_status("active"), g.liaison_joint_visit),
          effects=(e.drop_out_student, e.open_recovery), label=NP_("action", "确认辍学")),
        T("convert", ("reported", *RUNGS), "converted", roles=("academic_office",),
          data_spec={"case_id": Req(int)}, checks=(g.check_conversion_case,),
          effects=(e.link_converted_case,), label=NP_("action", "转为休学/转出")),
    ],
)

