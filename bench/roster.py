"""The roster import of issue 13: one .xlsx of N rows (default 5,000) checked and imported into an
empty school, against openpyxl's read-only parse of the same file alone.

    python -m bench.roster                  # 5,000 rows, SQLite in memory
    python -m bench.roster --rows 500       # smaller
    python -m bench.roster --db postgresql+psycopg://root@127.0.0.1:5432/bench_roster

It prints three times and the ratio import / parse: the parse alone (openpyxl `read_only`, every
cell value read, nothing else), the whole-file check (`workflow/schoolyear/roster.py:check_roster`,
mode `check`: nothing written), and the import (`import_roster`, mode `all`: one flush of the new
students, guardians and enrolments), then a second import of the same file (everything
`unchanged`, nothing written). The database is a scratch one (SQLite in memory by default; a
PostgreSQL URL names a database whose tables are dropped and rebuilt, never `test`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import time

from openpyxl import Workbook, load_workbook
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from models import Base, RoleAssignment, School, SchoolClass, User, Village
from workflow import clock
from workflow.access.scope import scope_for
from workflow.org.services import id_card_check_char
from workflow.schoolyear import roster

YEAR = "2026-2027"
GRADE_WORDS = "一二三四五六七八九"


def build_file(rows: int) -> bytes:
    """A roster of `rows` children over 9 grades × 4 classes, 5 villages, valid ID numbers."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append([h for _k, h in roster.COLUMNS])
    for n in range(rows):
        grade = n % 9 + 1
        birth = dt.date(2026 - 6 - grade, 1 + n % 12, 1 + n % 28)
        first17 = f"433127{birth:%Y%m%d}{n % 1000:03d}"
        ws.append([f"学生{n}", "男" if n % 2 else "女", birth.isoformat(), first17 + id_card_check_char(first17),
                   f"G{n:010d}", grade, f"{GRADE_WORDS[grade - 1]}年级{n % 4 + 1}班", "2026-09-01",
                   f"村{n % 5}", f"家长{n}", "父亲", "13800000000", "留守儿童" if n % 3 == 0 else ""])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def build_school(session: Session) -> tuple[School, User]:
    center = School(name="基准中心校", kind="center", level="nine_year")
    session.add(center)
    session.flush()
    center.place_in_tree(None)
    for v in range(5):
        session.add(Village(name=f"村{v}", center_school_id=center.id))
    for grade in range(1, 10):
        for k in range(1, 5):
            session.add(SchoolClass(school_id=center.id, school_year=YEAR, grade=grade,
                                    name=f"{GRADE_WORDS[grade - 1]}年级{k}班"))
    office = User(username="bench-office", name="教导处", is_active=True)
    office.set_password("bench-pass-1")
    office.roles.append(RoleAssignment(role="academic_office", school_id=center.id))
    session.add(office)
    session.flush()
    return center, office


def parse_only(data: bytes) -> int:
    """openpyxl's read-only parse, every value read: the floor of any .xlsx import."""
    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    n = sum(1 for _row in wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    return n


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--db", default="sqlite://")
    args = parser.parse_args(argv)
    if args.db.rstrip("/").endswith("/test"):
        raise SystemExit("refusing to use the database `test`")
    data = build_file(args.rows)
    engine = create_engine(args.db)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    today = dt.date(2026, 10, 14)
    clock_today = clock.today
    clock.today = lambda: today
    try:
        with Session(engine) as session:
            school, office = build_school(session)
            session.commit()
            scope = scope_for(session, office)
            t0 = time.perf_counter()
            parse_only(data)
            t_parse = time.perf_counter() - t0
            t0 = time.perf_counter()
            checked = roster.import_roster(session, scope, office, school.id, YEAR, data, mode="check", today=today)
            t_check = time.perf_counter() - t0
            assert not checked.check.errors, checked.check.errors[:3]
            t0 = time.perf_counter()
            done = roster.import_roster(session, scope, office, school.id, YEAR, data, mode="all", today=today)
            session.commit()
            t_import = time.perf_counter() - t0
            t0 = time.perf_counter()
            again = roster.import_roster(session, scope, office, school.id, YEAR, data, mode="all", today=today)
            session.commit()
            t_again = time.perf_counter() - t0
    finally:
        clock.today = clock_today
    print(f"rows: {args.rows} ({len(data) // 1024} KB), database: {engine.dialect.name}")
    print(f"openpyxl read-only parse alone: {t_parse:7.2f} s")
    print(f"check (mode check, no writes):  {t_check:7.2f} s  ratio {t_check / t_parse:5.1f}x")
    print(f"import (mode all, created {done.created}): {t_import:7.2f} s  ratio {t_import / t_parse:5.1f}x")
    print(f"re-import (unchanged {again.unchanged}):   {t_again:7.2f} s  ratio {t_again / t_parse:5.1f}x")


if __name__ == "__main__":
    main()
