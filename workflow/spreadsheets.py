"""Spreadsheets in and out: the one place that reads an uploaded .xlsx and the one place that
makes an exported cell safe.

Reading — `read_xlsx_rows(data, max_rows=..., max_cols=..., max_bytes=...)` returns the rows of
the first worksheet as tuples of cell values (Excel row 1 first). It refuses, BEFORE openpyxl
parses anything, a file that is not an .xlsx zip, whose zip directory declares more than
`max_bytes` uncompressed, or whose worksheets declare (`<dimension ref="A1:XFD4000">`) more
rows or columns than allowed; while reading, a file whose actual rows or columns exceed the
limits (the declaration may be absent or lie). A 32 KB file claiming `A1:XFD4000` would otherwise
make openpyxl pad 4,000 rows to 16,384 columns (600 MB). Errors are `Invalid` with code
`invalid_file` and `details.field` = "file"; "not an .xlsx" is the subclass `NotXlsx`, so a
caller may word that one itself. openpyxl parses the XML with `defusedxml` when it is installed
(it is a requirement): no entity expansion, no external entities.

    rows = read_xlsx_rows(data, max_rows=5000, max_cols=30)   # [(v1, v2, ...), ...]

Writing — a text cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is
read as a formula by Excel, WPS and LibreOffice (`=HYPERLINK("http://evil","点这里")`). Every
export neutralises such cells, in one of two ways:
- csv (`csv_cell`, `csv_text`): the text gets a leading apostrophe (`'=HYPERLINK(...)`), the
  OWASP advice; spreadsheet programs show the apostrophe-free text as text.
- xlsx (`neutralise_sheet`, `xlsx_bytes`): the cell is written as an explicit string
  (`t="inlineStr"`) with the "quote prefix" style, so its text stays exactly what was typed
  (an exported register re-imports unchanged) and Excel keeps it text even when edited.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections import defaultdict

from openpyxl.utils.cell import column_index_from_string

from workflow.errors import N_, Invalid, Msg

DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # uncompressed, all parts of the zip together
DEFAULT_MAX_COLS = 50
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})?(\d+)?(?::([A-Z]{1,3})(\d+))?"')
_DIMENSION_SCAN_BYTES = 64 * 1024  # <dimension> comes before the sheet data, near the start
TOO_MANY_ROWS = N_("文件超过 %(n)d 行，请分开上传")
TOO_MANY_COLUMNS = N_("文件超过 %(n)d 列，请只保留需要的列")


class NotXlsx(Invalid):
    """The upload is not an .xlsx workbook (empty, an old .xls, not a zip, a broken zip)."""

    def __init__(self, message: Msg = N_("文件不是 Excel（.xlsx）文件")):
        super().__init__(message, code="invalid_file", details={"field": "file"})


def _too_large(message: Msg, **params) -> Invalid:
    return Invalid(message, code="invalid_file", details={"field": "file"}, **params)


def check_xlsx_size(data: bytes, *, max_rows: int, max_cols: int = DEFAULT_MAX_COLS,
                    max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Refuse `data` before parsing: NotXlsx when it is no .xlsx zip; Invalid when the zip
    directory declares more than `max_bytes` uncompressed or a worksheet declares more than
    `max_rows` rows or `max_cols` columns."""
    if not data:
        raise NotXlsx(N_("文件是空的"))
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise NotXlsx(N_("这是旧版 Excel（.xls）文件，请在 Excel 或 WPS 中另存为 .xlsx 后再上传"))
    if data[:4] != b"PK\x03\x04":
        raise NotXlsx()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if sum(i.file_size for i in infos) > max_bytes:
                raise _too_large(N_("文件解压后超过 %(n)d MB，请分开上传"), n=max_bytes // (1024 * 1024))
            for info in infos:
                if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                    with archive.open(info) as part:
                        head = part.read(_DIMENSION_SCAN_BYTES)
                    _check_dimension(head, max_rows, max_cols)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError, ValueError):
        raise NotXlsx() from None


