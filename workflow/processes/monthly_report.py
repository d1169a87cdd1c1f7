"""`monthly_report` — 一月一报告 (SPEC §3.9).

One per school and month; its subject is the school (`cases.school_id` and `cases.period`, no
student or class; who sees the school sees the report). The academic office submits once the
month is over, which compiles the month's figures from the cases and freezes them in
`data.figures`; the principal signs (an approval: not the submitter); the county supervisor of
the school's county accepts or sends back with a comment, and re-checks an accepted report's
dropouts once a quarter (一季度一复核). Not submitted by the 5th school day of the next month: overdue.
The rules it refers to are in `workflow/reporting/monthly.py`.
"""
from workflow.cases.definitions import Process, T
from workflow.reporting import monthly as m
from workflow.validation import N_, Req

COUNTY = ("county_supervisor",)

PROCESS = Process(
    name="monthly_report",
    label=N_("月报"),
    states=("draft", "submitted", "signed", "accepted"),
    initial="draft",
    # accepted closes the report; the county's quarterly re-check is recorded on it all the same
    final_states=("accepted",),
    state_labels={"draft": N_("待填报"), "submitted": N_("已提交"), "signed": N_("校长已签发"), "accepted": N_("县局已接收")},
    create_roles=("academic_office",),
    create_data_spec={"school_id": Req(int), "month": Req(str)},
    locate=m.locate_school,
    create_effects=(m.set_school_subject,),
    transitions=[
        T("submit", "draft", "submitted", roles=("academic_office",), guards=(m.month_over,),
          effects=(m.freeze_figures,), label=N_("提交月报")),
        T("principal_approve", "submitted", "signed", roles=("principal",), approval=True, label=N_("校长签发")),
        T("county_accept", "signed", "accepted", roles=COUNTY, label=N_("县局接收")),
        T("county_send_back", "signed", "draft", roles=COUNTY, needs_comment=True, label=N_("县局退回")),
        T("county_recheck", "accepted", "accepted", roles=COUNTY, data_spec={"findings": Req(list)},
          checks=(m.check_findings,), guards=(m.findings_complete,), effects=(m.record_recheck,),
          label=N_("季度复核")),
    ],
)
