"""疑似辍学核实与四查三比对 page, and the close-watch panel on the oversight pages (SPEC §3.10, §5)."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from models import Case
from tests.conftest import csrf_token_from
from tests.ui.pages_support import fixed_clock, term  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")


def _xlsx(rows) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_list_is_checked_first_then_checks_open(client, login, world, factory, session):
    student = factory.student(world.klass, world.village, name="张三", student_no="G123456")
    login(world["office"])
    page = client.get("/checks")
    assert page.status_code == 200 and "导入疑似辍学名单" in page.get_data(as_text=True)
    token = csrf_token_from(page.get_data(as_text=True))
    data = _xlsx([["姓名", "全国学籍号"], ["张三", "G123456"], ["<b>李四</b>", "G999"]])
    resp = client.post("/checks/import", data={"csrf_token": token, "mode": "check",
                                               "file": (io.BytesIO(data), "名单.xlsx")},
                       content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "data-checked" in html
    assert "&lt;b&gt;李四&lt;/b&gt;" in html and "<b>李四</b>" not in html  # a typed name is escaped
    assert session.scalar(select(func.count(Case.id)).where(Case.process == "dropout_check")) == 0
    import re
    carried = re.search(r'name="file_b64" value="([^"]+)"', html).group(1)
    resp = client.post("/checks/import", data={"csrf_token": token, "mode": "all", "file_b64": carried})
    assert resp.status_code == 200 and "data-opened" in resp.get_data(as_text=True)
    session.expire_all()
    case = session.scalars(select(Case).where(Case.process == "dropout_check")).one()
    assert case.student_id == student.id
    assert f'data-case="{case.id}"' not in resp.get_data(as_text=True)  # an office has no center list


def test_center_runs_the_comparisons_and_sees_the_lists(client, login, world, factory, session):
    login(world["center_head"])
    page = client.get(f"/checks?center_id={world.center.id}")
    token = csrf_token_from(page.get_data(as_text=True))
    resp = client.post("/checks/run", data={"csrf_token": token, "center_id": str(world.center.id)})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "data-run-result" in html
    assert 'data-kind="absent_on_roll"' in html and 'data-kind="poor_household"' in html
    # another center's id answers 404
    resp = client.post("/checks/run", data={"csrf_token": token, "center_id": str(world.other_center.id)})
    assert resp.status_code == 404


def test_teacher_may_not_open_the_page(client, login, world):
    login(world["teacher"])
    assert client.get("/checks").status_code == 403


def test_oversight_shows_the_close_watch_panel(client, login, world, factory, session):
    factory.student(world.klass, world.village, name="孤儿甲", orphan=True)
    factory.student(world.other_class, world.other_village, name="外中心孤儿", orphan=True)
    login(world["center_head"])
    html = client.get("/oversight").get_data(as_text=True)
    assert "data-close-watch" in html
    row = html.split('data-group="orphan"')[1].split("</tr>")[0]
    assert re.search(r"<td data-total[^>]*>1</td>", row)
    login(world["supervisor"])
    html = client.get("/oversight").get_data(as_text=True)
    row = html.split('data-group="orphan"')[1].split("</tr>")[0]
    assert re.search(r"<td data-total[^>]*>2</td>", row)


@pytest.mark.parametrize("raw", ["9999999999", "abc", "-1", "１"])
def test_a_bad_center_id_answers_404(client, login, world, raw):
    login(world["center_head"])
    assert client.get(f"/checks?center_id={raw}").status_code == 404


def test_the_case_page_of_a_check_offers_its_outcomes(client, login, world, factory, session, api):
    student = factory.student(world.klass, world.village, name="核实甲")
    api.as_user(world["principal"])
    case = api.post("/cases", {"process": "dropout_check", "student_id": student.id,
                               "data": {"source": "manual", "note": "<script>x</script>"}}).get_json()
    detail = api.get(f"/cases/{case['id']}").get_json()
    assert set(detail["available_transitions"]) == {"confirm_in_school", "confirm_transferred", "confirm_dropout"}
    assert detail["due"]
    login(world["principal"])
    resp = client.get(f"/cases/{case['id']}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "确认辍学" in html and "<script>x</script>" not in html


def _form(html: str, action: str) -> str:
    form = html[html.index(f'action="{action}"'):]
    return form[:form.index("</form>")]


def test_running_the_comparisons_asks_for_confirmation_first(client, login, world):
    login(world["center_head"])
    html = client.get(f"/checks?center_id={world.center.id}").get_data(as_text=True)
    form = _form(html, "/checks/run")
    assert 'data-confirm="run-comparisons"' in form and 'data-confirm-fire="run-comparisons"' in form
    # the only submit button is inside the confirmation, after its text
    assert form.count('type="submit"') == 1 and form.index('type="submit"') > form.index("data-confirm-text")
    assert "清水镇中心校" in form and "疑似辍学核实" in form and "确定运行比对" in form


def test_opening_the_checks_of_a_checked_list_asks_for_confirmation(client, login, world, factory, session):
    factory.student(world.klass, world.village, name="张三", student_no="G123456")
    login(world["office"])
    token = csrf_token_from(client.get("/checks").get_data(as_text=True))
    data = _xlsx([["姓名", "全国学籍号"], ["张三", "G123456"]])
    html = client.post("/checks/import", data={"csrf_token": token, "mode": "check",
                                               "file": (io.BytesIO(data), "名单.xlsx")},
                       content_type="multipart/form-data").get_data(as_text=True)
    form = html[html.index("data-confirm-form"):]
    form = form[:form.index("</form>")]
    assert 'data-confirm="open-checks"' in form and 'data-confirm-fire="open-checks"' in form
    assert form.count('type="submit"') == 1 and form.index('type="submit"') > form.index("data-confirm-text")
    assert "1 名学生各开启一件疑似辍学核实" in form


def test_a_refused_list_and_a_refused_poor_list_write_nothing_and_say_why(client, login, world, session):
    login(world["center_head"])
    token = csrf_token_from(client.get(f"/checks?center_id={world.center.id}").get_data(as_text=True))
    for path in ("/checks/import", "/checks/poor-households"):
        resp = client.post(path, data={"csrf_token": token, "mode": "check", "center_id": str(world.center.id),
                                       "file": (io.BytesIO(b"not a workbook"), "x.xlsx")},
                           content_type="multipart/form-data")
        assert resp.status_code == 422 and 'role="alert"' in resp.get_data(as_text=True), path
        resp = client.post(path, data={"csrf_token": token, "mode": "nonsense"})
        assert resp.status_code == 400, path
    assert session.scalar(select(func.count(Case.id))) == 0
