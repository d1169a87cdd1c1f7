"""The search box of every staff page and the student page (issue 12): found by name, 学籍号 or
ID number, only in scope, numbers masked per role; the student page's details and histories."""
from __future__ import annotations

import pytest

from models import StudentChange
from tests.ui.pages_support import fixed_clock, term, text_of  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")
ID_CARD = "110101201605010012"
STUDENT_NO = "G" + ID_CARD


@pytest.fixture
def child(world, factory, session):
    st = factory.student(world.klass, world.village, name="李小明", id_card_no=ID_CARD, student_no=STUDENT_NO,
                         left_behind=True)
    factory.student(world.other_class, world.other_village, name="李小红")  # another center's child
    session.commit()
    return st


def _search(client, q):
    resp = client.get("/search", query_string={"q": q})
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_every_staff_page_has_the_search_box(world, login):
    client = login(world["teacher"])
    html = client.get("/queue").get_data(as_text=True)
    assert 'action="/search"' in html and 'name="q"' in html


def test_teacher_finds_child_by_part_of_name_but_not_other_schools_children(world, child, login):
    html = _search(login(world["teacher"]), "小")
    assert "李小明" in html and "李小红" not in html
    assert f'href="/students/{child.id}"' in html


def test_masked_role_finds_by_full_id_number_and_sees_it_masked(world, child, login):
    client = login(world["teacher"])
    for q in (ID_CARD, STUDENT_NO.lower(), f" {ID_CARD[:6]} {ID_CARD[6:]} "):
        html = _search(client, q)
        assert "李小明" in html, q
        assert ID_CARD not in html.replace(f'value="{q.strip()}"', "")
        assert "110101********0012" in html and "G110101********0012" in html


def test_part_of_a_number_finds_nobody(world, child, login):
    html = _search(login(world["teacher"]), ID_CARD[:10])
    assert "李小明" not in html and "没有找到" in html


def test_academic_office_sees_full_numbers_in_results(world, child, login):
    html = _search(login(world["office"]), "李小明")
    assert ID_CARD in html and STUDENT_NO in html


def test_other_center_finds_nothing_by_exact_id(world, child, login):
    html = _search(login(world["other_center_head"]), ID_CARD)
    assert "李小明" not in text_of(html).replace(ID_CARD, "")
    assert "没有找到" in html


def test_like_wildcards_are_taken_literally(world, child, login):
    assert "李小明" not in _search(login(world["office"]), "%")
    assert "李小明" not in _search(login(world["office"]), "_")


def test_search_escapes_what_was_typed(world, child, login):
    html = _search(login(world["office"]), "<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_empty_search_asks_for_input(world, login):
    assert "请输入学生姓名" in _search(login(world["teacher"]), "  ")


def test_student_page_shows_details_guardians_flags_enrolment_and_changes(world, child, session, login):
    session.add(StudentChange(student_id=child.id, field="id_card_no", old=None, new=ID_CARD,
                              user_id=world["office"].id))
    session.add(StudentChange(student_id=child.id, field="flags", old=[], new=["left_behind"],
                              user_id=world["office"].id))
    session.commit()
    html = login(world["teacher"]).get(f"/students/{child.id}").get_data(as_text=True)
    text = text_of(html)
    for words in ("李小明", "G110101********0012", "110101********0012", "留守儿童", "家长", "13800000000",
                  "在读记录", "三年级1班", "入学", "至今", "信息变更记录（2 条）", "身份证号"):
        assert words in text, words
    assert ID_CARD not in html


def test_student_page_full_numbers_for_academic_office(world, child, login):
    html = login(world["office"]).get(f"/students/{child.id}").get_data(as_text=True)
    assert ID_CARD in html and STUDENT_NO in html


def test_student_page_of_another_center_is_404(world, child, login):
    assert login(world["other_center_head"]).get(f"/students/{child.id}").status_code == 404


def test_search_and_student_page_in_english(world, child, login):
    client = login(world["teacher"])
    client.get("/lang/en")
    html = _search(client, "李小明")
    assert "Find a student" in html and "Students found: 1." in html
    page = client.get(f"/students/{child.id}").get_data(as_text=True)
    for words in ("Enrolment history", "Watch groups", "to date"):
        assert words in page
