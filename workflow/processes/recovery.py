"""`recovery` — 劝返, one case per child (一人一案, SPEC §3.6).

Opened by hand (academic office, principal, center roles) or by a confirmed dropout; a
`return` case's `re_enroll` closes it as `returned` by itself.
"""
from models import RECOVERY_REASONS
from workflow.access.scope import CENTER_ROLES
from workflow.cases import effects as e
from workflow.cases import guards as g
from workflow.cases.definitions import Process, T
from workflow.errors import NP_
from workflow.validation import N_, OneOf, Req

ACTORS = ("academic_office", "principal", *CENTER_ROLES)
NOT_ENROLLED = ("dropped_out", "transferred_out", "incoming")

PROCESS = Process(
    name="recovery",
    label=NP_("process", "劝返"),
    states=("open", "returned", "enrolled_elsewhere", "exempt"),
    initial="open",
    final_states=("returned", "enrolled_elsewhere", "exempt"),
    state_labels={"open": N_("劝返中"), "returned": N_("已返校"), "enrolled_elsewhere": N_("已在外校就读"),
                  "exempt": N_("缓学/免学")},
    create_roles=ACTORS,
    create_data_spec={"reason_category": Req(OneOf(RECOVERY_REASONS)), "notes": str,
                      "responsible_user_ids": list[int], "village_persons": list[str],
                      "measures": list[str]},
    create_checks=(g.check_user_ids("responsible_user_ids"),),
    create_check=g.student_status(*NOT_ENROLLED),
    transitions=[
        T("mark_returned", "open", "returned", roles=ACTORS,
          data_spec={"class_id": Req(int), "credited_user_ids": Req(list[int])},
          checks=(g.check_class_in_case_center, g.check_user_ids("credited_user_ids")),
          merge_keys=("class_id", "credited_user_ids"), label=N_("已返校"), todo=N_("孩子返校后登记返校"),
          guards=(g.student_status(*NOT_ENROLLED, "active"), g.no_open_return, g.class_of_the_year),
          effects=(e.return_to_class,)),
        T("confirm_elsewhere", "open", "enrolled_elsewhere", roles=ACTORS,
          data_spec={"destination_school": str}, merge_keys=("destination_school",),
          guards=(g.student_status(*NOT_ENROLLED), g.no_open_return, g.has_document("enrollment_proof")),
          effects=(e.enrolled_elsewhere,), label=N_("确认在外校就读")),
        T("exempt", "open", "exempt", roles=("principal",), guards=(g.has_document("medical_deferral"),),
          label=N_("缓学/免学")),
    ],
)
