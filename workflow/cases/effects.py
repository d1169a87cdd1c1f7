"""Effects: what a transition writes besides the state (SPEC §3), run by the engine after the
state change has been flushed and before the history row is written.

Each takes the context (`workflow.cases.definitions.Ctx`). An effect that fails raises; the
caller's rollback then undoes the state, the history and every write of the other effects. Effects
on other cases go through the engine, as the context hands it over (`ctx.fire_system`,
`ctx.create_case_system`), so those cases get their own history rows; this module never imports
the engine (the engine imports the processes, which import these effects).
"""
from __future__ import annotations

from sqlalchemy import select

from models import Case, SchoolClass
from workflow.absence import ladder
from workflow.errors import N_, Msg
from workflow.org import enrolment


def set_case_data(case: Case, **values) -> None:
    """Replace case.data (a plain JSON column: in-place edits would not be saved). A value of
    None removes the key."""
    data = dict(case.data or {})
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    case.data = data


def _class(ctx, key: str = "class_id") -> SchoolClass:
    return ctx.session.get(SchoolClass, int(ctx.get(key)))


# --- suspension --------------------------------------------------------------------------------


def suspend_student(ctx) -> None:
    """学生状态改为休学，结束当前在籍时段"""
    enrolment.leave(ctx.session, ctx.student, ctx.effective_date, "suspended", "suspension")


def start_extension(ctx) -> None:
    """记录申请延长的新结束日期，学生保持休学"""
    set_case_data(ctx.case, extending=True, pending_end=ctx.data["end"].isoformat())


def apply_extension(ctx) -> None:
    """延长生效：结束日期改为新的日期"""
    data = ctx.case.data or {}
    set_case_data(ctx.case, end=data.get("pending_end", data.get("end")), extending=None,
                  pending_end=None)


def cancel_extension(ctx) -> None:
    """延长申请作废，原休学期限不变"""
    set_case_data(ctx.case, extending=None, pending_end=None)


def resume_student(ctx) -> None:
    """学生复学：在所选班级在校，开始新的在籍时段"""
    enrolment.place_in_class(ctx.session, ctx.student, _class(ctx), ctx.effective_date, "resume")


# --- transfer_out / transfer_in ----------------------------------------------------------------


def transfer_student_out(ctx) -> None:
    """学生状态改为已转出，离开班级名册，结束在籍时段"""
    enrolment.leave(ctx.session, ctx.student, ctx.effective_date, "transferred_out", "transfer_out",
                    keep_class=False)


def enrol_transfer_in(ctx) -> None:
    """学生在所选班级在校，开始新的在籍时段"""
    enrolment.place_in_class(ctx.session, ctx.student, _class(ctx), ctx.effective_date, "transfer_in")


def confirm_sister_transfer_out(ctx) -> None:
    """本系统内原学校的转出案件自动确认到达（confirm_arrival）"""
    origin = ctx.session.scalars(select(Case).where(
        Case.student_id == ctx.case.student_id, Case.process == "transfer_out",
        Case.state == "transferred").order_by(Case.id.desc())).first()
    if origin is not None:
        ctx.fire_system(ctx.session, origin, "confirm_arrival", data={"transfer_in_case_id": ctx.case.id},
                        comment=Msg(N_("转入学校已接收（转入案件 #%(id)s）"), id=ctx.case.id),
                        effective_date=ctx.effective_date)


# --- return ------------------------------------------------------------------------------------


def seat_provisionally(ctx) -> None:
    """学生随班就读：在所选班级在校（临时），开始临时在籍时段"""
    s = ctx.student
    set_case_data(ctx.case, prior={"status": s.status, "school_id": s.school_id, "class_id": s.class_id})
    enrolment.place_in_class(ctx.session, s, _class(ctx), ctx.effective_date, "return", provisional=True)


def unseat(ctx) -> None:
    """撤回时若学生已随班就读，结束临时在籍时段并恢复原状态"""
    prior = (ctx.case.data or {}).get("prior")
    s = ctx.student
    if not prior or not s.is_provisional:
        return
    enrolment.close_enrolment(ctx.session, s, ctx.effective_date, "return_withdrawn")
    s.status, s.school_id, s.class_id = prior["status"], prior["school_id"], prior["class_id"]
    s.is_provisional = False
    set_case_data(ctx.case, prior=None)
    ctx.session.flush()


def record_waiver(ctx) -> None:
    """记录费用减免（fees_waived）及理由"""
    set_case_data(ctx.case, fees_waived=True, waiver_comment=ctx.comment,
                  waived_by_id=ctx.user.id if ctx.user is not None else None)


def complete_re_enrolment(ctx) -> None:
    """正式入学：取消临时标记，在所选班级开始正式在籍时段"""
    enrolment.place_in_class(ctx.session, ctx.student, _class(ctx), ctx.effective_date, "re_enroll")


def close_open_recovery(ctx) -> None:
    """学生的未结劝返案件（recovery）自动以 returned 办结"""
    recovery = ctx.session.scalars(select(Case).where(
        Case.student_id == ctx.case.student_id, Case.process == "recovery", Case.state == "open")).first()
    if recovery is not None:
        ctx.fire_system(ctx.session, recovery, "mark_returned",
                        data={"class_id": int(ctx.get("class_id")),
                              "credited_user_ids": list(ctx.get("credited_user_ids") or [])},
                        comment=Msg(N_("返校手续已完成（返校案件 #%(id)s）"), id=ctx.case.id),
                        effective_date=ctx.effective_date)


# --- recovery ----------------------------------------------------------------------------------


def return_to_class(ctx) -> None:
    """学生在所选班级在校"""
    enrolment.place_in_class(ctx.session, ctx.student, _class(ctx), ctx.effective_date, "recovery_return")


def enrolled_elsewhere(ctx) -> None:
    """学生在外校就读：状态改为已转出"""
    enrolment.leave(ctx.session, ctx.student, ctx.effective_date, "transferred_out", "enrolled_elsewhere",
                    keep_class=False)


def open_recovery(ctx) -> None:
    """为该学生开启劝返案件（一人一案：已有未结案件则沿用）"""
    ctx.create_case_system(ctx.session, "recovery", ctx.case.student_id,
                           {"reason_category": ctx.get("reason_category")},
                           effective_date=ctx.effective_date, parent_case_id=ctx.case.id,
                           existing_ok=True)


# --- absence -----------------------------------------------------------------------------------


def pin_ladder_policy(ctx) -> None:
    """案件沿用开启时所在中心校的家访阶梯版本"""
    school = ctx.case.school
    center_id = school.center_id if school is not None else None
    ctx.case.ladder_policy_id = ladder.current_policy(ctx.session, center_id).id


def drop_out_student(ctx) -> None:
    """学生状态改为辍学，结束当前在籍时段（保留班级，以便劝返）"""
    enrolment.leave(ctx.session, ctx.student, ctx.effective_date, "dropped_out", "dropout")


def link_converted_case(ctx) -> None:
    """记录转入的休学/转出案件（converted_case_id）"""
    set_case_data(ctx.case, converted_case_id=int(ctx.data["case_id"]))
