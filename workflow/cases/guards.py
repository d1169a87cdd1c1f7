"""Guards: small named checks of a case's evidence (SPEC §3 "needs").

A guard takes the context (`workflow.cases.definitions.Ctx`) and returns None when met, or a
Chinese message naming what is missing; the engine joins every unmet message into one 409
`guard_failed`. A guard's docstring is its one-line description in docs/processes.md.

Guards that read request data (`extend`'s new end) pass when the key is absent: the data spec
already makes such keys required when firing, and `available_transitions` has no request data.

The `check_*` functions at the end are input checks, not guards: they look up ids named in the
request and raise Invalid (422) when they name nothing usable.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import exists, func, select

from models import (
    Case,
    CaseHistory,
    Document,
    Fee,
    Payment,
    RoleAssignment,
    School,
    SchoolClass,
    User,
    Visit,
    VisitParticipant,
)
from workflow import clock
from workflow.absence import ladder
from workflow.access.scope import can_see, user_filter
from workflow.errors import LIST_SEP, Msg, invalid_field
from workflow.fieldnames import FIELD_LABELS
from workflow.org.calendar import school_year_of
from workflow.org.services import STUDENT_STATUS_NAMES
from workflow.support.fees import unlisted_fees
from workflow.validation import N_

# The name of each document kind: the one table (N_ puts them in the catalogue for the pages).
DOCUMENT_NAMES = {
    "suspension_grounds": N_("休学依据"),
    "parent_application": N_("家长申请"),
    "acceptance_letter": N_("接收证明"),
    "enrollment_proof": N_("入学证明"),
    "enrollment_form": N_("入学登记表"),
    "guardian_id": N_("监护人身份证明"),
    "prior_school_record": N_("原学校学籍材料"),
    "medical_deferral": N_("医疗缓学证明"),
    "guardian_agreement": N_("家长同意书"),
    "visit_photo": N_("家访照片"),
    "other": N_("其他材料"),
}


def one_year_after(start: dt.date) -> dt.date:
    """The same day a year later (28 February for a 29 February start)."""
    try:
        return start.replace(year=start.year + 1)
    except ValueError:
        return start.replace(year=start.year + 1, day=28)


# --- messages about the step's own inputs ------------------------------------------------------


class InputMsg(Msg):
    """A guard's message about an input of the step's own form (a date, a class, a school): it
    says what a person calls the input, and remembers the input's keys in `fields`, so the case
    page (admin/views/cases.py:transition_forms) keeps such a step's form usable: filling the
    input is how the refusal is met."""

    fields: tuple[str, ...] = ()


def needs_input(msgid: str, *fields: str, **params) -> InputMsg:
    """An `InputMsg` for the inputs `fields` (their keys, as in the transition's data spec)."""
    msg = InputMsg(msgid, **params)
    msg.fields = fields
    return msg


# --- evidence ----------------------------------------------------------------------------------


def has_document(kind: str):
    """A guard: the case has at least one document of `kind`."""
    name = DOCUMENT_NAMES.get(kind, kind)

    def guard(ctx):
        # an existence check: stops at the first matching row (an index probe), counts nothing
        found = ctx.session.scalar(
            select(exists().where(Document.case_id == ctx.case.id, Document.kind == kind)))
        return None if found else Msg(N_("需要上传%(name)s"), name=name)

    guard.__name__ = f"has_{kind}"
    guard.__doc__ = f"文件：{name}（{kind}）"
    return guard


def in_person_visit(ctx):
    """家长本人到校的记录（in_person_at_school，家长在场；电话不算）"""
    found = ctx.session.scalar(select(exists().where(
        Visit.case_id == ctx.case.id, Visit.kind == "in_person_at_school",
        Visit.guardian_present.is_(True))))
    return None if found else N_("需要家长本人到校的记录（电话不算）")


def suspension_dates(ctx):
    """休学起止日期 start、end：end 晚于 start，且不超过一学年"""
    start, end = ctx.date("start"), ctx.date("end")
    if start is None or end is None:
        return needs_input(N_("需要填写休学开始日期和结束日期"), "start", "end")
    if end <= start:
        return needs_input(N_("休学结束日期必须晚于开始日期"), "start", "end")
    if end >= one_year_after(start):
        return needs_input(N_("休学期限不得超过一学年（结束日期须早于 %(date)s）"), "end",
                           date=one_year_after(start).isoformat())
    return None


def extension_end(ctx):
    """新的结束日期 end 晚于原结束日期，且在 start 起一学年内"""
    new_end = ctx.data.get("end")
    if new_end is None:
        return None
    start = ctx.date("start")
    old_end = (ctx.case.data or {}).get("end")
    if old_end and new_end <= dt.date.fromisoformat(old_end):
        return needs_input(N_("延长后的结束日期必须晚于原结束日期 %(date)s"), "end", date=str(old_end))
    if start is not None and new_end >= one_year_after(start):
        return needs_input(N_("休学期限不得超过一学年（结束日期须早于 %(date)s）"), "end",
                           date=one_year_after(start).isoformat())
    return None


def grounds_after_filing(ctx):
    """备案之后新上传的休学依据（suspension_grounds）"""
    filed_at = ctx.session.scalar(select(func.max(CaseHistory.at)).where(
        CaseHistory.case_id == ctx.case.id, CaseHistory.transition == "center_file"))
    q = select(func.count(Document.id)).where(
        Document.case_id == ctx.case.id, Document.kind == "suspension_grounds")
    if filed_at is not None:
        q = q.where(Document.uploaded_at > filed_at)
    return None if ctx.session.scalar(q) else N_("需要上传备案之后的新休学依据")


def destination(ctx):
    """转入学校（destination_school_id 或 destination_school）和流向地区（destination_region）"""
    school = bool(ctx.get("destination_school_id") or ctx.get("destination_school"))
    region = bool(ctx.get("destination_region"))
    keys = ("destination_school_id", "destination_school", "destination_region")
    if not school and not region:
        return needs_input(N_("需要填写转入学校（本系统内的学校，或学校名称）和流向地区"), *keys)
    if not school:
        return needs_input(N_("需要填写转入学校（本系统内的学校，或学校名称）"), *keys[:2])
    if not region:
        return needs_input(N_("需要填写流向地区"), keys[2])
    return None


def class_chosen(ctx):
    """家长选择的班级（class_id）"""
    return None if ctx.get("class_id") else needs_input(N_("需要选择随班就读的班级"), "class_id")


def fees_paid_or_waived(ctx):
    """已缴费用合计不少于应缴费用合计，或校长已减免"""
    if (ctx.case.data or {}).get("fees_waived"):
        return None
    due = ctx.session.scalar(select(func.coalesce(func.sum(Fee.amount_due), 0)).where(
        Fee.case_id == ctx.case.id))
    paid = ctx.session.scalar(select(func.coalesce(func.sum(Payment.amount), 0)).where(
        Payment.case_id == ctx.case.id))
    due, paid = Decimal(str(due)), Decimal(str(paid))
    if paid >= due:
        return None
    return Msg(N_("费用未缴清：应缴 %(due)s 元，已缴 %(paid)s 元（或由校长减免费用）"),
               due=f"{due:.2f}", paid=f"{paid:.2f}")


def fees_on_schedule(ctx):
    """每项费用都列在本校经中心校批准的收费标准（一费制）中，且不超过所列金额"""
    # A waived case charges nothing, so nothing can be charged beyond the schedule (SPEC §5).
    if (ctx.case.data or {}).get("fees_waived"):
        return None
    return Msg.join(LIST_SEP, unlisted_fees(ctx.session, ctx.case, ctx.effective_date or ctx.today)) or None


def class_of_the_year(ctx):
    """所选班级属于生效日期所在学年（不能编入往年的班级）"""
    # SPEC §3 "Classes and visits that make sense": a child placed in a class of a past (or
    # next) school year vanishes from today's roll. The class named by the request, else the one
    # the case already holds (a transfer-in's `accept`, a return's chosen class).
    class_id = ctx.get("class_id")
    if not isinstance(class_id, int) or isinstance(class_id, bool):
        return None
    klass = ctx.session.get(SchoolClass, class_id)
    if klass is None:
        return None
    year = school_year_of(ctx.effective_date or ctx.today or clock.today())
    if klass.school_year == year:
        return None
    return Msg(N_("所选班级“%(name)s”属于 %(year)s 学年，不是 %(current)s 学年的班级，请改选本学年的班级"),
               name=klass.name, year=klass.school_year, current=year)


def student_flagged(ctx):
    """学生已标记为残疾（disability）或学困（learning_difficulty）"""
    s = ctx.student
    if s is not None and (s.disability or s.learning_difficulty):
        return None
    return N_("学生须先标记为残疾或学困")


def student_settled_active(ctx):
    """学生在校（active），且不是手续未完成的随班就读"""
    s = ctx.student
    if s.status != "active":
        return Msg(N_("学生当前状态为「%(status)s」，须为「%(allowed)s」"),
                   status=STUDENT_STATUS_NAMES.get(s.status, s.status), allowed=STUDENT_STATUS_NAMES["active"])
    if s.is_provisional:
        return N_("学生正在随班就读，返校手续尚未完成")
    return None


def student_status(*allowed: str):
    """A guard: the student's status is one of `allowed`."""
    names = Msg.join(N_("、"), [STUDENT_STATUS_NAMES.get(a, a) for a in allowed])

    def guard(ctx):
        s = ctx.student
        if s.status in allowed:
            return None
        return Msg(N_("学生当前状态为「%(status)s」，须为「%(allowed)s」"),
                   status=STUDENT_STATUS_NAMES.get(s.status, s.status), allowed=names)

    guard.__name__ = "student_status_" + "_".join(allowed)
    guard.__doc__ = f"学生状态为：{names}"
    return guard


def no_open_return(ctx):
    """学生没有未完成的返校手续（return）"""
    found = ctx.session.scalar(select(func.count(Case.id)).where(
        Case.student_id == ctx.case.student_id, Case.process == "return", Case.is_open.is_(True),
        Case.state != "draft"))
    return N_("学生的返校手续尚未完成，请由教导处办理正式入学") if found else None


# --- input checks (422) ------------------------------------------------------------------------


def class_of_school(session, class_id: int, school_id: int, field: str = "data.class_id") -> SchoolClass:
    """The class `class_id` if it belongs to `school_id`; Invalid otherwise."""
    k = session.get(SchoolClass, class_id)
    if k is None or k.school_id != school_id:
        raise invalid_field(field, N_("所选班级必须是本校（案件所属学校）的班级"))
    return k


def check_class_in_case_school(ctx) -> None:
    """data.class_id names a class of the case's school."""
    if "class_id" in ctx.data:
        class_of_school(ctx.session, ctx.data["class_id"], ctx.case.school_id)


def check_class_in_case_center(ctx) -> None:
    """data.class_id names a class of a school under the case school's center school."""
    if "class_id" not in ctx.data:
        return
    k = ctx.session.get(SchoolClass, ctx.data["class_id"])
    center = ctx.case.school.center_id if ctx.case.school else None
    if k is None or k.school is None or (k.school_id != ctx.case.school_id and k.school.center_id != center):
        raise invalid_field("data.class_id", N_("所选班级必须是本中心校范围内的班级"))


def check_user_ids(key: str):
    """An input check: data[key] lists users that exist (and that the actor may see)."""

    def check(ctx) -> None:
        ids = ctx.data.get(key)
        if not ids:
            return
        q = select(User.id).where(User.id.in_(ids))
        if ctx.scope is not None:
            q = q.where(user_filter(ctx.scope))
        found = set(ctx.session.scalars(q))
        missing = [i for i in ids if i not in found]
        if missing:
            raise invalid_field(f"data.{key}", N_("%(name)s中的用户不存在或不在您的管辖范围内：%(id)s"),
                                name=Msg(FIELD_LABELS.get(key, N_("人员"))), id=missing[0])

    check.__name__ = f"check_{key}"
    return check


def check_destination_school(ctx) -> None:
    """data.destination_school_id names another school of this deployment (not a county node)."""
    sid = ctx.data.get("destination_school_id")
    if sid is None:
        return
    school = ctx.session.get(School, sid)
    if school is None or school.kind == "county" or school.id == ctx.case.school_id:
        raise invalid_field("data.destination_school_id", N_("转入学校必须是本系统中的另一所学校"))


# --- absence -----------------------------------------------------------------------------------


def returned_to_class(ctx):
    """返校后的出勤记录（present，晚于最后一个旷课日，且不晚于生效日期）"""
    upto = ctx.effective_date or ctx.today
    if upto is not None and ladder.present_after(ctx.session, ctx.case, upto) is not None:
        return None
    return N_("需要学生返校后的出勤记录（最后一个旷课日之后）")


def liaison_joint_visit(ctx):
    """村委联络员参与或登记的村校联合家访（village_joint）记录"""
    liaisons = select(RoleAssignment.user_id).where(RoleAssignment.role == "village_liaison")
    village_id = ctx.student.village_id if ctx.student is not None else None
    if village_id is not None:
        liaisons = liaisons.where(RoleAssignment.village_id == village_id)
    joined = select(VisitParticipant.visit_id).where(VisitParticipant.user_id.in_(liaisons))
    found = ctx.session.scalar(select(func.count(Visit.id)).where(
        Visit.case_id == ctx.case.id, Visit.kind == "village_joint",
        (Visit.created_by_id.in_(liaisons)) | Visit.id.in_(joined)))
    return None if found else N_("需要村委联络员参与或登记的村校联合家访记录")


CONVERSION_PROCESSES = ("suspension", "transfer_out")


def check_conversion_case(ctx) -> None:
    """data.case_id names a suspension or transfer_out case of the same student (not withdrawn)."""
    case_id = ctx.data.get("case_id")
    if case_id is None:
        return
    other = ctx.session.get(Case, case_id)
    if ctx.scope is not None and other is not None and not can_see(ctx.session, ctx.scope, Case, case_id):
        other = None
    if (other is None or other.student_id != ctx.case.student_id
            or other.process not in CONVERSION_PROCESSES or other.state == "withdrawn"):
        raise invalid_field("data.case_id", N_("所选案件必须是该学生的休学或转出案件（未撤回）"))
