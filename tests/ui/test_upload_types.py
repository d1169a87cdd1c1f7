"""Documents are accepted by content (issue 12): PDF, JPEG, PNG, HEIC (a phone's photo) and DOCX
(Word); anything else, whatever its name, is refused with a Chinese message and leaves nothing."""
from __future__ import annotations

import io
import os
import zipfile

import pytest
from sqlalchemy import func, select

from models import Document
from tests.ui.pages_support import csrf, fixed_clock, new_suspension, term, upload  # noqa: F401
from workflow.cases.evidence import detect_file_type

pytestmark = pytest.mark.usefixtures("fixed_clock", "term")


def _zip(names) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in names:
            z.writestr(n, "<x/>")
    return buf.getvalue()


DOCX = _zip(["[Content_Types].xml", "_rels/.rels", "word/document.xml"])
XLSX = _zip(["[Content_Types].xml", "_rels/.rels", "xl/workbook.xml"])
PLAIN_ZIP = _zip(["word/document.xml"])  # no [Content_Types].xml: not an Office file
# an ftyp box of 24 bytes: major brand, version, then compatible brands
HEIC = (24).to_bytes(4, "big") + b"ftypheic" + b"\0\0\0\0" + b"mif1heic" + b"\0" * 40
HEIC_COMPATIBLE = (24).to_bytes(4, "big") + b"ftypmsf1" + b"\0\0\0\0" + b"iso8heix" + b"\0" * 40
MP4 = (24).to_bytes(4, "big") + b"ftypisom" + b"\0\0\0\0" + b"isomavc1" + b"\0" * 40


@pytest.mark.parametrize("data, expected", [
    (DOCX, "docx"), (HEIC, "heic"), (HEIC_COMPATIBLE, "heic"), (XLSX, None), (PLAIN_ZIP, None),
    (MP4, None), (b"PK\x03\x04 broken zip", None), (b"GIF89a", None),
])
def test_type_is_read_from_the_content(tmp_path, data, expected):
    path = tmp_path / "f"
    path.write_bytes(data)
    found = detect_file_type(data[:64], str(path))
    assert (found[0] if found else None) == expected


@pytest.fixture
def case(world, factory, session):
    st = factory.student(world.klass, world.village, name="王芳")
    session.commit()
    return new_suspension(session, world, st)


def _post(client, case, data, name):
    page = client.get(f"/cases/{case.id}").get_data(as_text=True)
    return client.post(f"/cases/{case.id}/documents", data={
        "csrf_token": csrf(page), "kind": "suspension_grounds", "file": upload(data, name)},
        content_type="multipart/form-data", follow_redirects=True)


@pytest.mark.parametrize("data, name, ctype", [
    (DOCX, "病历.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (HEIC, "IMG_0001.HEIC", "image/heic"),
])
def test_word_and_phone_photos_are_accepted(world, case, session, login, data, name, ctype):
    resp = _post(login(world["teacher"]), case, data, name)
    assert resp.status_code == 200
    doc = session.scalars(select(Document).where(Document.case_id == case.id)).one()
    assert doc.content_type == ctype and doc.original_name == name


def test_a_spreadsheet_named_docx_is_refused_in_chinese(world, case, session, login, app):
    before = sum(len(files) for _, _, files in os.walk(app.config["UPLOAD_DIR"]))
    resp = _post(login(world["teacher"]), case, XLSX, "病历.docx")
    text = resp.get_data(as_text=True)
    assert "只接受 PDF、JPEG、PNG、HEIC 图片或 Word（.docx）文件" in text
    assert session.scalar(select(func.count()).select_from(Document)) == 0
    assert sum(len(files) for _, _, files in os.walk(app.config["UPLOAD_DIR"])) == before
