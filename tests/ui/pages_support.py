"""Shared helpers of the page tests (tests/ui/test_pages_*.py): a fixed school clock, a school
calendar, cases brought to a state through the engine, and small HTML helpers."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest

from models import Document, Visit
from workflow import clock
from workflow.access.scope import scope_for
from workflow.cases import engine

NOW = dt.datetime(2026, 10, 14, 10, 0, tzinfo=clock.SCHOOL_TZ)  # a Wednesday in term
TODAY = NOW.date()
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
       b"\xaeB`\x82")


@pytest.fixture
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))
    return NOW


@pytest.fixture
def term(world, factory, session):
    """The center school's first term (branches inherit it): 2026-09-01 to 2027-01-22."""
    t = factory.term(world.center)
    session.commit()
    return t


def fire(session, user, case, name, **kw):
    """Fire as `user` the way a request does (commit)."""
    case = engine.fire(session, scope_for(session, user), user, case.id, name, version=case.version,
                       today=TODAY, **kw)
    session.commit()
    return case


def new_suspension(session, world, student, *, data=None):
    teacher = world["teacher"]
    case = engine.create_case(session, scope_for(session, teacher), teacher, "suspension", student.id,
                              data if data is not None else {"start": "2026-10-15", "end": "2027-03-01",
                                                             "reason": "住院治疗"}, today=TODAY)
    session.commit()
    return case


def add_suspension_evidence(session, world, case):
    """An in-person visit with the guardian and a grounds document, as rows (the page tests of
    the evidence forms add them through the forms)."""
    session.add(Visit(case_id=case.id, date=TODAY, kind="in_person_at_school", guardian_present=True,
                      created_by_id=world["teacher"].id))
    session.add(Document(case_id=case.id, kind="suspension_grounds", original_name="证明.pdf",
                         stored_name=f"xx/{case.id:032d}.pdf", content_type="application/pdf", size=10,
                         sha256="0" * 64, uploaded_by_id=world["teacher"].id))
    session.commit()


def submitted_suspension(session, world, student):
    case = new_suspension(session, world, student)
    add_suspension_evidence(session, world, case)
    return fire(session, world["teacher"], case, "submit")


def csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


def text_of(html: str) -> str:
    """The page's visible text, roughly: tags removed, whitespace collapsed."""
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def upload(data: bytes, name: str):
    return (io.BytesIO(data), name)
