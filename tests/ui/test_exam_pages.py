"""Exam pages: the .xlsx import (every bad row by number and reason; nothing written unless clean
or 「只导入正确的行」; CSRF) and a class's exam statistics (raw and accounted, lost students as zero)."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from models import ExamScore
from tests.conftest import csrf_token_from
from tests.ui.pages_support import text_of
from tests.workflow.conftest import Flow
from tests.workflow.test_figures import YEAR, Drive


def xlsx(rows, header=("学籍号", "姓名", "科目", "分数")) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.fixture
def drive(session, factory, world):
    return Drive(session, factory, world, Flow(session, factory, world))


@pytest.fixture
def pupils(drive, world):
    kids = drive.students(world.klass, 3)
    for i, kid in enumerate(kids):
        kid.name = ["张三", "李四", "王五"][i]
        kid.student_no = f"G{i + 1:04d}"
    drive.s.commit()
    return kids


def _count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(ExamScore))


def _post(client, world, data: bytes, **form):
    token = csrf_token_from(client.get("/figures/exams/import").get_data(as_text=True))
    fields = {"csrf_token": token, "class_id": str(world.klass.id), "term": "1", "exam": "final", "subject": "",
              "file": (io.BytesIO(data), "成绩.xlsx"), **form}
    return client.post("/figures/exams/import", data=fields, content_type="multipart/form-data")


def test_a_clean_file_is_imported(pupils, world, login, session):
    client = login(world["teacher"])
    page = client.get("/figures/exams/import").get_data(as_text=True)
    assert "导入考试成绩" in page and "三年级1班" in page
    resp = _post(client, world, xlsx([("G0001", "张三", "语文", 90), ("", "李四", "语文", 75.5),
                                      ("G0003", "", "语文", 58)]))
    assert resp.status_code == 200
    assert "新增 3 条" in text_of(resp.get_data(as_text=True))
    assert _count(session) == 3


def test_every_bad_row_is_listed_by_number_and_nothing_is_written(pupils, world, login, session):
    client = login(world["office"])
    resp = _post(client, world, xlsx([("G0001", "张三", "语文", 90), ("G9999", "", "语文", 80),
                                      ("G0002", "", "语文", 101), ("", "王五", "", 70)]))
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    for row in (3, 4, 5):
        assert f'data-row="{row}"' in html
    assert 'data-row="2"' not in html
    page = text_of(html)
    assert "学籍号 G9999 不是本班学生" in page and "不在 0–100 之间" in page and "科目为空" in page
    assert "未导入任何数据" in page
    assert _count(session) == 0


def test_only_valid_rows_are_written_when_ticked(pupils, world, login, session):
    client = login(world["office"])
    resp = _post(client, world, xlsx([("G0001", "张三", "数学", 90), ("G9999", "", "数学", 80)]), only_valid="1")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'data-row="3"' in html and "新增 1 条" in text_of(html)
    assert _count(session) == 1


def test_import_without_csrf_token_writes_nothing(pupils, world, login, session):
    client = login(world["teacher"])
    resp = client.post("/figures/exams/import", content_type="multipart/form-data",
                       data={"class_id": str(world.klass.id), "term": "1", "exam": "final",
                             "file": (io.BytesIO(xlsx([("G0001", "张三", "语文", 90)])), "a.xlsx")})
    assert resp.status_code == 400
    assert _count(session) == 0


def test_a_teacher_cannot_import_into_another_class(pupils, world, login, session):
    client = login(world["other_teacher"])
    resp = _post(client, world, xlsx([("G0001", "张三", "语文", 90)]))
    assert resp.status_code == 404
    assert _count(session) == 0


def test_a_role_that_may_not_import_gets_403(world, login, drive):
    assert login(world["center_head"]).get("/figures/exams/import").status_code == 403


def test_class_statistics_show_raw_and_accounted_figures_with_lost_students_as_zero(drive, pupils, world,
                                                                                   login, session):
    client = login(world["teacher"])
    _post(client, world, xlsx([("G0001", "", "语文", 90), ("G0002", "", "语文", 80), ("G0003", "", "语文", 40)]))
    drive.dropout(pupils[2], dt.date(2026, 10, 14))  # lost in week 7: counts as zero
    html = client.get(f"/figures/exams/classes/{world.klass.id}?term=1&exam=final").get_data(as_text=True)
    assert 'data-subject="语文"' in html
    raw = html.split('data-raw-average>')[1].split("<")[0]
    accounted = html.split('data-accounted-average>')[1].split("<")[0]
    assert Decimal(raw) == Decimal("70.00")  # (90 + 80 + 40) / 3
    assert Decimal(accounted) == Decimal("56.67")  # (90 + 80 + 0) / 3
    page = text_of(html)
    assert "66.67%" in page and "王五" in page and "2026-10-14 确认辍学" in page


def test_class_statistics_of_a_class_out_of_scope_is_404(drive, world, login):
    assert login(world["other_teacher"]).get(f"/figures/exams/classes/{world.klass.id}").status_code == 404
    assert login(world["principal"]).get(f"/figures/exams/classes/{world.other_class.id}").status_code == 404


def test_class_statistics_without_scores_say_so(drive, world, login):
    html = login(world["principal"]).get(f"/figures/exams/classes/{world.klass.id}?term=1").get_data(as_text=True)
    assert "还没有成绩" in html
    assert YEAR in html


NAV_LINKS = {"figures": "/figures", "figures-ledger": "/figures/ledger", "catchment": "/registers/catchment",
             "ledgers": "/registers/ledgers", "weekly": "/reports/weekly", "notice": "/reports/notice",
             "queue": "/queue", "attendance": "/attendance", "liaison": "/liaison", "oversight": "/oversight",
             "archive": "/admin/"}


@pytest.mark.parametrize("role, items", [
    ("teacher", {"queue", "attendance", "figures", "figures-ledger", "catchment", "weekly", "notice", "archive"}),
    ("principal", {"queue", "attendance", "figures", "figures-ledger", "catchment", "ledgers", "weekly", "notice",
                   "archive"}),
    ("center_head", {"queue", "oversight", "figures", "figures-ledger", "catchment", "ledgers", "weekly", "notice",
                     "archive"}),
    ("supervisor", {"queue", "oversight", "figures", "figures-ledger", "catchment", "ledgers", "weekly", "notice",
                    "archive"}),
    ("liaison", {"queue", "liaison", "catchment"}),
])
def test_the_menu_reaches_every_page_the_role_may_open(role, items, world, login):
    client = login(world[role])
    html = client.get("/home/summary").get_data(as_text=True)
    shown = {name for name in NAV_LINKS if f'data-nav="{name}"' in html}
    assert shown == items
    for name in items:
        assert client.get(NAV_LINKS[name]).status_code == 200, name
    # on a phone the menu folds behind the toggler; the dropdowns need popper before bootstrap
    assert 'class="navbar-toggler"' in html and html.index("popper.min.js") < html.index("bootstrap.min.js")
