"""`make bench`: each figure of docs/performance.md, ours against the floor, on SQLite and PostgreSQL.

    python -m bench.run --scale county            # both databases, one worker process each
    python -m bench.run --scale county --db sqlite --worker   # one database, in this process

Each database is measured in its own process (a fresh "app worker", so its memory after the run
is that worker's), which writes bench/data/results-<scale>-<db>.json; the parent merges them into
bench/results.json ({figure: {db, ours_s, floor_s, ratio, target, ...}}, keyed "figure@db") and
prints the table. Times are medians (latencies: p95) of several runs. Everything the runs change
(the sweep's writes, transitions, imported registers, tokens) is put back afterwards, so the
data stay as generated.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from .common import DATA_DIR, ROOT, SCALES, SCHOOL_YEAR, SWEEP_DAY, Scale, db_url, pin_clock

RESULTS = ROOT / "bench" / "results.json"
IMPORT_FILES, IMPORT_ROWS = 12, 5000  # 60,000 register rows: 12 villages at the 5,000-row file limit


def median(xs):
    return statistics.median(xs) if xs else None


def p95(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))] if xs else None


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class Bench:
    def __init__(self, scale: Scale, db: str, quick: bool = False):
        from sqlalchemy import select

        from admin.app import create_app
        from admin.extensions import db as fdb
        from models import RoleAssignment, School

        pin_clock()
        self.scale, self.db, self.quick = scale, db, quick
        self.url = db_url(scale, db)
        uploads = DATA_DIR / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        self.app = create_app({"ENV_NAME": "production", "SECRET_KEY": "bench-only", "SQLALCHEMY_DATABASE_URI": self.url,
                               "UPLOAD_DIR": str(uploads), "SESSION_COOKIE_SECURE": False,
                               "WTF_CSRF_ENABLED": False, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
        self.fdb = fdb
        self.results: dict[str, dict] = {}
        with self.app.app_context():
            s = fdb.session
            self.engine = fdb.engine
            roles = s.execute(select(RoleAssignment.role, RoleAssignment.user_id, RoleAssignment.school_id)
                              .order_by(RoleAssignment.id)).all()
            self.by_role: dict[str, list[tuple[int, int]]] = {}
            for role, uid, sid in roles:
                self.by_role.setdefault(role, []).append((uid, sid))
            self.centers = list(s.scalars(select(School.id).where(School.kind == "center").order_by(School.id)))
            self.schools = list(s.scalars(select(School.id).where(School.kind != "county").order_by(School.id)))

    def raw(self):
        from .floors import Raw

        return Raw(self.engine)

    def record(self, figure: str, *, ours: float, floor: float | None, target: str, holds: bool, **extra) -> None:
        ratio = round(ours / floor, 2) if floor else None
        self.results[f"{figure}@{self.db}"] = {
            "figure": figure, "db": self.db, "scale": self.scale.name, "ours_s": round(ours, 5),
            "floor_s": round(floor, 5) if floor is not None else None, "ratio": ratio, "target": target,
            "holds": bool(holds), **extra}
        shown = f"{ours * 1000:.1f} ms" if ours < 10 else f"{ours:.1f} (value)"
        print(f"  {figure:<22} ours {shown:>12}  floor {floor * 1000 if floor else 0:.1f} ms  ratio {ratio}  "
              f"{'ok' if holds else 'MISS'}", flush=True)

    # --- snapshot / restore of what the write figures change --------------------------------------

    def snapshot(self) -> dict:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bench_open_cases"))
            conn.execute(text("CREATE TABLE bench_open_cases AS SELECT * FROM cases WHERE is_open = :t"), {"t": True})
            return {t: conn.scalar(text(f"SELECT coalesce(max(id), 0) FROM {t}"))
                    for t in ("cases", "case_history", "students", "enrolments")}

    def restore(self, marks: dict) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM case_history WHERE id > :m"), {"m": marks["case_history"]})
            conn.execute(text("DELETE FROM cases WHERE id > :m"), {"m": marks["cases"]})
            conn.execute(text(
                "UPDATE cases SET state = b.state, version = b.version, is_open = b.is_open, data = b.data, "
                "due_on = b.due_on, is_overdue = b.is_overdue, updated_at = b.updated_at "
                "FROM bench_open_cases b WHERE cases.id = b.id"))

    def drop_snapshot(self) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS bench_open_cases"))

    # --- tokens and logins ---------------------------------------------------------------------

    def tokens(self, user_ids: list[int]) -> dict[int, str]:
        from models import User
        from workflow.access.accounts import issue_token

        out = {}
        with self.app.app_context():
            s = self.fdb.session
            for uid in user_ids:
                out[uid], _ = issue_token(s, s.get(User, uid))
            s.commit()
        return out

    def sample(self, items: list, n: int) -> list:
        if len(items) <= n:
            return list(items)
        step = len(items) / n
        return [items[int(i * step)] for i in range(n)]

    # --- figures ---------------------------------------------------------------------------------

    def fig_queue(self) -> None:
        from . import floors

        offices = self.sample([(u, s) for u, s in self.by_role["academic_office"]], 20)
        offices = list({s: (u, s) for u, s in offices}.values())
        tokens = self.tokens([u for u, _ in offices])
        client = self.app.test_client()
        rounds = 3 if self.quick else 6
        ours, sizes = [], []
        for r in range(rounds + 1):
            for uid, _ in offices:
                t0 = time.perf_counter()
                resp = client.get("/api/v1/queue?limit=100", headers={"Authorization": f"Bearer {tokens[uid]}"})
                elapsed = time.perf_counter() - t0
                assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
                if r:
                    ours.append(elapsed)
                    sizes.append(resp.get_json()["total"])
        raw = self.raw()
        clauses = floors.queue_clauses()
        floor = []
        for r in range(rounds + 1):
            for uid, sid in offices:
                t0 = time.perf_counter()
                floors.queue(raw, tokens[uid], sid, clauses)
                if r:
                    floor.append(time.perf_counter() - t0)
        raw.close()
        o, f = p95(ours), p95(floor)
        self.record("queue_p95", ours=o, floor=f, target="p95 ≤ 30 ms, ratio ≤ 2",
                    holds=o <= 0.030 and o / f <= 2, median_ms=round(median(ours) * 1000, 2),
                    floor_median_ms=round(median(floor) * 1000, 2), requests=len(ours),
                    items_median=median(sizes), items_max=max(sizes))

    def login(self, client, user_id: int) -> None:
        # sessions are held server-side (workflow.access.accounts.start_session): open one
        from admin.views.auth import SESSION_ID_KEY
        from models import User
        from workflow.access.accounts import start_session

        with self.app.app_context():
            s = self.fdb.session
            sid = start_session(s, s.get(User, user_id))
            s.commit()
        with client.session_transaction() as sess:
            sess["_user_id"] = str(user_id)
            sess["_fresh"] = True
            sess[SESSION_ID_KEY] = sid

    def fig_oversight(self) -> None:
        from sqlalchemy import select

        from models import School

        from . import floors

        heads = self.sample(self.by_role["center_head"], 20)
        rounds = max(3, 60 // len(heads)) if not self.quick else 2
        with self.app.app_context():
            members = {c: list(self.fdb.session.scalars(select(School.id).where(School.center_id == c)))
                       for _, c in heads}
        ours, floor = [], []
        for uid, _center in heads:
            client = self.app.test_client()
            self.login(client, uid)
            for r in range(rounds + 1):
                t0 = time.perf_counter()
                resp = client.get("/oversight")
                elapsed = time.perf_counter() - t0
                assert resp.status_code == 200, resp.status_code
                if r:
                    ours.append(elapsed)
        raw = self.raw()
        for r in range(rounds + 1):
            for uid, center in heads:
                t0 = time.perf_counter()
                floors.oversight(raw, uid, members[center], SWEEP_DAY)
                if r:
                    floor.append(time.perf_counter() - t0)
        raw.close()
        o, f = p95(ours), p95(floor)
        self.record("oversight_center_p95", ours=o, floor=f, target="p95 ≤ 100 ms", holds=o <= 0.100,
                    median_ms=round(median(ours) * 1000, 2), requests=len(ours))
        # the county supervisor's roll-up of every center (no target in the issue; for scale)
        client = self.app.test_client()
        self.login(client, self.by_role["county_supervisor"][0][0])
        times = []
        for r in range(3 + 1):
            t0 = time.perf_counter()
            resp = client.get("/oversight")
            assert resp.status_code == 200, resp.status_code
            if r:
                times.append(time.perf_counter() - t0)
        raw = self.raw()
        ftimes = []
        for r in range(3 + 1):
            t0 = time.perf_counter()
            floors.oversight(raw, self.by_role["county_supervisor"][0][0], self.schools, SWEEP_DAY)
            if r:
                ftimes.append(time.perf_counter() - t0)
        raw.close()
        self.record("oversight_county", ours=median(times), floor=median(ftimes), target="(none; for scale)",
                    holds=True)

    def fig_class_figures(self) -> None:
        from models import User
        from workflow.access.scope import scope_for
        from workflow.figures.losses import class_figures

        from . import floors

        uid = self.by_role["county_supervisor"][0][0]
        runs = 3 if self.quick else 5
        ours, n = [], 0
        for r in range(runs + 1):
            with self.app.app_context():
                s = self.fdb.session
                t0 = time.perf_counter()
                scope = scope_for(s, s.get(User, uid))
                items = class_figures(s, scope, school_year=SCHOOL_YEAR, term=1)
                elapsed = time.perf_counter() - t0
                n = len(items)
                losses = sum(i["losses"] for i in items)
                s.rollback()
            if r:
                ours.append(elapsed)
        raw = self.raw()
        floor = []
        for r in range(runs + 1):
            t0 = time.perf_counter()
            floors.class_figures(raw, self.schools, SCHOOL_YEAR, 1)
            if r:
                floor.append(time.perf_counter() - t0)
        raw.close()
        o, f = median(ours), median(floor)
        self.record("class_figures_term", ours=o, floor=f, target="≤ 500 ms, ratio ≤ 2",
                    holds=o <= 0.5 and o / f <= 2, classes=n, losses=losses)

    def fig_sweep(self) -> None:
        from sqlalchemy import text

        from workflow.absence.sweep import run_sweep

        from . import floors

        runs = 1 if self.quick else 3
        marks = self.snapshot()
        ours, summaries, writes = [], [], None
        try:
            for _ in range(runs):
                with self.app.app_context():
                    s = self.fdb.session
                    t0 = time.perf_counter()
                    summary = run_sweep(s, date=SWEEP_DAY, commit=s.commit)
                    s.commit()
                    ours.append(time.perf_counter() - t0)
                    summaries.append(summary.as_dict() | {"schools": summary.schools, "skipped": summary.skipped})
                if writes is None:
                    writes = self.sweep_writes(marks)
                self.restore(marks)
            # the second run of a day finds nothing to do (idempotent): what that costs
            with self.app.app_context():
                s = self.fdb.session
                run_sweep(s, date=SWEEP_DAY, commit=s.commit)
                t0 = time.perf_counter()
                run_sweep(s, date=SWEEP_DAY, commit=s.commit)
                again = time.perf_counter() - t0
            self.restore(marks)
            floor = []
            for _ in range(runs):
                raw = self.raw()
                t0 = time.perf_counter()
                read = floors.sweep(raw, SWEEP_DAY, writes)
                floor.append(time.perf_counter() - t0)
                raw.close()
                self.restore(marks)
        finally:
            self.restore(marks)
            self.drop_snapshot()
        with self.engine.connect() as conn:
            open_absence = conn.scalar(text("SELECT count(*) FROM cases WHERE process = 'absence' AND is_open = :t"),
                                       {"t": True})
        o, f = median(ours), median(floor)
        self.record("sweep_county_day", ours=o, floor=f, target="≤ 1 s, ratio ≤ 2", holds=o <= 1.0 and o / f <= 2,
                    summary=summaries[0], rerun_s=round(again, 3), open_absence_cases=open_absence,
                    rows_written={k: len(v) for k, v in writes.items()}, floor_rows_read=read)

    def sweep_writes(self, marks: dict) -> dict:
        """What the sweep wrote, read back raw: new cases and history rows, changed cases."""
        raw = self.raw()
        cur = raw.conn.cursor()

        def rows(sql, params=()):
            cur.execute(raw.sql(sql), params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

        new_cases = rows("SELECT * FROM cases WHERE id > %s ORDER BY id", (marks["cases"],))
        new_history = rows("SELECT * FROM case_history WHERE id > %s ORDER BY id", (marks["case_history"],))
        before = {r["id"]: r for r in rows("SELECT * FROM bench_open_cases")}
        now = rows("SELECT * FROM cases WHERE id IN (SELECT id FROM bench_open_cases)")
        keys = ("state", "version", "is_open", "due_on", "is_overdue", "data")
        changed = [r for r in now if any(r[k] != before[r["id"]][k] for k in keys)]
        for r in changed:
            if isinstance(r["data"], str):
                r["data"] = json.loads(r["data"])
        for r in new_cases + new_history:
            for k, v in r.items():
                if isinstance(v, str) and k == "data":
                    r[k] = json.loads(v)
        raw.rollback()
        raw.close()
        return {"new_cases": new_cases, "new_history": new_history, "changed": changed}

    def transition_pool(self) -> tuple[list[int], dict[int, list[int]], int]:
        """Open transfer-ins of the first center school (the generator put 40 there), the classes
        each may move between, and that school's academic-office users."""
        from sqlalchemy import select

        from models import Case, SchoolClass

        school = self.schools[0]
        with self.app.app_context():
            s = self.fdb.session
            cases = list(s.scalars(select(Case.id).where(Case.school_id == school, Case.process == "transfer_in",
                                                         Case.state == "submitted").order_by(Case.id)))
            classes = list(s.scalars(select(SchoolClass.id).where(SchoolClass.school_id == school)
                                     .order_by(SchoolClass.id)))
        users = [u for u, sid in self.by_role["academic_office"] if sid == school]
        return cases, classes, users

    def fig_transitions(self) -> None:
        from sqlalchemy import text

        from models import Case, User
        from workflow.access.scope import scope_for
        from workflow.cases import engine
        from workflow.errors import Conflict

        from . import floors

        cases, classes, users = self.transition_pool()
        per_client = 60 if self.quick else 150
        marks = self.snapshot()
        clients = [1, 4] if self.db == "postgresql" else [1]

        def ours_client(k: int, n: int, out: list) -> None:
            import random

            rng = random.Random(k)
            done = conflicts = 0
            uid = users[k % len(users)]
            with self.app.app_context():
                while done < n:
                    s = self.fdb.session
                    cid = rng.choice(cases)
                    try:
                        user = s.get(User, uid)
                        scope = scope_for(s, user)
                        version = s.get(Case, cid).version
                        engine.fire(s, scope, user, cid, "change_class", version=version,
                                    data={"class_id": classes[(done + k) % len(classes)]})
                        s.commit()
                        done += 1
                    except Conflict:
                        s.rollback()
                        conflicts += 1
                    finally:
                        self.fdb.session.remove()
            out.append((done, conflicts))

        def raw_client(transition):
            """A client firing `transition` (a floor in bench/floors.py) on the raw connection."""

            def client(k: int, n: int, out: list) -> None:
                import random

                rng = random.Random(k)
                raw = self.raw()
                done = conflicts = 0
                while done < n:
                    cid = rng.choice(cases)
                    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
                    if transition(raw, cid, users[k % len(users)], classes[(done + k) % len(classes)],
                                  now, SWEEP_DAY):
                        done += 1
                    else:
                        conflicts += 1
                raw.close()
                out.append((done, conflicts))

            return client

        floor_client = raw_client(floors.transition)
        authz_floor_client = raw_client(floors.transition_authorized)

        def run(fn, n_clients: int) -> tuple[float, int, int]:
            out: list = []
            threads = [threading.Thread(target=fn, args=(k, per_client, out)) for k in range(n_clients)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
            return elapsed, sum(d for d, _ in out), sum(c for _, c in out)

        def lost_updates(before: dict) -> int:
            """Cases whose version moved by other than the number of history rows written for them."""
            with self.engine.connect() as conn:
                after = dict(conn.execute(text(f"SELECT id, version FROM cases WHERE id IN ({', '.join(map(str, cases))})")).all())
                rows = dict(conn.execute(text("SELECT case_id, count(*) FROM case_history WHERE id > :m "
                                              "GROUP BY case_id"), {"m": marks["case_history"]}).all())
            return sum(1 for c in cases if after[c] - before[c] != rows.get(c, 0))

        try:
            for n_clients in clients:
                with self.engine.connect() as conn:
                    before = dict(conn.execute(text(f"SELECT id, version FROM cases WHERE id IN ({', '.join(map(str, cases))})")).all())
                if n_clients == 1:
                    run(ours_client, 1)  # warm-up (imports, caches)
                self.restore(marks)
                elapsed, done, conflicts = run(ours_client, n_clients)
                lost = lost_updates(before)
                self.restore(marks)
                f_elapsed, f_done, f_conflicts = run(floor_client, n_clients)
                f_lost = lost_updates(before)
                self.restore(marks)
                # information only (not the target): the floor plus the authorisation reads
                a_elapsed, a_done, _ = run(authz_floor_client, n_clients)
                self.restore(marks)
                ours_rate, floor_rate = done / elapsed, f_done / f_elapsed
                self.record(f"transition_{n_clients}_client{'s' if n_clients > 1 else ''}",
                            ours=1 / ours_rate, floor=1 / floor_rate,
                            target="rate ≥ 50% of floor's, no lost update",
                            holds=ours_rate >= 0.5 * floor_rate and lost == 0,
                            ours_per_s=round(ours_rate, 1), floor_per_s=round(floor_rate, 1), transitions=done,
                            authz_floor_per_s=round(a_done / a_elapsed, 1),
                            conflicts_retried=conflicts, floor_conflicts=f_conflicts, lost_updates=lost,
                            floor_lost_updates=f_lost)
        finally:
            self.restore(marks)
            self.drop_snapshot()

    def import_files(self) -> list[tuple[int, bytes]]:
        """12 village registers of 5,000 rows (cached in bench/data/catchment/)."""
        import random

        from openpyxl import Workbook
        from sqlalchemy import select

        from models import Village
        from workflow.org.services import id_card_check_char
        from workflow.registers.catchment import COLUMNS

        with self.app.app_context():
            villages = list(self.fdb.session.execute(select(Village.id, Village.name)
                                                     .where(Village.name.like("基准%")).order_by(Village.id)))
        folder = DATA_DIR / "catchment"
        folder.mkdir(parents=True, exist_ok=True)
        out = []
        for n, (vid, vname) in enumerate(villages[:IMPORT_FILES]):
            path = folder / f"register-{n + 1:02d}.xlsx"
            if not path.exists():
                rng = random.Random(1000 + n)
                wb = Workbook(write_only=True)
                ws = wb.create_sheet("登记表")
                ws.append([h for _, h in COLUMNS])
                seq: dict[dt.date, int] = {}
                for i in range(IMPORT_ROWS):
                    birth = dt.date(2011, 9, 1) + dt.timedelta(days=rng.randrange(3300))
                    seq[birth] = seq.get(birth, 0) + 1
                    body = f"53{n + 10:02d}01" + birth.strftime("%Y%m%d") + f"{seq[birth]:03d}"
                    card = body + id_card_check_char(body)
                    status = rng.choices(("本学区就读", "外地就读", "缓学", "未就读"), (90, 7, 2, 1))[0]
                    ws.append([vname, f"儿童{n}-{i}", rng.choice(("男", "女")), birth.isoformat(), card,
                               rng.choice(("本地户籍", "外地户籍")), status,
                               "外县实验小学" if status == "外地就读" else None, None])
                buf = io.BytesIO()
                wb.save(buf)
                path.write_bytes(buf.getvalue())
            out.append((vid, path.read_bytes()))
        return out

    def fig_import(self) -> None:
        from openpyxl import load_workbook
        from sqlalchemy import delete

        from models import CatchmentChild, User
        from workflow.access.scope import scope_for
        from workflow.registers.catchment import import_register

        files = self.import_files()
        village_ids = [v for v, _ in files]
        uid = next(u for u, s in self.by_role["academic_office"] if s == self.centers[0])
        runs = 1 if self.quick else 3

        def clear():
            with self.app.app_context():
                self.fdb.session.execute(delete(CatchmentChild).where(CatchmentChild.village_id.in_(village_ids)))
                self.fdb.session.commit()

        clear()
        ours, rows = [], 0
        try:
            for _ in range(runs):
                t0 = time.perf_counter()
                rows = 0
                for vid, data in files:
                    with self.app.app_context():
                        s = self.fdb.session
                        result = import_register(s, scope_for(s, s.get(User, uid)), s.get(User, uid), vid, data)
                        s.commit()
                        rows += result.created
                ours.append(time.perf_counter() - t0)
                clear()
        finally:
            clear()
        floor = []
        for _ in range(runs):
            t0 = time.perf_counter()
            n = 0
            for _vid, data in files:
                wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
                for _row in wb.worksheets[0].iter_rows(values_only=True):
                    n += 1
                wb.close()
            floor.append(time.perf_counter() - t0)
        o, f = median(ours), median(floor)
        self.record("catchment_import_60k", ours=o, floor=f, target="≤ 2 × openpyxl read-only parse",
                    holds=o / f <= 2, rows=rows, files=len(files))

    def fig_suspension(self) -> None:
        """issue 16's suspension workload (bench/suspension.py) in its own scratch database: N cases
        × 4 transitions through the API, one client (and four on PostgreSQL), against its floor."""
        from . import suspension

        n = 200 if self.quick else suspension.DEFAULT_N
        for clients in (1, 4) if self.db == "postgresql" else (1,):
            r = suspension.measure(self.db, n, clients)
            print(suspension.report(r), flush=True)
            ours, floor = r["ours"], r["floor"]
            self.record(f"suspension_{clients}_client{'s' if clients > 1 else ''}", ours=1 / ours["per_s"],
                        floor=1 / floor["per_s"], holds=r["holds"],
                        target=f"rate ≥ {r['rate_target']}× floor's, CPU ≤ {r['cpu_target_ms']} ms/transition",
                        ours_per_s=round(ours["per_s"], 1), floor_per_s=round(floor["per_s"], 1),
                        cpu_ms=round(ours["cpu_ms"], 3), floor_cpu_ms=round(floor["cpu_ms"], 3),
                        rate_ratio=round(r["rate_ratio"], 3), transitions=r["transitions"],
                        round_trips={s: v["round_trips"] for s, v in r["probe"]["statements"].items()},
                        problems=ours["problems"] + floor["problems"])

    def fig_memory(self) -> None:
        gc.collect()
        now, peak = rss_mb()
        self.results[f"worker_rss_mb@{self.db}"] = {
            "figure": "worker_rss_mb", "db": self.db, "scale": self.scale.name, "ours_s": None, "floor_s": None,
            "ratio": None, "target": "≤ 200 MB RSS after the run", "holds": now <= 200, "rss_mb": round(now, 1),
            "peak_rss_mb": round(peak, 1)}
        print(f"  worker RSS {now:.0f} MB (peak {peak:.0f} MB)", flush=True)

    def cleanup(self) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM api_tokens"))


FIGURES = ("queue", "oversight", "class_figures", "sweep", "transitions", "import", "suspension")


def worker(scale: Scale, db: str, only: list[str] | None, quick: bool) -> dict:
    bench = Bench(scale, db, quick)
    print(f"{scale.name} on {db}:", flush=True)
    try:
        for name in FIGURES:
            if only and name not in only:
                continue
            t0 = time.perf_counter()
            getattr(bench, f"fig_{name}")()
            print(f"    ({name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        bench.cleanup()
    bench.fig_memory()
    return bench.results


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return {"nproc": os.cpu_count(), "cpu": model, "mem_mb": mem, "python": platform.python_version(),
            "loadavg_start": os.getloadavg()}


def table(results: dict) -> str:
    lines = [f"{'figure':<24}{'db':<11}{'ours':>11}{'floor':>11}{'ratio':>7}  {'target':<40}{'holds':>6}"]
    for key in sorted(results, key=lambda k: (results[k]["figure"], results[k]["db"])):
        r = results[key]
        if r["figure"] == "worker_rss_mb":
            ours, floor = f"{r['rss_mb']:.0f} MB", "-"
        else:
            ours = f"{r['ours_s'] * 1000:.1f} ms" if r["ours_s"] < 10 else f"{r['ours_s']:.1f} s"
            floor = f"{r['floor_s'] * 1000:.1f} ms" if r["floor_s"] else "-"
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        lines.append(f"{r['figure']:<24}{r['db']:<11}{ours:>11}{floor:>11}{ratio:>7}  {r['target']:<40}"
                     f"{'yes' if r['holds'] else 'NO':>6}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Baoxue benchmarks")
    ap.add_argument("--scale", default="county", choices=sorted(SCALES))
    ap.add_argument("--db", action="append", choices=("sqlite", "postgresql"))
    ap.add_argument("--only", action="append", choices=FIGURES)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    scale = SCALES[args.scale]
    dbs = args.db or ["sqlite", "postgresql"]
    if args.worker:
        results = worker(scale, dbs[0], args.only, args.quick)
        (DATA_DIR / f"results-{scale.name}-{dbs[0]}.json").write_text(json.dumps(results, indent=1, default=str))
        return 0
    merged: dict = {}
    info = machine()
    for db in dbs:
        cmd = [sys.executable, "-m", "bench.run", "--scale", scale.name, "--db", db, "--worker"]
        cmd += [f"--only={o}" for o in args.only or []] + (["--quick"] if args.quick else [])
        started = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True)
        print(f"  ({db}: {time.perf_counter() - started:.0f} s)", flush=True)
        merged.update(json.loads((DATA_DIR / f"results-{scale.name}-{db}.json").read_text()))
    info["loadavg_end"] = os.getloadavg()
    out = {**merged, "_run": {"scale": scale.name, "machine": info, "at": dt.datetime.now(dt.UTC).isoformat()}}
    RESULTS.write_text(json.dumps(out, indent=1, ensure_ascii=False, default=str))
    (DATA_DIR / f"results-{scale.name}.json").write_text(json.dumps(out, indent=1, ensure_ascii=False, default=str))
    print()
    print(table(merged))
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
