"""The floors: hand-written SQL for the same answers, on the same database, in the same process.

Each floor is the least database work any implementation must do to give the answer: it reads
what the answer is made of with as few statements as plain SQL allows (grouped, joined, one
round trip each) and writes, in one transaction, exactly the rows our code wrote. It does no
Python beyond fetching the rows: the ratio ours / floor is what the engine, the ORM and the
Flask layer cost on top of the unavoidable database work. Statements go through the raw DB-API
connection (sqlite3 or psycopg), never the ORM.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

from workflow.cases.queue import SECONDARY
from workflow.processes import REGISTRY


class Raw:
    """A DB-API connection with one placeholder style (%s, turned into ? for SQLite)."""

    def __init__(self, engine):
        self.conn = engine.raw_connection()
        self.pg = engine.dialect.name == "postgresql"

    def sql(self, statement: str) -> str:
        return statement if self.pg else statement.replace("%s", "?")

    def all(self, statement: str, params=()) -> list:
        cur = self.conn.cursor()
        cur.execute(self.sql(statement), params)
        rows = cur.fetchall()
        cur.close()
        return rows

    def many(self, statement: str, rows: list) -> None:
        if rows:
            cur = self.conn.cursor()
            cur.executemany(self.sql(statement), rows)
            cur.close()

    def json(self, value):
        if self.pg:
            from psycopg.types.json import Json

            return Json(value)
        return json.dumps(value, ensure_ascii=False)

    def true(self) -> str:
        return "true" if self.pg else "1"

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.close()


def _in(ids) -> str:
    return ", ".join(str(int(i)) for i in ids) or "NULL"


# --- the daily sweep ---------------------------------------------------------------------------


def sweep(raw: Raw, day: dt.date, writes: dict) -> int:
    """Read what the sweep of `day` must read (the marks of every open absence case since its
    opening, the day's unexcused marks, the open cases of the timed processes with their filing
    dates), then write in one transaction the rows the sweep wrote: new cases, new history rows,
    changed cases. Returns the number of rows read."""
    t = raw.true()
    read = raw.all(f"""
        SELECT c.id, a.date, a.status FROM cases c
        JOIN attendance_records a ON a.student_id = c.student_id AND a.date >= c.opened_on AND a.date <= %s
        WHERE c.process = 'absence' AND c.is_open = {t}""", (day,))
    read += raw.all("SELECT a.student_id, a.date, a.status FROM attendance_records a "
                    "WHERE a.date = %s AND a.status = 'unexcused'", (day,))
    read += raw.all(f"""
        SELECT c.id, c.state, c.data, (SELECT max(h.effective_date) FROM case_history h
                                       WHERE h.case_id = c.id AND h.transition = 'center_file')
        FROM cases c WHERE c.is_open = {t} AND c.process IN ('suspension', 'transfer_out', 'transfer_in')""")
    for table, rows in (("cases", writes["new_cases"]), ("case_history", writes["new_history"])):
        if rows:
            cols = list(rows[0])
            raw.many(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                     [tuple(raw.json(v) if isinstance(v, dict | list) else v for v in r.values()) for r in rows])
    raw.many("UPDATE cases SET state = %s, version = %s, is_open = %s, due_on = %s, is_overdue = %s, data = %s, "
             "updated_at = %s WHERE id = %s",
             [(r["state"], r["version"], r["is_open"], r["due_on"], r["is_overdue"], raw.json(r["data"]),
               r["updated_at"], r["id"]) for r in writes["changed"]])
    raw.commit()
    return len(read)


# --- the work queue ------------------------------------------------------------------------------


def queue_clauses(role: str = "academic_office") -> str:
    """The (process, state) pairs in which `role` has non-secondary work, and every open case of a
    process with duties (absence): the queue's candidate filter as SQL text (configuration, not
    database work)."""
    parts = []
    for name, proc in sorted(REGISTRY.items()):
        if callable(proc.duties):
            parts.append(f"c.process = '{name}'")
            continue
        states = sorted({s for t in proc.transitions if role in t.roles and t.name not in SECONDARY for s in t.sources})
        if states:
            parts.append(f"(c.process = '{name}' AND c.state IN ({', '.join(repr(s) for s in states)}))")
    return " OR ".join(parts)


def queue(raw: Raw, token: str, school_id: int, clauses: str) -> int:
    """GET /api/v1/queue for an academic office: the token's user and roles, the candidate cases
    with school, student and class, the absence cases' duty inputs (guardian contacts, rung
    reached, visits), the filing dates of transfers out."""
    t = raw.true()
    digest = hashlib.sha256(token.encode()).hexdigest()
    rows = raw.all("SELECT u.id, u.is_active, r.role, r.school_id, r.class_id, r.village_id FROM api_tokens k "
                   "JOIN users u ON u.id = k.user_id JOIN role_assignments r ON r.user_id = u.id "
                   "WHERE k.token_hash = %s AND k.expires_at > %s", (digest, dt.datetime.now(dt.UTC).replace(tzinfo=None)))
    rows += raw.all(f"""
        SELECT c.id, c.process, c.state, c.version, c.student_id, c.school_id, c.opened_on, c.is_open,
               c.due_on, c.is_overdue, c.data, s.name, st.name, st.status, st.is_provisional, st.class_id,
               k.name, k.grade
        FROM cases c JOIN schools s ON s.id = c.school_id
        LEFT JOIN students st ON st.id = c.student_id LEFT JOIN classes k ON k.id = st.class_id
        WHERE c.school_id = %s AND c.is_open = {t} AND ({clauses})
        ORDER BY c.is_overdue DESC, c.due_on, c.opened_on, c.id""", (school_id,))
    rows += raw.all(f"""
        SELECT c.id,
          (SELECT count(*) FROM guardian_contacts g WHERE g.case_id = c.id),
          (SELECT max(h.effective_date) FROM case_history h WHERE h.case_id = c.id AND h.transition = 'escalate'),
          (SELECT count(*) FROM visits v JOIN visit_participants p ON p.visit_id = v.id WHERE v.case_id = c.id)
        FROM cases c WHERE c.school_id = %s AND c.is_open = {t} AND c.process = 'absence'""", (school_id,))
    rows += raw.all(f"""
        SELECT h.case_id, max(h.effective_date) FROM case_history h JOIN cases c ON c.id = h.case_id
        WHERE c.school_id = %s AND c.is_open = {t} AND c.process = 'transfer_out' AND c.state = 'transferred'
          AND h.transition = 'center_file' GROUP BY h.case_id""", (school_id,))
    raw.commit()
    return len(rows)


# --- the oversight page --------------------------------------------------------------------------


def oversight(raw: Raw, user_id: int, school_ids: list[int], today: dt.date) -> int:
    """A center's oversight page: the session user, open cases by school/process/state, overdue
    counts, attendance days taken in the last two weeks, the eight-week chart (open cases at
    each week's end, unexcused marks per day)."""
    t = raw.true()
    ids = _in(school_ids)
    first = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=7)
    rows = raw.all("SELECT u.id, u.is_active, r.role, r.school_id FROM users u JOIN role_assignments r "
                   "ON r.user_id = u.id WHERE u.id = %s", (user_id,))
    rows += raw.all(f"SELECT id, name, kind, center_id FROM schools WHERE center_id IN "
                    f"(SELECT center_id FROM schools WHERE id IN ({ids}))")
    rows += raw.all(f"SELECT school_id, process, state, count(*), sum(CASE WHEN is_overdue = {t} THEN 1 ELSE 0 END) "
                    f"FROM cases WHERE school_id IN ({ids}) AND is_open = {t} GROUP BY school_id, process, state")
    rows += raw.all(f"SELECT k.school_id, k.id, count(d.id) FROM classes k LEFT JOIN attendance_days d "
                    f"ON d.class_id = k.id AND d.date BETWEEN %s AND %s WHERE k.school_id IN ({ids}) "
                    f"GROUP BY k.school_id, k.id", (today - dt.timedelta(days=14), today - dt.timedelta(days=1)))
    rows += raw.all(f"SELECT a.date, count(*) FROM attendance_records a JOIN classes k ON k.id = a.class_id "
                    f"WHERE k.school_id IN ({ids}) AND a.status = 'unexcused' AND a.date BETWEEN %s AND %s "
                    f"GROUP BY a.date", (first, today))
    rows += raw.all(f"""
        SELECT c.id, c.opened_on, c.is_open, max(h.effective_date) FROM cases c
        LEFT JOIN case_history h ON h.case_id = c.id
        WHERE c.school_id IN ({ids}) AND c.opened_on <= %s AND (c.is_open = {t} OR h.effective_date >= %s)
        GROUP BY c.id, c.opened_on, c.is_open""", (today, first))
    raw.commit()
    return len(rows)


