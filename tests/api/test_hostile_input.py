"""Hostile input (issue 11 item 5): what an attacker or schemathesis sends is refused with a 4xx
and a Chinese message, never a 500, and nothing is written — huge integers in paths, queries
and bodies, NUL and lone surrogates, deep or large JSON, "²" in page forms, nameless multipart
parts, year-1 dates, control characters in names, and oversized .xlsx uploads."""
from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from models import Village
from tests.conftest import csrf_token_from
from workflow.errors import Invalid
from workflow.spreadsheets import NotXlsx, check_xlsx_size, read_xlsx_rows

HUGE = 2**31  # one beyond the database's integer range
HUGER = 513297346226159397919875171224649728


def _villages(session) -> int:
    return session.scalar(select(func.count(Village.id)))


# --- integers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    f"/students/{HUGE}", f"/students/{HUGER}", f"/users/{HUGER}", f"/cases/{HUGER}", f"/schools/{HUGE}",
    f"/ladder/{HUGER}", f"/documents/{HUGER}", "/students/-1",
])
def test_a_path_id_beyond_the_database_range_is_404(world, api, path):
    resp = api.as_user(world["admin"]).get(path)
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("query", [
    f"/students?class_id={HUGER}", f"/students?offset={HUGE}", "/students?offset=-1", "/students?limit=²",
    "/students?limit=１０", "/students?limit=1_0", f"/cases?student_id=-{HUGER}", f"/catchment?village_id={HUGE}",
])
def test_a_query_integer_out_of_range_or_not_ascii_is_422(world, api, query):
    resp = api.as_user(world["admin"]).get(query)
    assert resp.status_code == 422, resp.json
    assert resp.json["error"]["details"]["field"] in ("class_id", "offset", "limit", "student_id", "village_id")


def test_a_body_integer_beyond_the_range_is_422_and_writes_nothing(world, api, session):
    before = _villages(session)
    resp = api.as_user(world["admin"]).post("/villages", json={"name": "新村", "center_school_id": HUGER})
    assert resp.status_code == 422 and resp.json["error"]["details"]["field"] == "center_school_id"
    assert "超出允许的范围" in resp.json["error"]["message"]
    assert _villages(session) == before


