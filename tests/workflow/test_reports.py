"""Weekly report, status-change notice and the three ledgers on a hand-built week.

The week is Monday 12 – Sunday 18 October 2026. Cases and their history rows are written as the
engine would have left them (process, state, effective dates), so each figure can be counted by
hand.
"""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from openpyxl import load_workbook

from models import AttendanceRecord, Case, CaseHistory, CatchmentChild, Visit
from workflow.access.scope import scope_for
from workflow.errors import Invalid, NotFound
from workflow.registers import reports

MON = dt.date(2026, 10, 12)


def day(n: int) -> dt.date:
    """Day n of the week (0 = Monday 12 October)."""
    return MON + dt.timedelta(days=n)


class Week:
    def __init__(self, session, factory, world):
        self.s, self.f, self.w = session, factory, world

    def case(self, student, process, steps, *, school=None, data=None, role="principal", overdue=False):
        """A case whose history is `steps`: [(transition, from, to, effective date)]; the first is
        the create row. The case ends in the last step's state."""
        final_states = {"absence": ("returned", "dropout_confirmed", "converted"),
                        "recovery": ("returned", "enrolled_elsewhere", "exempt"),
                        "suspension": ("resumed", "withdrawn"), "transfer_out": ("arrival_confirmed", "withdrawn"),
                        "return": ("re_enrolled", "withdrawn"), "transfer_in": ("enrolled", "withdrawn")}[process]
        last = steps[-1][2]
        c = Case(process=process, state=last, student_id=student.id, school_id=(school or student.school).id,
                 opened_on=steps[0][3], data=data or {}, is_open=last not in final_states, is_overdue=overdue)
        self.s.add(c)
        self.s.flush()
        for transition, src, dst, eff, *rest in steps:
            self.s.add(CaseHistory(case_id=c.id, transition=transition, from_state=src, to_state=dst,
                                   role=rest[0] if rest else role, effective_date=eff,
                                   data=rest[1] if len(rest) > 1 else {}))
        self.s.flush()
        return c

    def mark(self, student, when, status="unexcused"):
        self.s.add(AttendanceRecord(student_id=student.id, class_id=student.class_id, date=when, status=status))
        self.s.flush()


