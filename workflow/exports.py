"""Excel (.xlsx) tables of the report pages (issue 12): the weekly report and the class figures.

The page passes its headers already in the user's language and the rows as shown; this module
only lays them out (a title row, a frozen header, rates as percentages) and saves them through
`workflow.spreadsheets.xlsx_bytes`, so a name typed by a user never runs as a formula.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from numbers import Number

from openpyxl import Workbook
from openpyxl.styles import Font

from workflow.spreadsheets import xlsx_bytes

_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def table_xlsx(title: str, headers: Sequence[str], rows: Sequence[Sequence], *,
               percent_columns: Sequence[int] = (), footer: Sequence[Sequence] = (),
               notes: Sequence[str] = ()) -> bytes:
    """One sheet: `title` in A1, the header row, `rows`, `footer` rows in bold (totals), then
    `notes` lines. Columns listed in `percent_columns` (0-based) hold fractions shown as 0.00%."""
    wb = Workbook()
    ws = wb.active
    ws.title = _SHEET_FORBIDDEN.sub("", title)[:31] or "Sheet1"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(list(headers))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
    for row in footer:
        ws.append(list(row))
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    last_data_row = ws.max_row
    for col in percent_columns:
        for (cell,) in ws.iter_rows(min_row=3, max_row=last_data_row, min_col=col + 1, max_col=col + 1):
            if isinstance(cell.value, Number):
                cell.number_format = "0.00%"
    for line in notes:
        ws.append([line])
    ws.freeze_panes = "A3"
    for i, header in enumerate(headers):
        ws.column_dimensions[ws.cell(row=2, column=i + 1).column_letter].width = max(8, min(30, 2 * len(str(header)) + 2))
    return xlsx_bytes(wb)
