"""Support API (issue 15): files, aid and totals, surveys and the evaluation, fee schedules —
money as decimal strings, 422 naming the field, out of scope 404, the export's formulas neutral."""
from __future__ import annotations

import io

from openpyxl import load_workbook

from workflow.support import survey as survey_service

YEAR = "2026-2027"


def test_learning_file_goal_result_and_report(api, world, factory):
    child = factory.student(world.klass, world.village, learning_difficulty=True)
    office = api.as_user(world["office"])
    r = office.post("/learning-files", json={"student_id": child.id, "helper_id": world["teacher"].id})
    assert r.status_code == 201, r.json
    fid = r.json["id"]
    g = office.post(f"/learning-files/{fid}/goals", json={"school_year": YEAR, "term": 1, "target": "认识100个字"})
    assert g.status_code == 201
    assert office.post(f"/learning-goals/{g.json['id']}/result", json={"result": "认识120个字", "is_met": True}).json[
        "is_met"] is True
    assert office.post(f"/learning-files/{fid}/sessions", json={"date": "2026-10-01", "notes": "读绘本"}).status_code == 201
    bad = office.post(f"/learning-files/{fid}/goals", json={"school_year": YEAR, "term": 3, "target": "x"})
    assert bad.status_code == 422 and bad.json["error"]["details"]["field"] == "term"
    unknown = office.post(f"/learning-files/{fid}/sessions", json={"date": "2026-10-01", "notes": "x", "who": 1})
    assert unknown.status_code == 422
    report = api.as_user(world["center_head"]).get(f"/reports/learning-goals?school_year={YEAR}&term=1")
    row = [i for i in report.json["items"] if i["school_id"] == world.branch.id][0]
    assert (row["files"], row["goals"], row["met"]) == (1, 1, 1)
    assert api.as_user(world["other_office"]).get(f"/learning-files/{fid}").status_code == 404


def test_aid_grants_and_totals_with_decimal_strings_and_an_export(api, world, factory):
    child = factory.student(world.klass, world.village, poor=True, name="@SUM(A1)")
    office = api.as_user(world["office"])
    for kind, amount in (("fee_waiver", "120.5"), ("living_allowance", "625")):
        r = office.post("/aid-grants", json={"student_id": child.id, "school_year": YEAR, "term": 1, "kind": kind,
                                             "amount": amount, "granted_on": "2026-09-10"})
        assert r.status_code == 201, r.json
    dup = office.post("/aid-grants", json={"student_id": child.id, "school_year": YEAR, "term": 1,
                                           "kind": "fee_waiver", "amount": "1"})
    assert dup.status_code == 409 and dup.json["error"]["code"] == "duplicate"
    totals = office.get(f"/reports/aid-totals?school_year={YEAR}&term=1&school_id={world.branch.id}").json
    assert totals["items"][0]["total"] == "745.50"
    assert totals["items"][0]["by_kind"]["fee_waiver"] == "120.50"
    export = office.get(f"/reports/aid-totals/export?school_year={YEAR}&term=1&school_id={world.branch.id}")
    assert export.status_code == 200
    wb = load_workbook(io.BytesIO(export.data))
    name = wb["grants"]["A2"]  # the child's name as typed, stored as text, never a formula
    assert name.value == "@SUM(A1)" and name.data_type == "s" and name.quotePrefix
    assert office.get(f"/reports/aid-totals?school_year={YEAR}").status_code == 422
    assert api.as_user(world["other_office"]).get(
        f"/reports/aid-totals?school_year={YEAR}&term=1&school_id={world.branch.id}").status_code == 404
    assert api.as_user(world["teacher"]).get(
        f"/reports/aid-totals?school_year={YEAR}&term=1&school_id={world.branch.id}").status_code == 403


def test_survey_opened_answered_closed_and_read(api, world, factory, session):
    for _ in range(5):
        factory.student(world.klass, world.village)
    office = api.as_user(world["office"])
    r = office.post("/surveys", json={"class_id": world.klass.id, "school_year": YEAR, "term": 1})
    assert r.status_code == 201, r.json
    sid, codes = r.json["id"], r.json["codes"]
    assert len(codes) == 5 and "codes" not in office.get(f"/surveys/{sid}").json
    s = survey_service.survey_for_code(session, codes[0])
    for code in codes[:4]:
        survey_service.submit_answers(session, code, {str(t.user_id): [4] * 5 for t in s.teachers})
    session.commit()
    closed = office.post(f"/surveys/{sid}/close", json={}).json
    assert closed["codes_used"] == 4 and all(not x["shown"] and x["overall"] is None for x in closed["results"])
    again = office.post("/surveys", json={"class_id": world.klass.id, "school_year": YEAR, "term": 1})
    assert again.status_code == 409
    assert api.as_user(world["other_office"]).get(f"/surveys/{sid}").status_code == 404
    ev = api.as_user(world["principal"]).get(f"/teachers/{world['teacher'].id}/evaluation?school_year={YEAR}")
    assert ev.status_code == 200 and ev.json["eligible"] is True and ev.json["surveys"][0]["shown"] is False
    assert api.as_user(world["teacher"]).get(
        f"/teachers/{world['subject'].id}/evaluation?school_year={YEAR}").status_code == 404


def test_fee_schedule_drafted_approved_and_listed(api, world):
    office = api.as_user(world["office"])
    r = office.post("/fee-schedules", json={"school_id": world.branch.id, "school_year": YEAR,
                                            "items": [{"name": "作业本费", "amount": "20"}]})
    assert r.status_code == 201 and r.json["items"][0]["amount"] == "20.00" and r.json["status"] == "draft"
    assert office.post(f"/fee-schedules/{r.json['id']}/approve", json={}).status_code == 403
    ok = api.as_user(world["center_head"]).post(f"/fee-schedules/{r.json['id']}/approve", json={})
    assert ok.status_code == 200 and ok.json["status"] == "approved"
    again = api.as_user(world["office"]).post("/fee-schedules", json={"school_id": world.branch.id,
                                                                      "school_year": YEAR, "items": []})
    assert again.status_code == 422
    assert api.as_user(world["other_office"]).get(f"/fee-schedules/{r.json['id']}").status_code == 404