# --- class figures -------------------------------------------------------------------------------


def class_figures(raw: Raw, school_ids: list[int], school_year: str, term: int) -> int:
    """Every class of the schools with its current baseline, the term dates, the dropouts of the
    term with the class they were in, the returns and recoveries after them."""
    t = raw.true()
    ids = _in(school_ids)
    rows = raw.all(f"""
        SELECT k.id, k.name, k.grade, k.school_id, s.name, b.id, b.count, b.rule, b.frozen_at
        FROM classes k JOIN schools s ON s.id = k.school_id
        LEFT JOIN baselines b ON b.class_id = k.id AND b.school_year = k.school_year AND b.term = %s
             AND b.is_current = {t}
        WHERE k.school_year = %s AND k.school_id IN ({ids})
        ORDER BY s.name, k.grade, k.name, k.id""", (term, school_year))
    terms = raw.all("SELECT school_id, start, \"end\" FROM terms WHERE school_year = %s AND term = %s",
                    (school_year, term))
    lo, hi = min(r[1] for r in terms), max(r[2] for r in terms)
    dropouts = f"""SELECT c.student_id FROM case_history h JOIN cases c ON c.id = h.case_id
        WHERE c.process = 'absence' AND h.transition = 'confirm_dropout' AND h.effective_date BETWEEN %s AND %s
          AND c.school_id IN ({ids})"""
    rows += raw.all(f"""
        SELECT c.student_id, h.effective_date, h.id, c.id, e.class_id, e.start_date
        FROM case_history h JOIN cases c ON c.id = h.case_id
        JOIN enrolments e ON e.student_id = c.student_id AND e.start_date <= h.effective_date
        WHERE c.process = 'absence' AND h.transition = 'confirm_dropout' AND h.effective_date BETWEEN %s AND %s
          AND c.school_id IN ({ids})""", (lo, hi))
    rows += raw.all(f"""
        SELECT c.student_id, c.id, c.process, h.transition, h.effective_date, h.id
        FROM case_history h JOIN cases c ON c.id = h.case_id
        WHERE c.student_id IN ({dropouts}) AND h.effective_date >= %s
          AND ((c.process = 'recovery' AND h.transition IN ('mark_returned', 'confirm_elsewhere', 'exempt'))
               OR (c.process = 'return' AND h.transition IN ('submit', 're_enroll', 'withdraw')))""",
                    (lo, hi, lo))
    rows += raw.all("""
        SELECT c.student_id, c.id, c.data, h.data, h.effective_date FROM case_history h
        JOIN cases c ON c.id = h.case_id
        WHERE c.process = 'recovery' AND h.transition = 'mark_returned' AND h.effective_date BETWEEN %s AND %s""",
                    (lo, hi))
    raw.commit()
    return len(rows)


