"""Report files as csv or xlsx (openpyxl, write-only: one sheet per metric)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from openpyxl import Workbook

from reporting.domain.reports import FileFormat, Table

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"
_SHEET_TITLE = 31  # Excel's limit


class SpreadsheetRenderer:
    def render(self, tables: Sequence[Table], format: FileFormat) -> tuple[bytes, str]:
        if format is FileFormat.XLSX:
            return _xlsx(tables), XLSX_TYPE
        return _csv(tables), CSV_TYPE


def _csv(tables: Sequence[Table]) -> bytes:
    """One block per metric: a line naming it, its header, its rows, a blank line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for table in tables:
        writer.writerow(["metric", table.title])
        writer.writerow(table.header)
        writer.writerows([_cell_text(v) for v in row] for row in table.rows)
        writer.writerow([])
    return out.getvalue().encode("utf-8")


def _cell_text(value: object) -> object:
    # A value a spreadsheet would run as a formula is written as text.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _xlsx(tables: Sequence[Table]) -> bytes:
    book = Workbook(write_only=True)
    used: set[str] = set()
    for table in tables:
        title = table.title[:_SHEET_TITLE]
        n = 2
        while title in used:
            suffix = f" ({n})"
            title = table.title[: _SHEET_TITLE - len(suffix)] + suffix
            n += 1
        used.add(title)
        sheet = book.create_sheet(title)
        sheet.append(list(table.header))
        for row in table.rows:
            sheet.append([_cell_text(v) for v in row])
    if not tables:
        book.create_sheet("report")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