# --- text -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    b'{"name": "\\u0000", "center_school_id": 1}',
    b'{"name": "a\\ud800b", "center_school_id": 1}',
    b'{"name": "ok", "center_school_id": 1, "\\udfff": 1}',
])
def test_nul_or_a_lone_surrogate_anywhere_in_json_is_422(world, api, session, raw):
    resp = api.as_user(world["admin"]).post("/villages", data=raw, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and resp.json["error"]["code"] == "invalid_text"
    assert "NUL" in resp.json["error"]["message"]
    assert _villages(session) == 3


@pytest.mark.parametrize("name", ["北山\x07村", "北山\n村", "北山\u2028村"])
def test_a_name_with_control_characters_is_422(world, api, session, name):
    resp = api.as_user(world["admin"]).post("/villages", json={"name": name, "center_school_id": world.center.id})
    assert resp.status_code == 422 and resp.json["error"]["details"]["field"] == "name"
    assert "控制字符" in resp.json["error"]["message"]


def test_nul_in_a_query_is_422(world, api):
    resp = api.as_user(world["admin"]).get("/classes?school_year=2026%00")
    assert resp.status_code == 422 and resp.json["error"]["details"]["field"] == "school_year"


# --- JSON shape and size ----------------------------------------------------------------------------


def test_json_nested_50000_deep_is_422_not_a_crash(world, api):
    resp = api.as_user(world["admin"]).post("/villages", data=b"[" * 50000 + b"]" * 50000,
                                            headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and "嵌套" in resp.json["error"]["message"]


def test_json_33_deep_is_refused_and_brackets_in_strings_do_not_count(world, api, session):
    deep = b'{"name": "x", "center_school_id": 1, "a": ' + b"[" * 33 + b"]" * 33 + b"}"
    resp = api.as_user(world["admin"]).post("/villages", data=deep, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and "嵌套" in resp.json["error"]["message"]
    name = "[村{" * 12  # brackets inside a string are text
    resp = api.as_user(world["admin"]).post("/villages", json={"name": name, "center_school_id": world.center.id})
    assert resp.status_code == 201


def test_a_json_body_over_one_megabyte_is_refused_before_parsing(world, api):
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'", "center_school_id": 1}'
    resp = api.as_user(world["admin"]).post("/villages", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and "过大" in resp.json["error"]["message"]


# --- dates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "2101-01-01", "9999-12-31"])
def test_a_sweep_for_a_date_outside_1900_to_2100_is_422_in_chinese(world, api, day):
    resp = api.as_user(world["admin"]).post("/sweep", json={"date": day})
    assert resp.status_code == 422 and resp.json["error"]["details"]["field"] == "date"
    assert "1900–2100" in resp.json["error"]["message"]


def test_a_report_date_of_year_one_is_422(world, api):
    resp = api.as_user(world["admin"]).get(f"/reports/weekly?school_id={world.branch.id}&week_of=0001-01-01")
    assert resp.status_code == 422 and resp.json["error"]["details"]["field"] == "week_of"


# --- multipart --------------------------------------------------------------------------------------


def _multipart(parts: list[tuple[str | None, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "XyZboundary"
    out = b""
    for name, filename, content in parts:
        disposition = "form-data"
        if name is not None:
            disposition += f'; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("url", ["/catchment/import", "/exams/import"])
def test_a_multipart_part_without_a_name_is_422(world, api, url):
    body, content_type = _multipart([(None, None, b"x"), ("file", "a.xlsx", b"PK\x03\x04")])
    resp = api.as_user(world["admin"]).post(url, data=body, headers={"Content-Type": content_type})
    assert resp.status_code == 422 and "未命名" in resp.json["error"]["message"]


def test_a_multipart_field_with_nul_is_422(world, api):
    body, content_type = _multipart([("village_id", None, b"1\x00"), ("file", "a.xlsx", b"PK\x03\x04")])
    resp = api.as_user(world["admin"]).post("/catchment/import", data=body, headers={"Content-Type": content_type})
    assert resp.status_code == 422


# --- .xlsx limits -----------------------------------------------------------------------------------


def _xlsx(rows) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _with_dimension(data: bytes, ref: str | None) -> bytes:
    """The workbook with its first sheet's <dimension ref> rewritten (a small file that lies), or
    without it (None)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                start = content.index(b'<dimension ref="')
                end = content.index(b"/>", start) + 2
                element = b"" if ref is None else f'<dimension ref="{ref}"/>'.encode()
                content = content[:start] + element + content[end:]
            dst.writestr(info, content)
    return out.getvalue()


def test_a_small_file_claiming_a1_xfd4000_is_refused_before_parsing(monkeypatch):
    data = _with_dimension(_xlsx([["姓名"], ["王小明"]]), "A1:XFD4000")
    assert len(data) < 32 * 1024

    def parse(*_a, **_k):
        raise AssertionError("openpyxl must not parse a file refused by its declared size")

    monkeypatch.setattr("openpyxl.load_workbook", parse)
    with pytest.raises(Invalid, match="列"):
        read_xlsx_rows(data, max_rows=5000, max_cols=40)
    with pytest.raises(Invalid, match="行"):
        check_xlsx_size(_with_dimension(_xlsx([["a"]]), "A1:B900000"), max_rows=5000, max_cols=40)


def test_rows_columns_and_uncompressed_bytes_are_limited_also_without_a_declaration():
    with pytest.raises(Invalid, match="6 行"):
        read_xlsx_rows(_xlsx([[i] for i in range(7)]), max_rows=6)
    wide = _xlsx([["a"] * 3 + [None] * 10 + ["far"]])
    with pytest.raises(Invalid, match="5 列"):
        read_xlsx_rows(_with_dimension(wide, None), max_rows=10, max_cols=5)
    with pytest.raises(Invalid, match="MB"):
        check_xlsx_size(_xlsx([["x" * 1000] for _ in range(300)]), max_rows=1000, max_bytes=100_000)
    assert read_xlsx_rows(_xlsx([["姓名", "分数"], ["王小明", 90]]), max_rows=10) == [("姓名", "分数"), ("王小明", 90)]


@pytest.mark.parametrize("data", [b"", b"\xd0\xcf\x11\xe0old xls", b"name,score", b"PK\x03\x04broken"])
def test_anything_but_an_xlsx_zip_is_not_xlsx(data):
    with pytest.raises(NotXlsx):
        read_xlsx_rows(data, max_rows=10)


def test_the_catchment_import_refuses_a_declared_xfd_sheet_with_422(world, api):
    data = _with_dimension(_xlsx([["村", "姓名"], ["东坡村", "王小明"]]), "A1:XFD4000")
    resp = api.as_user(world["center_office"]).post(
        "/catchment/import", data={"village_id": str(world.village.id), "file": (io.BytesIO(data), "a.xlsx")},
        content_type="multipart/form-data")
    assert resp.status_code == 422 and resp.json["error"]["details"]["field"] == "file"


def test_defusedxml_is_installed_so_openpyxl_parses_safely():
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML


# --- pages ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    f"/admin/student/edit/?id={HUGER}", "/admin/student/details/?id=²", f"/cases/{HUGER}",
    f"/registers/catchment?village_id={HUGER}", "/registers/catchment?village_id=²",
    "/monthly/?school_id=²", "/school-year?school_id=²", "/reports/weekly/export?school_id=²",
])
def test_pages_answer_404_for_ids_out_of_range_or_not_ascii(world, login, url):
    assert login(world["admin"]).get(url).status_code == 404


def test_attendance_form_with_superscript_digits_is_a_page_error_not_a_500(world, login):
    client = login(world["teacher"])
    token = csrf_token_from(client.get("/attendance").get_data(as_text=True))
    resp = client.post("/attendance", data={"csrf_token": token, "class_id": "²", "date": "2026-10-12",
                                            "status-²": "unexcused"})
    assert resp.status_code in (302, 303)
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "输入有误" in page