@pytest.fixture
def week(session, factory, world):
    """The hand-built week of the branch school (and one change at its sister school)."""
    w, f = world, factory
    wk = Week(session, factory, world)
    a = f.student(w.klass, w.village, name="甲旷课")
    b = f.student(w.klass, w.village, name="乙旷课")
    c = f.student(w.klass2, w.village, name="丙辍学", status="dropped_out", id_card_no="522601201503030012")
    d = f.student(w.klass, w.village, name="丁休学", status="suspended")
    e = f.student(w.klass, w.village, name="戊转出", status="transferred_out")
    g = f.student(w.klass2, w.village, name="己返校")
    h = f.student(w.klass, w.village2, name="庚转入")
    k = f.student(w.klass, w.village, name="辛下周")
    # ended enrolments as the effects would have closed them
    for st, end in ((c, day(4)), (d, day(1)), (e, day(5))):
        for p in st.enrolments:
            p.end_date, p.end_reason = end, "left"
    e.class_id = None
    # attendance: 3 unexcused marks of 2 students in the week; one the Friday before; one sick day
    wk.mark(a, day(0))
    wk.mark(a, day(1))
    wk.mark(b, day(2))
    wk.mark(a, day(-3))
    wk.mark(b, day(3), "sick_leave")
    # absence of A climbs to visit_3 within the week and is overdue now
    wk.case(a, "absence", [("create", None, "reported", day(0), "system"), ("escalate", "reported", "visit_1", day(1), "system"),
                           ("escalate", "visit_1", "visit_2", day(2), "system"),
                           ("escalate", "visit_2", "visit_3", day(3), "system")], overdue=True)
    # absence of B: visit_1 at the week's end, visit_2 only on the next Monday
    wk.case(b, "absence", [("create", None, "reported", day(2), "system"), ("escalate", "reported", "visit_1", day(3), "system"),
                           ("escalate", "visit_1", "visit_2", day(7), "system")])
    # C: dropout confirmed on Friday, recovery opened the same day
    absence_c = wk.case(c, "absence", [("create", None, "reported", day(-10), "system"),
                                       ("escalate", "reported", "village_joint", day(-6), "system"),
                                       ("confirm_dropout", "village_joint", "dropout_confirmed", day(4), "principal",
                                        {"reason_category": "厌学"})], data={"reason_category": "厌学"})
    rec_c = wk.case(c, "recovery", [("create", None, "open", day(4), "system")], data={"reason_category": "厌学"})
    rec_c.parent_case_id = absence_c.id
    # D: suspension filed on Tuesday; an extension filed again on Thursday is no new change
    wk.case(d, "suspension", [("create", None, "draft", day(-20)), ("center_file", "approved", "suspended", day(1)),
                              ("extend", "suspended", "submitted", day(2)),
                              ("center_file", "approved", "suspended", day(3))], data={"end": "2027-03-01"})
    # E: transfer out filed on Saturday
    wk.case(e, "transfer_out", [("create", None, "draft", day(-5)), ("center_file", "approved", "transferred", day(5))],
            data={"destination_school": "县城实验小学", "destination_region": "县城"})
    # G: a return re-enrolled on Wednesday closes G's recovery (the system's echo)
    wk.case(g, "return", [("create", None, "draft", day(-8)), ("re_enroll", "fees_settled", "re_enrolled", day(2),
                                                             "academic_office", {"class_id": w.klass2.id})])
    wk.case(g, "recovery", [("create", None, "open", day(-30), "system"),
                            ("mark_returned", "open", "returned", day(2), "system", {"class_id": w.klass2.id})])
    # H: a transfer-in accepted at the sister school on Monday (center roll-up only)
    h.school_id, h.class_id = w.branch2.id, None
    wk.case(h, "transfer_in", [("create", None, "submitted", day(-2)), ("accept", "submitted", "enrolled", day(0),
                                                                        "principal", {})],
            school=w.branch2)
    # K: a suspension filed next Monday, outside the week
    wk.case(k, "suspension", [("create", None, "draft", day(-3)), ("center_file", "approved", "suspended", day(7))])
    session.commit()
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "g": g, "h": h, "k": k, "absence_c": absence_c, "rec_c": rec_c}


def test_weekly_report_counts_the_hand_built_week(session, world, week):
    report = reports.weekly_report(session, scope_for(session, world["principal"]), school_id=world.branch.id,
                                   week_of=day(3))
    assert (report.start, report.end) == (day(0), day(6))
    row = report.rows[0]
    assert (row.unexcused_marks, row.unexcused_students) == (3, 2)
    assert row.ladder_by_rung == {"reported": 0, "visit_1": 1, "visit_2": 0, "visit_3": 1, "village_joint": 0}
    assert row.overdue_visits == 1
    changes = {k: n for k, n in row.status_changes.items() if n}
    assert changes == {"suspended": 1, "transferred_out": 1, "re_enrolled": 1, "dropout": 1}
    assert (row.dropouts, row.recoveries_opened, row.recovered) == (1, 1, 1)


def test_weekly_report_rolls_up_the_center_schools_schools(session, world, week):
    report = reports.weekly_report(session, scope_for(session, world["center_head"]),
                                   center_school_id=world.center.id, week_of=day(6))
    names = [r.name for r in report.rows]
    assert names[0] == world.center.name and set(names) == {world.center.name, world.branch.name, world.branch2.name}
    by_school = {r.school_id: r for r in report.rows}
    assert by_school[world.branch2.id].status_changes["transferred_in"] == 1
    assert report.total.status_changes["transferred_in"] == 1
    assert report.total.unexcused_marks == 3 and report.total.dropouts == 1
    assert report.as_dict()["total"]["absences"] == {"unexcused_marks": 3, "students": 2}


def test_the_next_week_sees_the_later_rung_and_not_this_weeks_changes(session, world, week):
    report = reports.weekly_report(session, scope_for(session, world["principal"]), school_id=world.branch.id,
                                   week_of=day(7))
    row = report.rows[0]
    assert row.ladder_by_rung["visit_2"] == 1 and row.ladder_by_rung["visit_1"] == 0
    assert {k: n for k, n in row.status_changes.items() if n} == {"suspended": 1}
    assert row.unexcused_marks == 0