def _check_dimension(head: bytes, max_rows: int, max_cols: int) -> None:
    found = _DIMENSION.search(head)
    if not found:
        return  # no declaration: the limits are enforced while reading
    first_col, first_row, last_col, last_row = found.groups()
    col = last_col or first_col
    row = last_row or first_row
    if col and column_index_from_string(col.decode()) > max_cols:
        raise _too_large(TOO_MANY_COLUMNS, n=max_cols)
    if row and int(row) > max_rows:
        raise _too_large(TOO_MANY_ROWS, n=max_rows)


def read_xlsx_rows(data: bytes, *, max_rows: int, max_cols: int = DEFAULT_MAX_COLS,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> list[tuple]:
    """The rows (tuples of at most `max_cols` values) of the first worksheet. Raises NotXlsx
    for anything that is not an .xlsx workbook, Invalid (`invalid_file`) when the file declares
    or holds more than `max_rows` rows, `max_cols` columns or `max_bytes` uncompressed."""
    check_xlsx_size(data, max_rows=max_rows, max_cols=max_cols, max_bytes=max_bytes)
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        # read-only: rows are streamed from the sheet XML instead of building every cell first
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError, TypeError,
            IndexError, SyntaxError):
        raise NotXlsx() from None
    try:
        if not workbook.worksheets:
            raise NotXlsx()
        rows = []
        for values in workbook.worksheets[0].iter_rows(values_only=True):
            if len(rows) >= max_rows:
                raise _too_large(TOO_MANY_ROWS, n=max_rows)
            if len(values) > max_cols:
                if any(v is not None for v in values[max_cols:]):
                    raise _too_large(TOO_MANY_COLUMNS, n=max_cols)
                values = values[:max_cols]
            rows.append(tuple(values))
        return rows
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError, IndexError, SyntaxError):
        raise NotXlsx() from None
    finally:
        workbook.close()


# --- writing --------------------------------------------------------------------------------------


# A date typed by hand: 2016-05-01, 2016/5/1, 2016.5.1, 2016年5月1日 (20160501 is handled apart).
_DATE_RE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def cell_text(value) -> str:
    """A cell as the text a person typed: None is "", 12.0 is "12" (Excel stores numbers as
    floats), a date-time is its date."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dt.datetime):
        value = value.date()
    return str(value).strip()


def data_rows(rows, columns: dict[str, int]):
    """The rows that are not blank, as (Excel row number, cells): `rows` are (number, values)
    pairs after the header, `columns` the header's key -> column index; `cells[key]` is the text
    of that column ("" when the row is short or the file has no such column)."""
    for number, values in rows:
        if not any(cell_text(v) for v in values):
            continue
        cells = defaultdict(str, {key: cell_text(values[i]) for key, i in columns.items() if i < len(values)})
        yield number, cells


def cell_date(value) -> dt.date | None:
    """A date cell, or text like 2016-05-01, 2016/5/1, 2016.5.1, 2016年5月1日, 20160501; None
    when it is not a real date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = cell_text(value)
    m = _DATE_RE.match(text)
    parts = m.groups() if m else ((text[:4], text[4:6], text[6:]) if re.fullmatch(r"\d{8}", text) else None)
    if parts is None:
        return None
    try:
        return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def is_formula_like(value) -> bool:
    """True for text a spreadsheet program would read as a formula (or a DDE call)."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_cell(value) -> str:
    """A value as csv text: None is empty; formula-like text gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if is_formula_like(text) else text


def csv_text(rows) -> str:
    """Rows (the header first) as csv text with a BOM (so Excel opens it as UTF-8), every cell
    through `csv_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return "\ufeff" + buf.getvalue()


def neutralise_sheet(ws) -> None:
    """Every formula-like text cell of the worksheet `ws` becomes an explicit, quote-prefixed
    string (openpyxl stores text beginning with "=" as a formula otherwise)."""
    for row in ws.iter_rows():
        for cell in row:
            if is_formula_like(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True


def xlsx_bytes(workbook) -> bytes:
    """The workbook saved as .xlsx bytes, every sheet through `neutralise_sheet` first: the one
    way an export saves a workbook."""
    for ws in workbook.worksheets:
        neutralise_sheet(ws)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
