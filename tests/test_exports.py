"""Exports (issue 11 item 4): a cell someone typed as a formula comes out inert in every
spreadsheet the app writes — Flask-Admin's xlsx and csv, the catchment register (page and API)
and the ledgers — and a download's name cannot break its Content-Disposition header."""
from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from admin.downloads import content_disposition
from models import CatchmentChild
from workflow.spreadsheets import csv_cell, csv_text, xlsx_bytes

EVIL = '=HYPERLINK("http://x","y")'


def _xlsx_cells(data: bytes) -> dict[str, object]:
    """Every non-empty cell's value, and proof that no cell of the file is a formula."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name), f"a formula in {name}"
    ws = load_workbook(io.BytesIO(data)).active
    out = {}
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is not None:
                assert cell.data_type != "f", cell.coordinate
                out[cell.coordinate] = cell.value
    return out


def _assert_xlsx_inert(data: bytes):
    values = list(_xlsx_cells(data).values())
    assert EVIL in values  # the text as typed, as plain text


def _assert_csv_inert(text: str):
    cells = [c for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for c in row]
    assert "'" + EVIL in cells and EVIL not in cells


# --- the helper itself ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [EVIL, "+1+2", "-3", "@SUM(A1)", "\tx", "\rx"])
def test_every_formula_start_is_neutralised_in_csv_and_xlsx(text):
    assert csv_cell(text) == "'" + text
    wb = Workbook()
    wb.active.append([text, "王小明", 7])
    ws = load_workbook(io.BytesIO(xlsx_bytes(wb))).active
    # (XML keeps a carriage return as a line feed: still text, not a formula)
    assert ws["A1"].data_type == "s" and ws["A1"].value == text.replace("\r", "\n")
    assert ws["B1"].value == "王小明" and ws["C1"].value == 7


def test_plain_text_numbers_and_empty_cells_are_left_alone():
    assert [csv_cell(v) for v in ("王小明", 5, None, "a=b")] == ["王小明", "5", "", "a=b"]
    assert csv_text([["姓名"], ["王小明"]]).startswith("\ufeff姓名")


# --- every export --------------------------------------------------------------------------------


@pytest.fixture
def evil_world(world, factory, session):
    factory.student(world.klass, world.village, name=EVIL)
    session.add(CatchmentChild(village_id=world.village.id, name=EVIL, gender="M", birth_date=dt.date(2016, 1, 1),
                               household_status="local", status="enrolled_here", notes="-1+1"))
    session.commit()
    return world


@pytest.mark.parametrize("url", ["/admin/student/export/xlsx/", "/admin/catchmentchild/export/xlsx/"])
def test_flask_admin_xlsx_export_writes_a_typed_formula_as_text(evil_world, login, url):
    resp = login(evil_world["admin"]).get(url)
    assert resp.status_code == 200
    _assert_xlsx_inert(resp.data)


@pytest.mark.parametrize("url", ["/admin/student/export/csv/", "/admin/catchmentchild/export/csv/"])
def test_flask_admin_csv_export_prefixes_a_typed_formula(evil_world, login, url):
    resp = login(evil_world["admin"]).get(url)
    assert resp.status_code == 200
    _assert_csv_inert(resp.get_data(as_text=True))
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]


def test_catchment_register_export_page_and_api_write_a_typed_formula_as_text(evil_world, login, api):
    resp = login(evil_world["office"]).get(f"/registers/catchment/export?village_id={evil_world.village.id}")
    assert resp.status_code == 200
    _assert_xlsx_inert(resp.data)
    assert "-1+1" in _xlsx_cells(resp.data).values()
    resp = api.as_user(evil_world["office"]).get(f"/api/v1/catchment/export?village_id={evil_world.village.id}")
    assert resp.status_code == 200
    _assert_xlsx_inert(resp.data)


def test_ledger_export_writes_a_typed_formula_as_text(evil_world, login):
    resp = login(evil_world["supervisor"]).get(
        f"/registers/ledgers/export?kind=children&county_id={evil_world.county.id}")
    assert resp.status_code == 200
    _assert_xlsx_inert(resp.data)


def test_a_village_name_with_a_newline_and_quotes_still_downloads(world, session, login):
    world.village.name = '东坡"村\r\nSet-Cookie: x=1'
    session.commit()
    resp = login(world["office"]).get(f"/registers/catchment/export?village_id={world.village.id}")
    assert resp.status_code == 200
    header = resp.headers["Content-Disposition"]
    assert "\n" not in header and "\r" not in header and "Set-Cookie" not in resp.headers
    assert header.startswith('attachment; filename="') and "filename*=UTF-8''" in header


@pytest.mark.parametrize(("name", "fallback"), [
    ("东坡村登记表.xlsx", "______.xlsx"),
    ('a"b\\c\n.csv', "a_b_c.csv"),
    ("", "download"),
])
def test_content_disposition_has_an_ascii_fallback_and_the_encoded_name(name, fallback):
    header = content_disposition(name)
    assert f'filename="{fallback}"' in header
    assert all(32 <= ord(ch) < 127 for ch in header)
