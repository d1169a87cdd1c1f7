"""The suspension workload of issue 16: N 休学 cases × 4 transitions, each a fresh API request.

    python -m bench.suspension --db sqlite --n 2000                 # one client
    python -m bench.suspension --db postgresql --n 2000             # one and four clients
    python -m bench.suspension --db postgresql --n 500 --clients 4 --profile

Each case goes `draft → submitted → office_approved → approved → suspended`: `submit` by the
class's homeroom teacher, `office_approve` by the school's academic office, `principal_approve` by
its principal, `center_file` by the center school's office: four different users, each transition
a `POST /api/v1/cases/{id}/transitions/{name}` through the real app (Flask test client, bearer
token: authenticate, scope, fire, commit at the request boundary), with the version the previous
answer gave. The evidence `submit` needs is in place before the run (a visit with the guardian in
person at school, a `suspension_grounds` document), as a teacher would have left it. The phases
run one after another (every case submitted, then every case approved by the office, ...); with
four clients each thread takes every fourth case, over its own connection.

The floor (`floor_fire`) does the same work in hand-written SQL on the raw DB-API connection of
the same engine, one transaction per transition: the token's user; the case with, in the same
statement, the role check (the user holds the transition's role for this case: the student's
class, the case's school, or its center), the evidence (`submit`: the in-person visit and the
grounds document; `office_approve`: the submitter is not the approver) and the student's status;
the version-checked `UPDATE`; the history `INSERT`; for `center_file` the student's status and
the closed enrolment; commit.

Afterwards both are verified: every case `suspended`, exactly one history row per transition
(by four different users), every student suspended with no open enrolment.

The data are built into a scratch database (SQLite: suspension.db in /dev/shm; PostgreSQL: the
database `--pg-database`, default `bench_suspension`, whose schema is dropped and rebuilt, with
`synchronous_commit = off` for that database only), never `test` nor the county data. Commits do
not wait for the disk, so that the figure measures the engine and not the shared disk's fsync
(~10 ms per flush on this machine under load, which made both rates the disk's, ours and the
floor alike); `--durable` keeps the SQLite file in bench/data and the server's setting.
`workflow.clock.today()` is pinned to the benchmark's sweep day.

Before the timed run ten probe cases go through the four transitions with every statement the
database receives recorded (`WireLog`; `--sql` prints the list of one request per transition);
with `--profile` 90 more `office_approve` requests run under cProfile (the time per package and
the top functions printed, the stats saved to bench/data/). Results go to
bench/data/suspension-<db>-<clients>.json; `make bench` records them as `suspension_*` figures.
"""
from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import hashlib
import io
import json
import os
import pstats
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import DATA_DIR, SWEEP_DAY, pin_clock

DEFAULT_N = 2000
CLASS_SIZE = 40  # students per class, each class with its own homeroom teacher
STEPS = ("submit", "office_approve", "principal_approve", "center_file")
# (source state, target state, role) of each step, as workflow/processes/suspension.py defines them
STEP = {
    "submit": ("draft", "submitted", "homeroom_teacher"),
    "office_approve": ("submitted", "office_approved", "academic_office"),
    "principal_approve": ("office_approved", "approved", "principal"),
    "center_file": ("approved", "suspended", "center_office"),
}
# issue 16's targets: client CPU per transition (ms) and the rate as a share of the floor's
CPU_TARGET_MS = {"sqlite": 0.4, "postgresql": 0.5}
RATE_TARGET = {("sqlite", 1): 0.35, ("postgresql", 1): 0.6, ("postgresql", 4): 0.45}
CASE_DATA = {"start": SWEEP_DAY.isoformat(), "end": (SWEEP_DAY + dt.timedelta(days=120)).isoformat(),
             "reason": "住院治疗"}
REFUSED_DATABASES = {"test", "postgres", "bench", "bench_small"}  # CI's, the server's, the county data
RAM_DIR = Path("/dev/shm") if Path("/dev/shm").is_dir() else DATA_DIR


