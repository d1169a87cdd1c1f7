"""Exam scores: .xlsx import checked as a whole, and accounting where a child lost from the
second week of term counts as a zero (SPEC §4 "Exam accounting")."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from models import ExamScore
from tests.workflow.test_figures import YEAR, Drive
from workflow.access.scope import scope_for
from workflow.errors import Forbidden, Invalid, NotFound
from workflow.figures import exams


def xlsx(rows, header=("学籍号", "姓名", "科目", "分数")) -> bytes:
    wb = Workbook()
    ws = wb.active
    if header:
        ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.fixture
def drive(session, factory, world, flow):
    return Drive(session, factory, world, flow)


@pytest.fixture
def pupils(drive, world):
    kids = drive.students(world.klass, 4)
    for i, kid in enumerate(kids):
        kid.name = ["张三", "李四", "王五", "赵六"][i]
        kid.student_no = f"G{i + 1:04d}"
    drive.s.commit()
    return kids


def run(session, world, who, data, **kw):
    user = world[who] if isinstance(who, str) else who
    kw.setdefault("class_id", world.klass.id)
    kw.setdefault("school_year", YEAR)
    kw.setdefault("term", 1)
    try:
        out = exams.import_scores(session, scope_for(session, user), user, data=data, **kw)
    except Exception:
        session.rollback()
        raise
    session.commit()
    return out


def stored(session):
    return {(s.student_id, s.subject): s.score for s in session.scalars(select(ExamScore))}


def test_clean_file_imports_every_row_by_number_or_name(session, world, pupils):
    data = xlsx([("G0001", "", "语文", 92), ("", "李四", "语文", "75.5"), ("G0003", "王五", "数学", 60)])
    result = run(session, world, "teacher", data)
    assert (result.imported, result.updated, result.errors) == (3, 0, [])
    assert stored(session) == {(pupils[0].id, "语文"): Decimal("92.00"), (pupils[1].id, "语文"): Decimal("75.50"),
                               (pupils[2].id, "数学"): Decimal("60.00")}


def test_bad_rows_are_all_reported_by_number_and_nothing_is_written(session, world, pupils):
    data = xlsx([
        ("G0001", "张三", "语文", 88),        # row 2: fine
        ("G9999", "", "语文", 70),            # row 3: unknown student
        ("", "李四", "语文", "八十"),          # row 4: not a number
        ("", "王五", "语文", 101),            # row 5: above 100
        ("", "", "语文", 66),                 # row 6: no student at all
        ("", "钱七", "语文", 50),             # row 7: no such name in the class
    ])
    with pytest.raises(Invalid) as err:
        run(session, world, "teacher", data)
    assert err.value.code == "invalid_rows"
    rows = {e["row"]: e["reason"] for e in err.value.details["errors"]}
    assert sorted(rows) == [3, 4, 5, 6, 7]
    assert "G9999" in rows[3] and "不是本班学生" in rows[3]
    assert "不是数字" in rows[4]
    assert "0–100" in rows[5]
    assert "为空" in rows[6]
    assert "钱七" in rows[7]
    assert session.scalar(select(func.count()).select_from(ExamScore)) == 0


def test_empty_name_is_a_bad_row_when_the_file_identifies_students_by_name(session, world, pupils):
    data = xlsx([("张三", 80), ("", 70)], header=("姓名", "分数"))
    with pytest.raises(Invalid) as err:
        run(session, world, "teacher", data, subject="语文")
    assert err.value.details["errors"] == [{"row": 3, "reason": "姓名为空"}]


def test_only_valid_writes_the_good_rows_and_returns_the_bad_ones(session, world, pupils):
    data = xlsx([("G0001", "", "语文", 88), ("G0002", "", "语文", "abc"), ("G0002", "", "数学", 95)])
    result = run(session, world, "office", data, only_valid=True)
    assert result.imported == 2 and [e.row for e in result.errors] == [3]
    assert stored(session) == {(pupils[0].id, "语文"): Decimal("88.00"), (pupils[1].id, "数学"): Decimal("95.00")}


def test_duplicate_rows_and_mismatched_name_are_reported(session, world, pupils):
    data = xlsx([("G0001", "", "语文", 88), ("G0001", "", "语文", 90), ("G0002", "张三", "语文", 70)])
    with pytest.raises(Invalid) as err:
        run(session, world, "teacher", data)
    reasons = {e["row"]: e["reason"] for e in err.value.details["errors"]}
    assert "第 2 行重复" in reasons[3] and "不符" in reasons[4]


def test_reimport_replaces_the_score(session, world, pupils):
    run(session, world, "teacher", xlsx([("G0001", "", "语文", 50)]))
    result = run(session, world, "teacher", xlsx([("G0001", "", "语文", 65)]))
    assert (result.imported, result.updated) == (0, 1)
    assert stored(session) == {(pupils[0].id, "语文"): Decimal("65.00")}


@pytest.mark.parametrize("payload", [b"just some text", b"%PDF-1.4 not a workbook", b"PK\x03\x04broken zip"])
def test_a_file_that_is_not_xlsx_is_refused(session, world, pupils, payload):
    with pytest.raises(Invalid) as err:
        run(session, world, "teacher", payload)
    assert err.value.details["field"] == "file"


def test_missing_columns_are_named(session, world, pupils):
    with pytest.raises(Invalid) as err:
        run(session, world, "teacher", xlsx([("张三", 80)], header=("姓名", "成绩")))
    assert err.value.details["missing_columns"] == ["分数", "科目"]


def test_who_may_import(session, world, pupils):
    data = xlsx([("G0001", "", "语文", 88)])
    with pytest.raises(Forbidden):
        run(session, world, "team", data)
    with pytest.raises(NotFound):
        run(session, world, "other_teacher", data)
    assert run(session, world, "subject", data).imported == 1


def test_lost_student_counts_as_zero_even_without_a_score(drive, session, world, pupils):
    # 张三 90, 李四 80, 王五 50, 赵六 70; 赵六 lost in week 7, a fifth child lost in week 3 with no score
    absent = drive.students(world.klass, 1)[0]
    run(session, world, "teacher", xlsx([("G0001", "", "语文", 90), ("G0002", "", "语文", 80),
                                         ("G0003", "", "语文", 50), ("G0004", "", "语文", 70)]))
    drive.dropout(pupils[3], dt.date(2026, 10, 14))
    drive.dropout(absent, dt.date(2026, 9, 16))
    stats = exams.class_exam_stats(session, scope_for(session, world["teacher"]), class_id=world.klass.id,
                                   school_year=YEAR, term=1)
    chinese = stats["subjects"][0]
    assert chinese["raw"] == {"count": 4, "average": Decimal("72.50"), "pass_rate": Decimal("0.7500"),
                              "excellent_rate": Decimal("0.2500")}
    # (90 + 80 + 50 + 0 + 0) / 5
    assert chinese["accounted"] == {"count": 5, "average": Decimal("44.00"), "pass_rate": Decimal("0.4000"),
                                    "excellent_rate": Decimal("0.2000")}
    assert chinese["zeroed_student_ids"] == sorted([pupils[3].id, absent.id])
    assert stats["lost_from"] == dt.date(2026, 9, 8)


def test_child_lost_in_the_first_week_or_back_by_term_end_is_not_zeroed(drive, session, world, pupils):
    run(session, world, "teacher", xlsx([("G0001", "", "语文", 90), ("G0002", "", "语文", 80)]))
    drive.dropout(pupils[0], dt.date(2026, 9, 4))   # first week
    drive.dropout(pupils[1], dt.date(2026, 10, 9))
    drive.mark_returned(pupils[1], dt.date(2026, 11, 2))
    stats = exams.class_exam_stats(session, scope_for(session, world["office"]), class_id=world.klass.id,
                                   school_year=YEAR, term=1)
    chinese = stats["subjects"][0]
    assert chinese["accounted"] == chinese["raw"]
    assert chinese["zeroed_student_ids"] == []
