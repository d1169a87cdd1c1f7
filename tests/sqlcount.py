"""Counting the SQL statements a piece of code sends, for tests that bound them (issue 16).

    with count_statements(db.engine) as sql:
        resp = api.as_user(office).post(f"/cases/{case.id}/transitions/office_approve", json=...)
    assert sql.count <= 6, sql.listing()

`count` is the statements sent through SQLAlchemy (`before_cursor_execute`: every SELECT, UPDATE,
INSERT, DELETE the app issues, an executemany counted once). What the driver adds on the wire is
not among them and is counted apart: `commits` (one COMMIT each) and `checkouts` (connections
taken from the pool; with `pool_pre_ping` each one costs a `SELECT 1`/empty-query round trip).
PostgreSQL's psycopg also sends its own `BEGIN` before a transaction's first statement, SQLite's
driver before the first write; `bench/suspension.py` (`WireLog`) lists that wire exactly.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass
class StatementCount:
    """What ran inside the block: the statements in order, and the commits and checkouts."""

    statements: list[str] = field(default_factory=list)
    commits: int = 0
    checkouts: int = 0

    @property
    def count(self) -> int:
        return len(self.statements)

    def matching(self, prefix: str) -> list[str]:
        """The statements beginning with `prefix` (case-insensitive), e.g. "UPDATE cases"."""
        return [s for s in self.statements if s.upper().startswith(prefix.upper())]

    def listing(self) -> str:
        """The statements, numbered, one a line (an assertion message)."""
        return "\n".join(f"{i:2}. {s[:200]}" for i, s in enumerate(self.statements, 1))


@contextmanager
def count_statements(engine: Engine) -> Iterator[StatementCount]:
    """Record every statement `engine` executes inside the block (any session or connection of
    it, any thread), with the commits and pool checkouts; the listeners are removed on exit."""
    seen = StatementCount()

    def on_execute(_conn, _cursor, statement, _parameters, _context, _executemany):
        seen.statements.append(" ".join(statement.split()))

    def on_commit(_conn):
        seen.commits += 1

    def on_checkout(*_args):
        seen.checkouts += 1

    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    event.listen(engine.pool, "checkout", on_checkout)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)
        event.remove(engine.pool, "checkout", on_checkout)
