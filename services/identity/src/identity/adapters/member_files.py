"""Reading member files: CSV (csv module) and XLSX (openpyxl, read-only mode)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime
from typing import Any

from openpyxl import load_workbook

from crosstalk_common.errors import InvalidArgument
from identity.domain.importing import MAX_ROWS, Sheet

# 20,000 members' rows unpack to a few MiB.
MAX_UNPACKED_BYTES = 64 * 1024 * 1024

CSV = "csv"
XLSX = "xlsx"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phone numbers typed as numbers
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _too_many() -> InvalidArgument:
    return InvalidArgument.field("content", f"the file has more than {MAX_ROWS} data rows")


def _sheet(rows: list[tuple[int, list[str]]]) -> Sheet:
    header: list[str] = []
    data: list[tuple[int, list[str]]] = []
    for number, cells in rows:
        if not header:
            if any(cells):
                header = cells
            continue
        if any(cells):
            data.append((number, cells))
    if not header:
        raise InvalidArgument.field(
            "content", "the file is empty: the first row must name the columns"
        )
    return Sheet(header=header, rows=data)


class MemberFileReader:
    """Turns file bytes into a header and numbered rows (row 1 is the header)."""

    def read(self, content: bytes, file_format: str) -> Sheet:
        if file_format == CSV:
            return self._csv(content)
        if file_format == XLSX:
            return self._xlsx(content)
        raise InvalidArgument.field("format", "must be FILE_FORMAT_CSV or FILE_FORMAT_XLSX")

    @staticmethod
    def _csv(content: bytes) -> Sheet:
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidArgument.field("content", "a CSV file must be UTF-8 encoded") from None
        # The header row decides the delimiter: comma, or the semicolon some
        # spreadsheet programs write, or a tab.
        first_line = text.split("\n", 1)[0]
        delimiter = max(",;\t", key=lambda d: (first_line.count(d), d == ","))
        rows: list[tuple[int, list[str]]] = []
        try:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            for number, cells in enumerate(reader, start=1):
                rows.append((number, [c.strip() for c in cells]))
                if number > MAX_ROWS + 1:
                    raise _too_many()
        except csv.Error as exc:
            raise InvalidArgument.field("content", f"not a readable CSV file: {exc}") from None
        return _sheet(rows)

    @staticmethod
    def _xlsx(content: bytes) -> Sheet:
        try:
            # What the parts unpack to, as the zip declares it (a part is never read
            # past its declared size): a few rows' workbook that unpacks to
            # gigabytes of shared strings is a zip bomb, refused before openpyxl
            # holds them in memory.
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > MAX_UNPACKED_BYTES:
                raise InvalidArgument.field(
                    "content", f"the workbook unpacks to more than {MAX_UNPACKED_BYTES:,} bytes"
                )
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise InvalidArgument.field(
                "content", f"not a readable xlsx workbook ({type(exc).__name__})"
            ) from None
        try:
            if not workbook.worksheets:
                raise InvalidArgument.field("content", "the workbook has no sheet")
            sheet = workbook.worksheets[0]
            rows: list[tuple[int, list[str]]] = []
            for number, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), start=1):
                rows.append((number, [_text(v) for v in values]))
                if number > MAX_ROWS + 1:
                    raise _too_many()
        finally:
            workbook.close()
        return _sheet(rows)
