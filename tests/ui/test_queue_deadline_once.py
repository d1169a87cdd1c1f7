"""A queue item shows its deadline once (issue 12: a dropout check read "…（2026-12-15 前）… 请于
2026-12-15 前办理"). For every process and every state a step leaves from, the next-step line is
built as the queue builds it (`workflow.cases.nextstep.next_step`, with the absence ladder's
rung and the monthly report's center duty too) and rendered by the real queue template, due and
overdue: the item's text names the date exactly once."""
from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from flask import render_template

from tests.ui.pages_support import text_of
from workflow import clock
from workflow.absence import ladder
from workflow.cases import nextstep
from workflow.processes import REGISTRY

DUE = dt.date(2026, 12, 15)
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=clock.SCHOOL_TZ)


def _cases():
    """(process, state, actions as (transition, its role), held roles, facts, duty) for each
    process and state with a step out of it, and the absence ladder's rungs with a visit due."""
    out = []
    for proc in REGISTRY.values():
        for state in proc.states:
            steps = [(t.name, t.roles[0]) for t in proc.transitions if state in t.sources and t.roles]
            if steps:
                held = {role for _name, role in steps}
                out.append((proc.name, state, steps, held, None, False))
        if proc.duty_line is not None:
            out.append((proc.name, proc.initial, [], {"center_office"}, None, True))
    for rung in ladder.DEFAULT_RUNGS:
        facts = nextstep.StepFacts(rung=ladder.Rung(rung["state"], rung["day"], rung["visit_kind"],
                                                     tuple(rung["roles"])))
        out.append(("absence", rung["state"], [], set(rung["roles"]), facts, True))
    return out


CASES = _cases()


def _item(i, process, state, steps, held, facts, duty, overdue):
    proc = REGISTRY[process]
    case = SimpleNamespace(id=i, process=process, state=state, data={}, period="2026-11",
                           school=SimpleNamespace(name="东坡村小"))
    reason = nextstep.next_step(proc, case, actions=steps, held=held, facts=facts,
                                now=NOW.astimezone(dt.UTC), duty=duty)
    return {"id": i, "process": process, "process_label": proc.label, "state": state,
            "state_label": proc.state_labels.get(state, state), "student": None, "class": None,
            "school_name": "东坡村小", "period": "2026-11", "reason": reason, "actions": [n for n, _r in steps],
            "due": DUE.isoformat(), "overdue": overdue}


def _item_texts(html: str) -> dict[int, str]:
    parts = re.split(r'(?=<li class="card mb-2 queue-item)', html)
    out = {}
    for part in parts[1:]:
        m = re.search(r'data-case="(\d+)"', part)
        out[int(m.group(1))] = text_of(part.split("</li>")[0])
    return out


def test_every_process_and_state_has_a_line():
    # the table below is not vacuous: every process appears, the rungs and the center duty too
    assert {c[0] for c in CASES} == set(REGISTRY)
    assert any(c[5] and c[0] == "monthly_report" for c in CASES)
    assert sum(1 for c in CASES if c[4] is not None) == len(ladder.DEFAULT_RUNGS)


@pytest.mark.parametrize("overdue", [False, True], ids=["due", "overdue"])
def test_each_queue_line_names_its_deadline_once(app, overdue):
    items = [_item(i, *case, overdue=overdue) for i, case in enumerate(CASES, start=1)]
    with app.test_request_context("/queue"):
        html = render_template("queue/index.html", items=items, overdue=sum(overdue for _ in items),
                               missing_attendance=[], missing_days=[], incoming=[], today=NOW.date())
    texts = _item_texts(html)
    assert len(texts) == len(CASES)
    for i, (process, state, *_rest) in enumerate(CASES, start=1):
        text = texts[i]
        assert text.count(DUE.isoformat()) == 1, (process, state, text)
        assert ("已逾期" in text) == overdue, (process, state, text)


@pytest.mark.parametrize("overdue", [False, True], ids=["due", "overdue"])
def test_each_queue_line_reads_in_english(app, overdue):
    """In English every item (its line, the rung's roles, the deadline) has no Chinese punctuation
    and no Chinese but the school's name; an overdue item says "Overdue (due by …)" once, after
    the line, never as its prefix."""
    items = [_item(i, *case, overdue=overdue) for i, case in enumerate(CASES, start=1)]
    with app.test_request_context("/queue?lang=en"):
        html = render_template("queue/index.html", items=items, overdue=sum(overdue for _ in items),
                               missing_attendance=[], missing_days=[], incoming=[], today=NOW.date())
    texts = _item_texts(html)
    assert len(texts) == len(CASES)
    for i, (process, state, *_rest) in enumerate(CASES, start=1):
        text = texts[i].replace("东坡村小", "")
        assert not re.search(r"[\u3000-\u303f\uff00-\uffef\u3400-\u9fff]", text), (process, state, text)
        assert ("Overdue (due by 2026-12-15)" in text) == overdue, (process, state, text)
        assert "): To do" not in text and "To do: Back at school" not in text, (process, state, text)