def sqlite_file(durable: bool) -> Path:
    return (DATA_DIR if durable else RAM_DIR) / "suspension.db"


def scratch_url(db: str, pg_database: str, durable: bool = False) -> str:
    if db == "sqlite":
        return f"sqlite:///{sqlite_file(durable)}"
    if pg_database in REFUSED_DATABASES:
        raise SystemExit(f"refusing to rebuild the database {pg_database!r}: name a scratch database")
    base = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432")
    return f"{base.rstrip('/')}/{pg_database}"


def reset_database(db: str, pg_database: str, durable: bool = False) -> None:
    """An empty scratch database: the SQLite file removed, or the PostgreSQL database created if
    missing, its `public` schema dropped and recreated (tables of older model versions too) and
    its `synchronous_commit` off unless `durable` (see the module docstring)."""
    if db == "sqlite":
        target = sqlite_file(durable)
        target.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-journal", "-wal", "-shm"):
            path = target.with_name(target.name + suffix)
            if path.exists():
                path.unlink()
        return
    import psycopg

    base = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432")
    server = base.replace("postgresql+psycopg://", "postgresql://").rstrip("/")
    with psycopg.connect(server + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (pg_database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{pg_database}"')
        conn.execute(f'ALTER DATABASE "{pg_database}" ' + ("RESET synchronous_commit" if durable
                                                           else "SET synchronous_commit = off"))
    with psycopg.connect(f"{server}/{pg_database}", autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def make_app(url: str):
    """The app as `bench.run` configures it (production settings, fast password hashing)."""
    from admin.app import create_app

    uploads = DATA_DIR / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    return create_app({"ENV_NAME": "production", "SECRET_KEY": "bench-only", "SQLALCHEMY_DATABASE_URI": url,
                       "UPLOAD_DIR": str(uploads), "SESSION_COOKIE_SECURE": False, "WTF_CSRF_ENABLED": False,
                       "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})


# --- the data ------------------------------------------------------------------------------------


@dataclass
class Township:
    """What the runs need from the built data: the case sets, who acts on each case, tokens."""

    sets: dict[str, list[int]]  # "ours", "floor", "probe" -> case ids in order
    actor: dict[tuple[str, int], int] = field(default_factory=dict)  # (step, case id) -> user id
    tokens: dict[tuple[int, int], str] = field(default_factory=dict)  # (client, user id) -> token


def build(app, sizes: dict[str, int], clients: int) -> Township:
    """One center school with one branch school (academic office, principal; the center's
    office) and classes of CLASS_SIZE students, each class with its homeroom teacher; a draft
    suspension case per student, opened by the teacher through the engine, with the evidence
    `submit` needs; a bearer token per client and user. Commits."""
    from admin.extensions import db
    from models import Base, Document, Enrolment, Student, Visit, VisitParticipant
    from tests.factories import Factory
    from workflow.access.accounts import issue_token
    from workflow.access.scope import scope_for
    from workflow.cases import engine

    with app.app_context():
        Base.metadata.create_all(db.engine)
        s = db.session
        f = Factory(s)
        county = f.school("基准县教育局", "county")
        center = f.school("基准镇中心校", "center", county)
        school = f.school("基准村小", "branch", center)
        office = f.user("office", "academic_office", school=school)
        principal = f.user("principal", "principal", school=school)
        center_office = f.user("center_office", "center_office", school=center)
        town = Township(sets={})
        users = [office, principal, center_office]
        n_class = 0
        doc_seq = 0
        for name, size in sizes.items():
            ids: list[int] = []
            while len(ids) < size:
                n_class += 1
                grade = 1 + n_class % 6
                klass = f.klass(school, grade, f"{grade}年级{n_class}班")
                teacher = f.user(f"teacher{n_class}", "homeroom_teacher", klass=klass)
                users.append(teacher)
                students = [Student(name=f"学生{n_class}-{i}", gender="MF"[i % 2], birth_date=dt.date(2016, 5, 1),
                                    school_id=school.id, class_id=klass.id, status="active")
                            for i in range(min(CLASS_SIZE, size - len(ids)))]
                s.add_all(students)
                s.flush()
                s.add_all([Enrolment(student_id=st.id, school_id=school.id, class_id=klass.id,
                                     start_date=dt.date(2026, 9, 1), start_reason="enrol") for st in students])
                scope = scope_for(s, teacher)
                for st in students:
                    case = engine.create_case(s, scope, teacher, "suspension", st.id, dict(CASE_DATA),
                                              today=SWEEP_DAY)
                    visit = Visit(case_id=case.id, date=SWEEP_DAY, kind="in_person_at_school", guardian_present=True,
                                  notes="家长持医院证明到校", created_by_id=teacher.id)
                    doc_seq += 1
                    s.add_all([visit, Document(case_id=case.id, kind="suspension_grounds", original_name="诊断证明.pdf",
                                               stored_name=f"bench-{doc_seq:08d}.pdf", content_type="application/pdf",
                                               size=1024, sha256="0" * 64, uploaded_by_id=teacher.id)])
                    s.flush()
                    s.add(VisitParticipant(visit_id=visit.id, user_id=teacher.id))
                    ids.append(case.id)
                    for step, uid in (("submit", teacher.id), ("office_approve", office.id),
                                      ("principal_approve", principal.id), ("center_file", center_office.id)):
                        town.actor[step, case.id] = uid
                s.commit()
            town.sets[name] = ids
        for k in range(clients):
            for user in users:
                town.tokens[k, user.id], _ = issue_token(s, user)
        s.commit()
    return town


# --- ours: the app ---------------------------------------------------------------------------------


def ours_client(app, town: Township, k: int, cases: list[int], step: str, versions: dict, failures: list) -> None:
    """One client: POST the transition for each of its cases with the version last answered."""
    client = app.test_client()
    source, target, _role = STEP[step]
    for cid in cases:
        token = town.tokens[k, town.actor[step, cid]]
        resp = client.post(f"/api/v1/cases/{cid}/transitions/{step}", json={"version": versions[cid]},
                           headers={"Authorization": f"Bearer {token}"})
        body = resp.get_json(silent=True) or {}
        if resp.status_code != 200 or body.get("state") != target:
            failures.append((cid, step, resp.status_code, str(body)[:200]))
            continue
        versions[cid] = body["version"]


# --- the floor: hand-written SQL ---------------------------------------------------------------------


def _role_scope(role: str) -> str:
    """The SQL condition that a role assignment `r` is for this case (SPEC §3 "who acts for whose
    student"): a class role for the student's class, a school role for the case's school, a center
    role for its center."""
    if role == "homeroom_teacher":
        return "r.class_id = st.class_id"
    if role == "center_office":
        return "r.school_id = s.center_id"
    return "r.school_id = c.school_id"


def floor_statements(raw) -> dict[str, str]:
    """Each step's one read: the case, the role check and the step's evidence in one statement."""
    t = raw.true()
    out = {}
    for step, (_source, _target, role) in STEP.items():
        extra = ""
        if step == "submit":
            extra = (f", EXISTS (SELECT 1 FROM visits v WHERE v.case_id = c.id AND v.kind = 'in_person_at_school' "
                     f"AND v.guardian_present = {t}), "
                     "EXISTS (SELECT 1 FROM documents d WHERE d.case_id = c.id AND d.kind = 'suspension_grounds')")
        elif step == "office_approve":  # separation of duties: not the submitter
            extra = (", NOT EXISTS (SELECT 1 FROM case_history h WHERE h.case_id = c.id AND h.transition = 'submit' "
                     "AND h.user_id = %s)")
        out[step] = (
            "SELECT c.state, c.version, c.data, c.student_id, st.status, st.is_provisional, "
            f"EXISTS (SELECT 1 FROM role_assignments r WHERE r.user_id = %s AND r.role = '{role}' "
            f"AND {_role_scope(role)}){extra} "
            "FROM cases c JOIN schools s ON s.id = c.school_id JOIN students st ON st.id = c.student_id "
            "WHERE c.id = %s")
    return out


def floor_fire(raw, reads: dict[str, str], step: str, case_id: int, token: str, version: int,
               now: dt.datetime, day: dt.date) -> int | None:
    """One transition as one transaction: the token's user; the case with the role and evidence
    checks; the version-checked UPDATE; the history INSERT (center_file: the student suspended,
    the enrolment closed); commit. Returns the new version, or None (refused, nothing written)."""
    source, target, role = STEP[step]
    digest = hashlib.sha256(token.encode()).hexdigest()
    user = raw.all(f"SELECT u.id FROM api_tokens k JOIN users u ON u.id = k.user_id WHERE k.token_hash = %s "
                   f"AND k.expires_at > %s AND u.is_active = {raw.true()}", (digest, now))
    if not user:
        raw.rollback()
        return None
    uid = user[0][0]
    params = (uid, uid, case_id) if step == "office_approve" else (uid, case_id)
    rows = raw.all(reads[step], params)
    if not rows:
        raw.rollback()
        return None
    state, current, data, student_id, status, provisional, has_role, *evidence = rows[0]
    ok = state == source and current == version and has_role and all(evidence)
    if step in ("submit", "center_file"):
        ok = ok and status == "active" and not provisional
    if step == "submit":
        data = json.loads(data) if isinstance(data, str) else data
        ok = ok and data.get("start") is not None and data.get("end") is not None and data["end"] > data["start"]
    if not ok:
        raw.rollback()
        return None
    cur = raw.conn.cursor()
    cur.execute(raw.sql("UPDATE cases SET state = %s, version = %s, updated_at = %s WHERE id = %s AND version = %s"),
                (target, version + 1, now, case_id, version))
    if cur.rowcount != 1:
        cur.close()
        raw.rollback()
        return None
    cur.execute(raw.sql("INSERT INTO case_history (case_id, transition, from_state, to_state, user_id, role, at, "
                        "effective_date, comment, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"),
                (case_id, step, source, target, uid, role, now, day, None, raw.json({})))
    if step == "center_file":
        cur.execute(raw.sql("UPDATE students SET status = 'suspended', is_provisional = %s WHERE id = %s"),
                    (False, student_id))
        cur.execute(raw.sql("UPDATE enrolments SET end_date = %s, end_reason = 'suspension' "
                            "WHERE student_id = %s AND end_date IS NULL"), (day, student_id))
    cur.close()
    raw.commit()
    return version + 1


def floor_client(engine, town: Township, k: int, cases: list[int], step: str, versions: dict,
                 failures: list) -> None:
    from .floors import Raw

    raw = Raw(engine)
    reads = floor_statements(raw)
    for cid in cases:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        new = floor_fire(raw, reads, step, cid, town.tokens[k, town.actor[step, cid]], versions[cid], now, SWEEP_DAY)
        if new is None:
            failures.append((cid, step, "refused", ""))
        else:
            versions[cid] = new
    raw.close()


# --- running, verifying ------------------------------------------------------------------------------


def run_phases(fn, cases: list[int], versions: dict, clients: int) -> dict:
    """The four steps in order, each over every case, `clients` threads taking every k-th case.
    Returns wall and CPU seconds per step and in total, and the failed requests."""
    failures: list = []
    out = {"steps": {}}
    for step in STEPS:
        threads = [threading.Thread(target=fn, args=(k, cases[k::clients], step, versions, failures))
                   for k in range(clients)]
        t0, c0 = time.perf_counter(), time.process_time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["steps"][step] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    out["wall_s"] = sum(v["wall_s"] for v in out["steps"].values())
    out["cpu_s"] = sum(v["cpu_s"] for v in out["steps"].values())
    out["failures"] = failures
    return out


def verify(engine, cases: list[int]) -> list[str]:
    """What must hold after a run: every case `suspended`; exactly one history row per step, the
    four by four different users; every student suspended with no open enrolment. [] = all well."""
    from sqlalchemy import text

    ids = ", ".join(str(int(i)) for i in cases)
    steps = ", ".join(f"'{s}'" for s in STEPS)
    problems = []
    with engine.connect() as conn:
        states = dict(conn.execute(text(f"SELECT state, count(*) FROM cases WHERE id IN ({ids}) GROUP BY state")).all())
        if states != {"suspended": len(cases)}:
            problems.append(f"case states {states}, expected {{'suspended': {len(cases)}}}")
        rows = conn.execute(text(f"SELECT case_id, transition, count(*) FROM case_history WHERE case_id IN ({ids}) "
                                 f"AND transition IN ({steps}) GROUP BY case_id, transition")).all()
        wrong = [r for r in rows if r[2] != 1]
        if len(rows) != 4 * len(cases) or wrong:
            problems.append(f"{len(rows)} (case, step) pairs with history for {4 * len(cases)} expected; "
                            f"{len(wrong)} with more than one row")
        users = conn.execute(text(f"SELECT count(*) FROM (SELECT case_id FROM case_history WHERE case_id IN ({ids}) "
                                  f"AND transition IN ({steps}) GROUP BY case_id "
                                  "HAVING count(DISTINCT user_id) <> 4) x")).scalar()
        if users:
            problems.append(f"{users} cases whose four steps were not by four different users")
        students = conn.execute(text(f"SELECT count(*) FROM students WHERE status = 'suspended' AND id IN "
                                     f"(SELECT student_id FROM cases WHERE id IN ({ids}))")).scalar()
        open_periods = conn.execute(text(f"SELECT count(*) FROM enrolments WHERE end_date IS NULL AND student_id IN "
                                         f"(SELECT student_id FROM cases WHERE id IN ({ids}))")).scalar()
        if students != len(cases) or open_periods:
            problems.append(f"{students} of {len(cases)} students suspended, {open_periods} enrolments left open")
    return problems


class WireLog:
    """Every statement the database receives, each a round trip, as the driver sends it: SQLite
    through `sqlite3.Connection.set_trace_callback`, PostgreSQL through libpq's protocol trace
    (a `Query` or a `Sync` message ends a round trip; a statement psycopg has prepared after
    five uses arrives as a `Bind` of the prepared name). So the list includes what SQLAlchemy's
    cursor events do not show: the driver's `BEGIN`, `pool_pre_ping`'s `SELECT 1` and `COMMIT`.
    The pool is emptied on entry and exit, so every connection used inside is traced."""

    def __init__(self, engine):
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self.lines: list[str] = []
        self.traces: list[list] = []  # PostgreSQL: [fd, path, offset, pgconn]
        self.prepared: dict[str, str] = {}

    def _connect(self, dbapi_conn, _record):
        if self.sqlite:
            dbapi_conn.set_trace_callback(lambda sql: self.lines.append(" ".join(sql.split())))
            return
        import tempfile

        import psycopg

        fd, path = tempfile.mkstemp(prefix="suspension-trace-")
        dbapi_conn.pgconn.trace(fd)
        dbapi_conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE)
        self.traces.append([fd, path, 0, dbapi_conn.pgconn])

    def __enter__(self):
        from sqlalchemy import event

        self.engine.dispose()
        event.listen(self.engine, "connect", self._connect)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine, "connect", self._connect)
        for fd, path, _offset, pgconn in self.traces:
            pgconn.untrace()
            os.close(fd)
            os.unlink(path)
        self.traces = []
        self.engine.dispose()

    def take(self) -> list[str]:
        """The statements received since the last call, in order."""
        if self.sqlite:
            out, self.lines = self.lines, []
            return out
        out: list[str] = []
        for trace in self.traces:
            with open(trace[1], encoding="utf-8", errors="replace") as fh:
                fh.seek(trace[2])
                text = fh.read()
                trace[2] = fh.tell()
            pending = None
            # one message a line, except that libpq prints a statement's newlines as they are
            for message in re.split(r"\n(?=[FB]\t\d+\t)", text.strip()):
                m = re.match(r"F\t\d+\t(\w+)\t? ?(.*)$", " ".join(message.split("\n")))
                if not m:
                    continue
                kind, args = m.groups()
                if kind == "Query":
                    out.append(args.strip('"'))
                elif kind == "Parse":
                    p = re.match(r'"([^"]*)" "(.*)" \d+( \w+)*$', args)
                    if p:
                        pending = p.group(2)
                        if p.group(1):
                            self.prepared[p.group(1)] = pending
                elif kind == "Bind":
                    b = re.match(r'"[^"]*" "([^"]*)"', args)
                    if b and b.group(1):
                        pending = f"[prepared {b.group(1)}] {self.prepared.get(b.group(1), '?')}"
                elif kind == "Sync":
                    out.append(pending or "(sync)")
                    pending = None
        return out


TRACED = 10  # probe requests per step whose statements are recorded
# the driver's transaction statements and pool_pre_ping's (psycopg's ping is an empty query, ";")
WIRE_ONLY = {"BEGIN", "BEGIN ", "COMMIT", "ROLLBACK", "SELECT 1", ";"}


def probe(app, engine, town: Township, profile: bool, db: str) -> dict:
    """The probe cases through the four steps, one request at a time (also the timed run's
    warm-up). The first TRACED requests of each step under `WireLog`: round trips per request
    by step (the first, on a new connection, left out), and the statements of the last traced
    one. With `profile`, the other office_approve requests (90) run under cProfile, untraced."""
    cases = town.sets["probe"]
    versions = {c: 1 for c in cases}
    out: dict = {"statements": {}, "sql": {}, "pre_ping": bool(engine.pool._pre_ping)}
    for step in STEPS:
        counts, sql_counts, last = [], [], []
        failures: list = []
        with WireLog(engine) as wire:
            for i, cid in enumerate(cases[:TRACED]):
                ours_client(app, town, 0, [cid], step, versions, failures)
                last = wire.take()
                if i == 0:  # a new connection's setup statements, not the request's
                    continue
                counts.append(len(last))
                sql_counts.append(sum(1 for x in last if x.split("] ")[-1].strip() not in WIRE_ONLY))
        # the last request's counts: by then psycopg has prepared the statements it prepares (the
        # fifth use of a statement on a connection costs one more round trip, once)
        out["sql"][step] = last
        out["statements"][step] = {"round_trips": counts[-1], "sql": sql_counts[-1],
                                   "mean_round_trips": sum(counts) / len(counts), "max": max(counts)}
        profiler = cProfile.Profile() if profile and step == "office_approve" else None
        rest = cases[TRACED:]
        if profiler:
            profiler.enable()
        for cid in rest:
            ours_client(app, town, 0, [cid], step, versions, failures)
        if profiler:
            profiler.disable()
            path = DATA_DIR / f"suspension-office_approve-{db}.prof"
            profiler.dump_stats(str(path))
            out["profile"] = {"file": str(path), "requests": len(rest), **profile_summary(profiler, len(rest))}
        if failures:
            raise SystemExit(f"probe requests failed: {failures[:3]}")
    return out


def _package(filename: str, name: str) -> str:
    """The package a profiled function belongs to, for the per-package totals."""
    if filename == "~":
        m = re.search(r"of '([\w.]+)", name) or re.search(r"<built-in method ([\w.]+)", name)
        return f"(C) {m.group(1).split('.')[0]}" if m else "(C) builtins"
    m = re.search(r"site-packages/([^/]+)", filename)
    if m:
        return m.group(1).removesuffix(".py")
    m = re.search(r"/(admin|workflow|models|bench|tests)/", filename)
    if m:
        return m.group(1)
    m = re.search(r"python3\.\d+/([^/]+)", filename)
    return f"stdlib {m.group(1).removesuffix('.py')}" if m else filename


def profile_summary(profiler, requests: int, top: int = 25) -> dict:
    """Own time per package and the top functions by own and by cumulative time, per request (ms)."""
    stats = pstats.Stats(profiler, stream=io.StringIO())
    per_package: dict[str, float] = {}
    rows = []
    total = 0.0
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        per_package[_package(filename, name)] = per_package.get(_package(filename, name), 0.0) + tt
        total += tt
        rows.append((tt, ct, nc, f"{filename.split('site-packages/')[-1].replace('/work/main/', '')}:{line}({name})"))

    def ms(x):
        return round(1000 * x / requests, 3)

    return {
        "total_ms": ms(total),
        "by_package_ms": {k: ms(v) for k, v in sorted(per_package.items(), key=lambda kv: -kv[1])[:top]},
        "top_own": [(ms(tt), ms(ct), nc // requests, where) for tt, ct, nc, where in sorted(rows, reverse=True)[:top]],
        "top_cumulative": [(ms(ct), ms(tt), nc // requests, where)
                           for tt, ct, nc, where in sorted(rows, key=lambda r: -r[1])[:top]],
    }


def measure(db: str, n: int, clients: int, pg_database: str = "bench_suspension", profile: bool = False,
            probes: int = TRACED, durable: bool = False) -> dict:
    """Build the data, probe, run ours and the floor with `clients` clients, verify both.
    Returns the figures (see `report`). Raises SystemExit when a run fails its verification."""
    pin_clock()
    reset_database(db, pg_database, durable)
    app = make_app(scratch_url(db, pg_database, durable))
    t0 = time.perf_counter()
    town = build(app, {"probe": max(probes, 100 if profile else 0), "ours": n, "floor": n}, clients)
    setup_s = time.perf_counter() - t0
    from admin.extensions import db as fdb

    with app.app_context():
        engine = fdb.engine
    probed = probe(app, engine, town, profile, db)
    result: dict = {"db": db, "n": n, "clients": clients, "transitions": 4 * n, "durable": durable,
                    "setup_s": round(setup_s, 1), "probe": probed}
    for name, fn in (("ours", lambda *a: ours_client(app, town, *a)),
                     ("floor", lambda *a: floor_client(engine, town, *a))):
        cases = town.sets[name]
        versions = {c: 1 for c in cases}
        run = run_phases(fn, cases, versions, clients)
        problems = verify(engine, cases)
        if run["failures"]:
            problems.insert(0, f"{len(run['failures'])} failed requests, e.g. {run['failures'][:3]}")
        result[name] = {"per_s": 4 * n / run["wall_s"], "cpu_ms": 1000 * run["cpu_s"] / (4 * n),
                        "wall_s": run["wall_s"], "problems": problems,
                        "steps": {s: {"per_s": n / v["wall_s"], "cpu_ms": 1000 * v["cpu_s"] / n}
                                  for s, v in run["steps"].items()}}
    engine.dispose()
    ours, floor = result["ours"], result["floor"]
    result["rate_ratio"] = ours["per_s"] / floor["per_s"]
    result["rate_target"] = RATE_TARGET.get((db, clients))
    result["cpu_target_ms"] = CPU_TARGET_MS[db]
    result["holds"] = (not ours["problems"] and not floor["problems"] and ours["cpu_ms"] <= CPU_TARGET_MS[db]
                       and (result["rate_target"] is None or result["rate_ratio"] >= result["rate_target"]))
    return result


def report(r: dict) -> str:
    ours, floor = r["ours"], r["floor"]
    target = f"≥ {r['rate_target']}×" if r["rate_target"] else "(no target)"
    lines = [
        f"suspension workload on {r['db']}, {r['clients']} client{'s' if r['clients'] > 1 else ''}: "
        f"{r['n']} cases × 4 = {r['transitions']} transitions (setup {r['setup_s']} s; commits "
        f"{'wait for the disk' if r['durable'] else 'do not wait for the disk'})",
        f"  ours   {ours['per_s']:8.0f} transitions/s   client CPU {ours['cpu_ms']:.3f} ms/transition"
        f"   verified: {'ok' if not ours['problems'] else '; '.join(ours['problems'])}",
        f"  floor  {floor['per_s']:8.0f} transitions/s   client CPU {floor['cpu_ms']:.3f} ms/transition"
        f"   verified: {'ok' if not floor['problems'] else '; '.join(floor['problems'])}",
        f"  ratio  {r['rate_ratio']:.3f}× the floor's rate (target {target}); CPU target ≤ {r['cpu_target_ms']} ms "
        f"→ {'holds' if r['holds'] else 'MISS'}",
        "  per step (ours / floor): " + ", ".join(
            f"{s} {ours['steps'][s]['per_s']:.0f}/{floor['steps'][s]['per_s']:.0f} per s "
            f"{ours['steps'][s]['cpu_ms']:.2f}/{floor['steps'][s]['cpu_ms']:.2f} ms CPU" for s in STEPS),
    ]
    st = r["probe"]["statements"]
    lines.append("  per request (probe): round trips " + ", ".join(f"{s} {st[s]['round_trips']}" for s in STEPS)
                 + "; of them SQL statements (not BEGIN/COMMIT/pre-ping) "
                 + ", ".join(f"{s} {st[s]['sql']}" for s in STEPS)
                 + (" (pool_pre_ping on)" if r["probe"]["pre_ping"] else ""))
    return "\n".join(lines)


def print_details(r: dict) -> None:
    print("\n  SQL of one request per step:")
    for step, sql in r["probe"]["sql"].items():
        print(f"    {step} ({len(sql)} statements):")
        for i, statement in enumerate(sql, 1):
            print(f"      {i:2}. {statement[:300]}{' …' if len(statement) > 300 else ''}")
    prof = r["probe"].get("profile")
    if prof:
        print(f"\n  cProfile, office_approve, per request over {prof['requests']} requests "
              f"(profiled {prof['total_ms']} ms, cProfile's overhead included; stats in {prof['file']}):")
        print("    own time by package, ms (share): " + ", ".join(
            f"{k} {v} ({100 * v / prof['total_ms']:.0f} %)" for k, v in prof["by_package_ms"].items()))
        print("    top by own time (ms own, ms cumulative, calls, function):")
        for row in prof["top_own"]:
            print(f"      {row[0]:7.3f} {row[1]:7.3f} {row[2]:4d}  {row[3]}")
        print("    top by cumulative time (ms cumulative, ms own, calls, function):")
        for row in prof["top_cumulative"]:
            print(f"      {row[0]:7.3f} {row[1]:7.3f} {row[2]:4d}  {row[3]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="issue 16's suspension workload, ours against the floor")
    ap.add_argument("--db", action="append", choices=("sqlite", "postgresql"))
    ap.add_argument("--n", type=int, default=DEFAULT_N, help="cases per run (4 transitions each)")
    ap.add_argument("--clients", type=int, action="append", choices=(1, 4),
                    help="1 and/or 4 (default: 1 on SQLite, 1 and 4 on PostgreSQL)")
    ap.add_argument("--pg-database", default="bench_suspension", help="the scratch PostgreSQL database (rebuilt)")
    ap.add_argument("--durable", action="store_true",
                    help="commits wait for the disk (SQLite file in bench/data, the server's synchronous_commit)")
    ap.add_argument("--profile", action="store_true", help="cProfile 90 office_approve requests")
    ap.add_argument("--sql", action="store_true", help="print the SQL of one request per step")
    args = ap.parse_args(argv)
    results = []
    ok = True
    for db in args.db or ["sqlite", "postgresql"]:
        for clients in args.clients or ([1] if db == "sqlite" else [1, 4]):
            if db == "sqlite" and clients > 1:
                print("skipping 4 clients on SQLite (one writer at a time; the issue measures one client)")
                continue
            r = measure(db, args.n, clients, args.pg_database, profile=args.profile, durable=args.durable)
            print(report(r), flush=True)
            if args.sql or args.profile:
                print_details(r)
            ok = ok and not r["ours"]["problems"] and not r["floor"]["problems"]
            results.append(r)
            out = DATA_DIR / f"suspension-{db}-{clients}.json"
            out.write_text(json.dumps(r, indent=1, ensure_ascii=False, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
