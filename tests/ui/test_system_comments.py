"""What the system writes in a case's history (the sweep's escalations and returns, one case
closing another) reads in the reader's language: the row keeps its Chinese comment for registers
and exports, and the message behind it (engine.COMMENT_MSG_KEY) for the pages and the API."""
from __future__ import annotations

from sqlalchemy import select

from models import CaseHistory
from tests.ui.pages_support import text_of
from tests.workflow.ladder_helpers import (  # noqa: F401  (fixtures)
    absence_cases,
    day,
    fixed_clock_fixture,
    marks_fixture,
    sweep,
    term_fixture,
)
from workflow.access.accounts import issue_token

U = "unexcused"


def _escalated(session, factory, world, marks):
    child = factory.student(world.klass, world.village, name="张小明")
    session.commit()
    for offset in range(3):
        marks.record(world.klass, day(offset), {child: U})
    sweep(session, day(3))
    return absence_cases(session, child)[0]


def test_the_sweeps_escalations_read_in_either_language(session, factory, world, marks, login):
    case = _escalated(session, factory, world, marks)
    rows = session.scalars(select(CaseHistory).where(CaseHistory.case_id == case.id,
                                                     CaseHistory.transition == "escalate")
                           .order_by(CaseHistory.id)).all()
    # the stored text is Chinese, as before
    assert [r.comment for r in rows] == [
        f"连续旷课第 1 个上课日（{day(0).isoformat()}）", f"连续旷课第 2 个上课日（{day(1).isoformat()}）",
        f"连续旷课第 3 个上课日（{day(2).isoformat()}），已上报教导处备案"]
    client = login(world["teacher"])
    chinese = text_of(client.get(f"/cases/{case.id}").get_data(as_text=True))
    assert f"连续旷课第 3 个上课日（{day(2).isoformat()}），已上报教导处备案" in chinese
    client.get("/lang/en")
    english = text_of(client.get(f"/cases/{case.id}").get_data(as_text=True))
    assert (f"School day 3 absent without leave in a row ({day(2).isoformat()}); reported to Academic office"
            in english)
    assert "连续旷课" not in english


def test_the_api_gives_the_comment_in_the_asked_language_and_keeps_the_message_out_of_data(
        session, factory, world, marks, client):
    case = _escalated(session, factory, world, marks)
    token, _ = issue_token(session, world["teacher"])
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    zh = client.get(f"/api/v1/cases/{case.id}", headers=headers).json["history"]
    en = client.get(f"/api/v1/cases/{case.id}", headers=headers | {"Accept-Language": "en"}).json["history"]
    assert zh[1]["comment"] == f"连续旷课第 1 个上课日（{day(0).isoformat()}）"
    assert en[1]["comment"] == f"School day 1 absent without leave in a row ({day(0).isoformat()})"
    assert all("comment_msg" not in row["data"] for row in zh)
