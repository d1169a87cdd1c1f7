"""`monthly_report` — 一月一报告 (SPEC §3.9).

One per school and month; its subject is the school (`cases.school_id` and `cases.period`, no
student or class; who sees the school sees the report). The academic office submits once the
month is over, which compiles the month's figures from the cases and freezes them in
`data.figures`; the principal signs (an approval: not the submitter); the county supervisor of
the school's county accepts or sends back with a comment, and re-checks an accepted report's
dropouts once a quarter (一季度一复核). Not submitted by the 5th school day of the next month: overdue,
and then a duty of the center school too (SPEC §3.9: "overdue in the academic office's and the
center school's queues"): the center office and center head fire none of its steps, but their
queue lists the branch school's overdue report until the school submits it. The county's queue
lists the signed reports through the county's own steps.
The rules it refers to are in `workflow/reporting/monthly.py`.
"""
import datetime as dt

from workflow import clock
from workflow.access.scope import CENTER_ROLES
from workflow.cases.definitions import Process, T
from workflow.errors import Msg
from workflow.reporting import monthly as m
from workflow.validation import N_, Req

COUNTY = ("county_supervisor",)


def center_duties(case, today: dt.date | None = None) -> set[str]:
    """The roles that must see the report through on `today` (default: the clock's) without a
    step of their own: the center school's (center office, center head) once the report is
    overdue — past its deadline and still a draft (`workflow/reporting/monthly.py:is_overdue`)."""
    return set(CENTER_ROLES) if m.is_overdue(case, today or clock.today()) else set()


def center_duty_line(case) -> Msg:
    """The center school's queue line for an overdue report: which school, which month."""
    school = case.school.name if case.school is not None else ""
    return Msg(N_("督促%(school)s提交 %(month)s 的月报"), school=school, month=case.period or "")

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
    duties=center_duties,
    duty_line=center_duty_line,
    duty_roles=CENTER_ROLES,
    duty_states=("draft",),
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