def test_weekly_report_out_of_scope_is_not_found(session, world, week):
    scope = scope_for(session, world["other_principal"])
    with pytest.raises(NotFound):
        reports.weekly_report(session, scope, school_id=world.branch.id, week_of=MON)
    with pytest.raises(NotFound):
        reports.weekly_report(session, scope, center_school_id=world.center.id, week_of=MON)
    with pytest.raises(Invalid):
        reports.weekly_report(session, scope, week_of=MON)


def test_notice_lists_exactly_the_periods_changes_with_class_and_no_id_number(session, world, week):
    school, items = reports.status_change_notice(session, scope_for(session, world["office"]),
                                                 school_id=world.branch.id, date_from=day(0), date_to=day(6))
    got = [(i.student_name, i.kind_label, i.class_name, i.effective_date) for i in items]
    assert got == [
        ("丁休学", "休学", "三年级1班", day(1)),
        ("己返校", "返校（补办入学手续）", "四年级1班", day(2)),
        ("丙辍学", "辍学", "四年级1班", day(4)),
        ("戊转出", "转出", "三年级1班", day(5)),
    ]
    assert "522601201503030012" not in json.dumps([i.as_dict() for i in items], ensure_ascii=False)
    # a narrower period: only Wednesday to Friday
    _, items = reports.status_change_notice(session, scope_for(session, world["office"]),
                                            school_id=world.branch.id, date_from=day(2), date_to=day(4))
    assert [i.student_name for i in items] == ["己返校", "丙辍学"]


def test_notice_rejects_a_period_that_ends_before_it_starts(session, world):
    with pytest.raises(Invalid):
        reports.status_change_notice(session, scope_for(session, world["office"]), school_id=world.branch.id,
                                     date_from=day(3), date_to=day(1))


def test_ledgers_list_suspected_dropouts_and_recoveries_with_each_attempt(session, world, week):
    session.add(Visit(case_id=week["rec_c"].id, date=day(5), kind="home_visit", guardian_present=True,
                      outcome="家长答应周一送回"))
    session.add(Visit(case_id=week["rec_c"].id, date=day(6), kind="village_joint", guardian_present=False,
                      outcome="孩子外出未见"))
    session.commit()
    scope = scope_for(session, world["supervisor"])
    area = reports.ledger_area(session, scope, county_id=world.county.id)
    suspected = reports.ledger_suspected(session, scope, area)
    assert [c.student.name for c in suspected] == ["甲旷课"]
    headers, rows = reports.ledger_rows(session, scope, area, "recoveries", today=day(6))
    c_rows = [r for r in rows if r[1] == "丙辍学"]
    assert [(r[3], r[4], r[8], r[11]) for r in c_rows] == [(day(4), "厌学", "入户家访", "家长答应周一送回"),
                                                            (day(4), "厌学", "村校联合家访", "孩子外出未见")]
    data = reports.ledger_xlsx(headers, rows, "辍学劝返台账")
    sheet = load_workbook(io.BytesIO(data)).active
    assert [c.value for c in sheet[1]] == headers and sheet.max_row == len(rows) + 1


def test_ledger_of_children_is_the_register_of_the_areas_villages(session, world):
    for v, name in ((world.village, "东坡娃"), (world.other_village, "河口娃")):
        session.add(CatchmentChild(village_id=v.id, name=name, gender="M", birth_date=dt.date(2016, 1, 1),
                                   household_status="local", status="enrolled_here"))
    session.commit()
    scope = scope_for(session, world["center_office"])
    _, rows = reports.ledger_rows(session, scope, reports.ledger_area(session, scope), "children", today=MON)
    assert [r[1] for r in rows] == ["东坡娃"]
    county = reports.ledger_area(session, scope_for(session, world["supervisor"]), county_id=world.county.id)
    assert len(reports.ledger_children(session, county)) == 2
    with pytest.raises(NotFound):
        reports.ledger_area(session, scope, center_school_id=world.other_center.id)

