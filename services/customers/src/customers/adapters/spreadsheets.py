"""Spreadsheet files, streamed: csv (the csv module) and xlsx (xlsx_stream), so
neither side ever holds a whole file's rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import IO

from crosstalk_common.errors import InvalidArgument
from customers.adapters.xlsx_stream import XlsxError, XlsxRows, XlsxWriter
from customers.domain.imports import FileFormat

# Characters the XML of a workbook cannot hold.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# A text cell a spreadsheet program would run as a formula, unless quoted.
_FORMULA_START = ("=", "@", "\t", "\r")
_SIGNED_NUMBER = re.compile(r"^[+-][0-9 ()./-]*$")


def _unreadable(why: str) -> InvalidArgument:
    return InvalidArgument.field("content", why)


class _CsvRows:
    """Rows of a UTF-8 csv file; the delimiter (comma, semicolon or tab) is read off the header."""

    def __init__(self, file: IO[bytes]) -> None:
        # Lines, for the progress total (a quoted cell may hold more than one).
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b""))
        file.seek(0)
        self._text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
        try:
            first = self._text.readline()
            self._text.seek(0)
        except UnicodeDecodeError:
            raise _unreadable("a csv file must be UTF-8 encoded") from None
        delimiter = max(",;\t", key=lambda d: (first.count(d), d == ","))
        self._reader = csv.reader(self._text, delimiter=delimiter)
        self.header: list[str] = []
        self._number = 0
        for cells in self._records():
            if any(c.strip() for c in cells):
                self.header = [c.strip() for c in cells]
                break
        if not self.header:
            raise _unreadable("the file is empty: its first row must name the columns")
        self.size_hint = max(lines - self._number, 0)

    def _records(self) -> Iterator[list[str]]:
        try:
            for cells in self._reader:
                self._number += 1
                yield cells
        except UnicodeDecodeError:
            raise _unreadable(
                f"a csv file must be UTF-8 encoded (row {self._number + 1} is not)"
            ) from None
        except csv.Error as exc:
            raise _unreadable(f"row {self._number + 1} is not readable csv: {exc}") from None

    def rows(self) -> Iterator[tuple[int, list[object]]]:
        for cells in self._records():
            if any(c.strip() for c in cells):
                yield self._number, list(cells)

    def close(self) -> None:
        self._text.detach()


class _XlsxRows:
    """Rows of the first sheet of a workbook, read lazily (see xlsx_stream)."""

    def __init__(self, file: IO[bytes]) -> None:
        try:
            self._book = XlsxRows(file)
        except XlsxError as exc:
            raise _unreadable(f"not a readable xlsx workbook ({exc})") from None
        self._rows = self._book.rows()
        self.header: list[str] = []
        header_row = 0
        while not self.header and (item := self._next()) is not None:
            number, values = item
            if any(_filled(v) for v in values):
                self.header = ["" if v is None else str(v).strip() for v in values]
                header_row = number
        if not self.header:
            self._book.close()
            raise _unreadable("the sheet is empty: its first row must name the columns")
        self.size_hint = max(self._book.dimension_rows - header_row, 0)

    def _next(self) -> tuple[int, list[object]] | None:
        try:
            return next(self._rows, None)
        except XlsxError as exc:
            raise _unreadable(f"not a readable xlsx workbook ({exc})") from None

    def rows(self) -> Iterator[tuple[int, list[object]]]:
        while (item := self._next()) is not None:
            if any(_filled(v) for v in item[1]):
                yield item

    def close(self) -> None:
        self._book.close()


def _filled(value: object) -> bool:
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


class SpreadsheetReader:
    """Opens an import file (a seekable binary file) as a header and numbered rows."""

    def open(self, file: IO[bytes], file_format: FileFormat) -> _CsvRows | _XlsxRows:
        if file_format is FileFormat.CSV:
            return _CsvRows(file)
        return _XlsxRows(file)


# --- writing --------------------------------------------------------------------


def _naive_utc(value: datetime) -> datetime:
    """Workbooks have no time zones: times are written in UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    # A leading apostrophe keeps spreadsheet programs from running the text as
    # a formula; the importer takes it off again.
    if text.startswith(_FORMULA_START) or (
        text.startswith(("+", "-")) and not _SIGNED_NUMBER.match(text)
    ):
        return "'" + text
    return text


class _CsvWriter:
    def __init__(self, file: IO[bytes], header: Sequence[str]) -> None:
        # With a byte order mark, spreadsheet programs read the file as UTF-8.
        self._text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
        self._writer = csv.writer(self._text)
        self._writer.writerow(header)

    def append(self, values: Sequence[object]) -> None:
        self._writer.writerow([_csv_cell(v) for v in values])

    def close(self) -> None:
        self._text.flush()
        self._text.detach()


class _XlsxWriter:
    def __init__(self, file: IO[bytes], header: Sequence[str]) -> None:
        self._book = XlsxWriter(file, "Customers")
        self._book.append(list(header))

    def append(self, values: Sequence[object]) -> None:
        # Inline strings are text, never formulas, whatever they start with.
        self._book.append(values)

    def close(self) -> None:
        self._book.close()


class SpreadsheetWriter:
    """Writes an export file (header first) into a binary file."""

    def open(
        self, file: IO[bytes], file_format: FileFormat, header: Sequence[str]
    ) -> _CsvWriter | _XlsxWriter:
        if file_format is FileFormat.CSV:
            return _CsvWriter(file, header)
        return _XlsxWriter(file, header)