# --- a transition with its history row ---------------------------------------------------------------


def transition(raw: Raw, case_id: int, user_id: int, class_id: int, now: dt.datetime, day: dt.date) -> bool:
    """change_class on a transfer-in as one transaction: read the case, move it with the version
    read (0 rows = a concurrent writer won: False, nothing written), append the history row."""
    version, data = raw.all("SELECT version, data FROM cases WHERE id = %s", (case_id,))[0]
    data = dict(json.loads(data) if isinstance(data, str) else data)
    data["class_id"] = class_id
    cur = raw.conn.cursor()
    cur.execute(raw.sql("UPDATE cases SET data = %s, version = %s, updated_at = %s WHERE id = %s AND version = %s"),
                (raw.json(data), version + 1, now, case_id, version))
    if cur.rowcount != 1:
        cur.close()
        raw.rollback()
        return False
    cur.execute(raw.sql("INSERT INTO case_history (case_id, transition, from_state, to_state, user_id, role, at, "
                        "effective_date, comment, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"),
                (case_id, "change_class", "submitted", "submitted", user_id, "academic_office", now, day, None,
                 raw.json({"class_id": class_id})))
    cur.close()
    raw.commit()
    return True


def transition_authorized(raw: Raw, case_id: int, user_id: int, class_id: int, now: dt.datetime,
                          day: dt.date) -> bool:
    """`transition` plus what any implementation must read to authorise it as a user (a proposed
    fairer floor, measured for information; see docs/performance.md): the user's roles, the case
    with its school's center and its student's class, and the chosen class's school."""
    raw.all("SELECT u.id, u.is_active, r.role, r.school_id, r.class_id, r.village_id FROM users u "
            "JOIN role_assignments r ON r.user_id = u.id WHERE u.id = %s", (user_id,))
    raw.all("SELECT c.version, c.data, c.state, c.school_id, s.center_id, st.class_id, st.village_id "
            "FROM cases c JOIN schools s ON s.id = c.school_id LEFT JOIN students st ON st.id = c.student_id "
            "WHERE c.id = %s", (case_id,))
    raw.all("SELECT school_id FROM classes WHERE id = %s", (class_id,))
    return transition(raw, case_id, user_id, class_id, now, day)
