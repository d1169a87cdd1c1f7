"""What the generator and the runner share: scales, databases, the fixed calendar of the data.

The data are anchored to fixed dates (term 1 of 2026-2027, swept for Friday 2026-11-20), and the
runner pins `workflow.clock.today` to that day, so every run sees the same due dates and the
same overdue flags whatever the machine's date.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "bench" / "data"
SEED = 20261120
GENERATOR_VERSION = 3  # bump when the generated data change, so `make bench` reloads them

SCHOOL_YEAR = "2026-2027"
TERM_START = dt.date(2026, 9, 1)
TERM_END = dt.date(2027, 1, 22)
SWEEP_DAY = dt.date(2026, 11, 20)  # a Friday: the sweep of this day is the benchmark
HOLIDAYS = [dt.date(2026, 10, d) for d in range(1, 8)]  # National Day week
WORKDAYS = [dt.date(2026, 9, 27), dt.date(2026, 10, 10)]  # 调休 make-up days (Sun, Sat)
PASSWORD = "bench-pass-1"


@dataclass(frozen=True)
class Scale:
    name: str
    centers: int
    schools_per_center: int  # the center school itself and its branches
    students: int
    cases: int
    pg_database: str


SCALES = {
    "township": Scale("township", 1, 9, 3_000, 5_000, "bench_small"),
    "county": Scale("county", 20, 9, 60_000, 100_000, "bench"),
}


def pg_url(scale: Scale) -> str:
    base = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432")
    return f"{base.rstrip('/')}/{scale.pg_database}"


def sqlite_path(scale: Scale) -> Path:
    return DATA_DIR / f"bench-{scale.name}.db"


def db_url(scale: Scale, db: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{sqlite_path(scale)}"
    if db == "postgresql":
        return pg_url(scale)
    raise SystemExit(f"unknown database {db!r} (sqlite or postgresql)")


def stamp_path(scale: Scale, db: str) -> Path:
    return DATA_DIR / f"stamp-{db}-{scale.name}.json"


def ensure_pg_database(scale: Scale) -> None:
    """CREATE DATABASE for the scale if it does not exist (connects to the `postgres` db)."""
    import psycopg

    base = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432")
    dsn = base.replace("postgresql+psycopg://", "postgresql://").rstrip("/") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (scale.pg_database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{scale.pg_database}"')


def school_days() -> list[dt.date]:
    """The term's school days up to and including the sweep day."""
    out, day = [], TERM_START
    while day <= SWEEP_DAY:
        if day in WORKDAYS or (day.weekday() < 5 and day not in HOLIDAYS):
            out.append(day)
        day += dt.timedelta(days=1)
    return out


def pin_clock() -> None:
    """Make `workflow.clock.today()` the sweep day for this process (see the module docstring)."""
    from workflow import clock

    clock.today = lambda: SWEEP_DAY
