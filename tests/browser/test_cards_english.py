"""Card tables on a 360 px phone in English (issue 12): English labels are about three times as
wide as the Chinese ones, and two label–value pairs a line squeezed the values into
one-character columns ("戚\n旭") cut off at the card's edge. Each value must fit its cell."""
from __future__ import annotations

import pytest

from tests.browser.conftest import PHONE, TODAY, login
from workflow.cases import engine

pytestmark = pytest.mark.usefixtures("term")

# cells whose content is wider than the cell (clipped or spilling into the next pair)
SQUEEZED = """() => Array.from(document.querySelectorAll('table.cards-xs td'))
    .filter(td => td.offsetParent !== null && td.scrollWidth > td.clientWidth + 1)
    .map(td => (td.getAttribute('data-label') || '') + ': ' + td.innerText.trim())"""


@pytest.fixture
def pupil(world, factory, session):
    st = factory.student(world.klass, world.village, name="李小明")
    case = engine.create_case_system(session, "absence", st.id, {"reason": "擅自离校"}, effective_date=TODAY)
    case.state, case.is_overdue, case.due_on = "visit_2", True, TODAY
    session.commit()
    return st


@pytest.mark.parametrize("username, path", [("office", "/school-year"), ("center_head", "/oversight"),
                                            ("office", "/figures"), ("office", "/registers/ledgers")])
@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_card_values_fit_their_cells_on_a_phone(username, path, lang, world, pupil, pages):
    page = login(pages(PHONE), username)
    page.goto(f"/lang/{lang}")
    page.goto(path)
    assert page.locator("table.cards-xs").count() > 0
    assert page.evaluate(SQUEEZED) == []


@pytest.mark.parametrize("lang", ["en", "zh_CN"])
def test_attendance_marks_show_their_whole_word_on_a_phone(lang, world, pupil, pages):
    """The mark buttons were sized for 出勤/病假: in English "Present" was cut to "Presen"."""
    page = login(pages(PHONE), "teacher")
    page.goto(f"/lang/{lang}")
    page.goto("/attendance")
    clipped = page.evaluate("""() => Array.from(document.querySelectorAll('label.att-choice'))
        .filter(l => l.scrollWidth > l.clientWidth + 1).map(l => l.innerText)""")
    assert clipped == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
