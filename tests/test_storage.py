"""Uploaded files in either store (a local folder, or chunked rows in the database), on whichever
database the suite runs on: what the user uploads is what they download, a refused or rolled-back
upload leaves nothing behind, and the database store never holds a file in one piece."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import os

import pytest
from sqlalchemy import func, select

from admin.storage import EXTENSION_KEY
from models import Case, Document, StoredFileChunk
from workflow import clock
from workflow.storage import DB_CHUNK, DatabaseStore, LocalStore

NOW = dt.datetime(2026, 10, 14, 10, 0, tzinfo=clock.SCHOOL_TZ)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW.astimezone(dt.UTC))


@pytest.fixture(params=["local", "database"])
def store(request, app, tmp_path, monkeypatch):
    """The app runs with this store for the test (the rest of the app does not know which)."""
    chosen = LocalStore(str(tmp_path / "uploads")) if request.param == "local" else DatabaseStore()
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, chosen)
    return chosen


@pytest.fixture
def case(session, world, factory):
    student = factory.student(world.klass, world.village)
    case = Case(process="absence", state="reported", student_id=student.id, school_id=student.school_id,
                opened_on=dt.date(2026, 10, 14), is_open=True, data={})
    session.add(case)
    session.commit()
    return case


def upload(api, case_id, data: bytes, filename="家访记录.pdf"):
    return api.post(f"/cases/{case_id}/documents", data={"kind": "other", "file": (io.BytesIO(data), filename)},
                    content_type="multipart/form-data")


def kept(session, store) -> int:
    """How many files the store keeps."""
    return len(list(store.names(session)))


def test_what_is_uploaded_is_what_is_downloaded(api, world, case, session, store):
    resp = upload(api.as_user(world["teacher"]), case.id, PDF)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    doc = session.get(Document, resp.json["id"])
    assert doc.sha256 == hashlib.sha256(PDF).hexdigest()

    got = api.as_user(world["principal"]).get(f"/documents/{doc.id}")
    assert got.status_code == 200
    assert got.get_data() == PDF
    assert got.mimetype == "application/pdf"
    assert "attachment" in got.headers["Content-Disposition"]
    assert int(got.headers["Content-Length"]) == len(PDF)
    assert kept(session, store) == 1


def test_the_page_download_reads_the_same_store(client, login, world, case, session, store, api):
    doc_id = upload(api.as_user(world["teacher"]), case.id, PDF).json["id"]
    login(world["principal"])
    resp = client.get(f"/files/{doc_id}")
    assert resp.status_code == 200
    assert resp.get_data() == PDF


def test_a_refused_upload_leaves_nothing_in_the_store(api, world, case, session, store):
    resp = upload(api.as_user(world["teacher"]), case.id, b"just text, named like a PDF", "x.pdf")
    assert resp.status_code == 422
    assert kept(session, store) == 0
    assert session.scalar(select(func.count()).select_from(Document)) == 0


def test_an_upload_whose_transaction_rolls_back_leaves_nothing(app, world, case, session, store):
    from workflow.access.scope import scope_for
    from workflow.cases.evidence import add_document

    teacher = world["teacher"]
    add_document(session, scope_for(session, teacher), teacher, case, kind="other", filename="a.pdf",
                 stream=io.BytesIO(PDF), upload_dir=store, max_bytes=10 * 1024 * 1024)
    session.rollback()
    assert kept(session, store) == 0


def test_a_file_missing_from_the_store_is_404_not_500(api, world, case, session, store):
    doc_id = upload(api.as_user(world["teacher"]), case.id, PDF).json["id"]
    name = session.get(Document, doc_id).stored_name
    if isinstance(store, LocalStore):
        os.unlink(store.path(name))
    else:
        store.delete(session, name)
        session.commit()
    assert api.as_user(world["principal"]).get(f"/documents/{doc_id}").status_code == 404


def test_the_database_store_keeps_a_large_file_in_chunks_and_streams_it_back(app, world, case, session,
                                                                               monkeypatch, api):
    monkeypatch.setitem(app.extensions, EXTENSION_KEY, DatabaseStore())
    big = b"%PDF-1.4\n" + os.urandom(3 * DB_CHUNK + 123)
    resp = upload(api.as_user(world["teacher"]), case.id, big)
    assert resp.status_code == 201
    name = session.get(Document, resp.json["id"]).stored_name
    sizes = session.scalars(select(func.length(StoredFileChunk.data)).where(StoredFileChunk.name == name)
                            .order_by(StoredFileChunk.seq)).all()
    assert len(sizes) == 4 and max(sizes) == DB_CHUNK
    stream = DatabaseStore().open(session, name)
    first = stream.read(1000)
    assert first == big[:1000]
    assert first + stream.read() == big
    stream.close()
