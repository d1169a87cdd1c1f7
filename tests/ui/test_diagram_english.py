"""The state diagram in English (issue 12): long English state names wrap onto up to three lines
in boxes no wider than the Chinese ones need, so the English diagram is about as wide as the
Chinese one and still says every name whole, at the same font size."""
from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
from flask_babel import force_locale

from admin.labels import text
from workflow.cases.diagram_svg import MAX_LINES, render_svg
from workflow.processes import REGISTRY

SVG = "{http://www.w3.org/2000/svg}"


def _english(process: str) -> str:
    with force_locale("en"):
        return render_svg(process, translate=text)


def _width(svg: str) -> float:
    return float(ElementTree.fromstring(svg).get("width"))


@pytest.mark.parametrize("process", sorted(REGISTRY))
def test_english_diagram_is_at_most_a_third_wider_than_the_chinese(app, process):
    with app.test_request_context():
        english, chinese = _english(process), render_svg(process)
    assert _width(english) <= 1.3 * _width(chinese), (process, _width(english), _width(chinese))


@pytest.mark.parametrize("process", sorted(REGISTRY))
def test_english_state_names_wrap_but_read_whole_at_the_chinese_font_size(app, process):
    proc = REGISTRY[process]
    with app.test_request_context(), force_locale("en"):
        names = {s: text(proc.state_labels.get(s) or s) for s in proc.states}
        svg = ElementTree.fromstring(render_svg(process, translate=text))
    boxes = {g.get("data-state"): g for g in svg.iter(f"{SVG}g")}
    for state, name in names.items():
        label = boxes[state].find(f"{SVG}text")
        assert re.sub(r"\s+", " ", "".join(label.itertext())) == name
        assert label.get("font-size") == "13"
        assert len(label.findall(f"{SVG}tspan")) <= MAX_LINES
        # every line inside its box
        rect = boxes[state].find(f"{SVG}rect")
        top, bottom = float(rect.get("y")), float(rect.get("y")) + float(rect.get("height"))
        for line in label.findall(f"{SVG}tspan") or [label]:
            assert top < float(line.get("y")) < bottom, (state, line.get("y"))


def test_a_long_name_wraps_in_english_and_chinese_names_stay_on_one_line(app):
    with app.test_request_context():
        english = ElementTree.fromstring(_english("suspension"))
    reviewed = next(g for g in english.iter(f"{SVG}g") if g.get("data-state") == "office_approved")
    assert len(reviewed.find(f"{SVG}text").findall(f"{SVG}tspan")) >= 2
    chinese = ElementTree.fromstring(render_svg("absence"))
    assert not list(chinese.iter(f"{SVG}tspan"))
