"""Demo support data (issue 15): a few learning-difficulty files with goals and help sessions,
aid for children of poor families, one closed class survey with enough answers to show results,
and an approved fee schedule (一费制) for every school of the demo township. Written through the
services, as the staff would; flushed, never committed. `workflow.demo.cases.build_demo_cases`
calls `build_demo_fee_schedules` before its cases and `build_demo_support` after them."""
from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import SchoolClass, Student
from workflow.access.scope import scope_for
from workflow.org.calendar import school_year_of
from workflow.support import aid, fees, learning, survey

from .township import DemoWorld

FEE_ITEMS = [{"name": "课本及作业本费", "amount": "120.50", "note": "国家免费教科书以外的教辅和作业本"},
             {"name": "住宿费", "amount": "100.00", "note": "仅寄宿生"},
             {"name": "校服费", "amount": "150.00", "note": "自愿购买"}]
GOALS = [("20以内进位加法正确率达到八成", "正确率85%", True), ("能正确朗读一篇课文", "还需提示才能读完", False),
         ("按时完成每天的作业", "本学期作业全部按时完成", True)]
AID = [("fee_waiver", "120.00"), ("book_waiver", "80.00"), ("living_allowance", "625.00")]


def _term_of(day: dt.date) -> int:
    return 1 if day.month >= 8 or day.month == 1 else 2


def build_demo_fee_schedules(session: Session, world: DemoWorld) -> int:
    """Every school's fee schedule of this school year, drafted by its office and approved by the
    center office: before the demo cases, whose `return` fees must be listed (一费制)."""
    year = school_year_of(world.today)
    center_office = world.users["center_office"]
    cscope = scope_for(session, center_office)
    for n, school in enumerate(world.schools):
        office = world.users[f"office{n}"]
        schedule = fees.save_schedule(session, scope_for(session, office), office, school_id=school.id,
                                      school_year=year, items=FEE_ITEMS)
        fees.approve_schedule(session, cscope, center_office, schedule.id)
    session.flush()
    return len(world.schools)


def build_demo_support(session: Session, world: DemoWorld) -> dict:
    """Files, aid and a closed survey for `world` (after its cases); returns counts."""
    rng = random.Random(world.seed + 15)
    today = world.today
    year, term = school_year_of(today), _term_of(today)
    out = {"learning_files": 0, "aid_grants": 0, "survey_answers": 0}

    def office_of(student: Student):
        n = [s.id for s in world.schools].index(student.school_id)
        return world.users[f"office{n}"]

    flagged = list(session.scalars(select(Student).where(Student.learning_difficulty.is_(True),
                                                         Student.status == "active").order_by(Student.id).limit(3)))
    for i, child in enumerate(flagged):
        office = office_of(child)
        oscope = scope_for(session, office)
        helper = world.homeroom.get(child.class_id) or office
        f = learning.open_file(session, oscope, office, student_id=child.id, helper_id=helper.id)
        target, result, met = GOALS[i % len(GOALS)]
        goal = learning.add_goal(session, oscope, office, f.id, school_year=year, term=term, target=target)
        if i < 2:
            learning.record_result(session, oscope, office, goal.id, result=result, is_met=met)
        learning.add_session(session, oscope, office, f.id, date=today - dt.timedelta(days=3 + i),
                             notes="放学后一对一辅导半小时", today=today)
        out["learning_files"] += 1

    poor = list(session.scalars(select(Student).where(Student.poor.is_(True), Student.status == "active")
                                .order_by(Student.id).limit(5)))
    for child in poor:
        office = office_of(child)
        for kind, amount in AID[: rng.randint(1, 3)]:
            aid.grant_aid(session, scope_for(session, office), office, student_id=child.id, school_year=year,
                          term=term, kind=kind, amount=amount, granted_on=today - dt.timedelta(days=10), today=today)
            out["aid_grants"] += 1

    klass = session.scalars(select(SchoolClass).where(SchoolClass.school_id == world.branches[0].id,
                                                      SchoolClass.school_year == year)
                            .order_by(SchoolClass.grade.desc(), SchoolClass.id)).first()
    if klass is not None:
        office = world.users["office1"]
        oscope = scope_for(session, office)
        s, codes = survey.open_survey(session, oscope, office, class_id=klass.id, school_year=year, term=term,
                                      today=today)
        for code in codes[: max(survey.MIN_ANSWERS, len(codes) * 2 // 3)]:
            survey.submit_answers(session, code, {str(t.user_id): [rng.choice((3, 4, 4, 5, 5)) for _ in survey.QUESTIONS]
                                                  for t in s.teachers})
            out["survey_answers"] += 1
        survey.close_survey(session, oscope, office, s.id, today=today)
    session.flush()
    return out
