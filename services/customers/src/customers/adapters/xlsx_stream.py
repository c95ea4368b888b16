"""Workbooks (xlsx) read and written as streams of rows.

An xlsx file is a zip of XML parts. Reading walks the first sheet's XML with
an incremental parser and keeps one row at a time (plus the shared strings
table); writing streams rows of inline strings into the sheet part. Both are
several times faster than openpyxl's read-only and write-only workbooks,
whose per-cell objects cost about 20 µs each; openpyxl still supplies the
date formats and the Excel calendar.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import IO, Literal
from xml.etree.ElementTree import Element, ParseError, XMLParser, iterparse
from xml.sax.saxutils import escape

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.cell import column_index_from_string, get_column_letter
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

_DOCUMENT = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")
# Characters XML 1.0 cannot hold.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class XlsxError(Exception):
    """The file is not a workbook this reader understands."""


# The most a part may hold uncompressed, and the most cells a row may hold (Excel's
# columns). A zip deflates repeated text about a thousandfold: within the upload
# limit a part could otherwise unpack to gigabytes (a "zip bomb"), held in memory
# as shared strings or as one endless row.
MAX_PART_BYTES = 256 * 1024 * 1024
MAX_COLUMNS = 16_384


class _NoDtd:
    """A part's bytes, refused if they declare a DTD or entities (workbooks need
    none, and entity tricks, billion laughs or external entities, need one) or
    unpack to more than MAX_PART_BYTES."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._tail = b""
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._read += len(data)
        if self._read > MAX_PART_BYTES:
            raise ValueError(f"a workbook part unpacks to more than {MAX_PART_BYTES:,} bytes")
        seen = (self._tail + data).upper()
        if b"<!DOCTYPE" in seen or b"<!ENTITY" in seen:
            raise ValueError("a workbook part declares a DTD")
        self._tail = seen[-8:]
        return data


def _parse(
    stream: IO[bytes], events: Sequence[Literal["start", "end"]] = ("end",)
) -> Iterator[tuple[str, Element]]:
    return iterparse(_NoDtd(stream), events)  # noqa: S314 (no DTD gets through _NoDtd)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _attribute(element: Element, name: str) -> str:
    """An attribute by local name (relationship ids are namespaced)."""
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return ""


class _Tags:
    """The qualified tags of a part, in the namespace of its root element
    (transitional or strict OOXML)."""

    def __init__(self, root_tag: str) -> None:
        ns = root_tag[: root_tag.rfind("}") + 1]
        self.sheet_data = f"{ns}sheetData"
        self.row = f"{ns}row"
        self.cell = f"{ns}c"
        self.value = f"{ns}v"
        self.inline = f"{ns}is"
        self.text = f"{ns}t"
        self.run = f"{ns}r"
        self.dimension = f"{ns}dimension"
        self.item = f"{ns}si"
        self.phonetic = f"{ns}rPh"


def _text(element: Element, tags: _Tags) -> str:
    """The text of a string item: <t>, or the <t> of each rich-text run (not phonetic runs)."""
    parts: list[str] = []
    for child in element:
        if child.tag == tags.text:
            parts.append(child.text or "")
        elif child.tag == tags.run:
            parts.extend(t.text or "" for t in child if t.tag == tags.text)
    return "".join(parts)


_CHUNK_BYTES = 1 << 16


class _SheetRows:
    """A parser target that turns a sheet's XML into rows as it is fed.

    Called back per tag and text run, it builds no elements: only the values
    of the row under way, and the rows completed since the last take().
    """

    def __init__(self, book: XlsxRows) -> None:
        self._book = book
        self._tags: _Tags | None = None
        self._done: list[tuple[int, list[object]]] = []
        self.number = 0
        self._row_ref = ""
        self._cells: dict[int, object] = {}
        # The cell under way: its reference, type and style, <v> text and inline string.
        self._ref = ""
        self._kind = "n"
        self._style = ""
        self._raw = ""
        self._inline: list[str] | None = None
        self._phonetic = False
        # Text being collected (inside <v>, or a <t> of an inline string), else None.
        self._text: list[str] | None = None

    def take(self) -> list[tuple[int, list[object]]]:
        done, self._done = self._done, []
        return done

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        tags = self._tags
        if tags is None:
            tags = self._tags = _Tags(tag)
        if tag == tags.cell:
            self._ref = attrib.get("r", "")
            self._kind = attrib.get("t", "n")
            self._style = attrib.get("s", "")
            self._raw = ""
            self._inline = None
        elif tag == tags.value:
            self._text = []
        elif tag == tags.text:
            if self._inline is not None and not self._phonetic:
                self._text = []
        elif tag == tags.inline:
            self._inline = []
        elif tag == tags.phonetic:
            self._phonetic = True
        elif tag == tags.row:
            self._row_ref = attrib.get("r", "")
            self._cells = {}
        elif tag == tags.dimension:
            refs = _CELL_REF.findall(attrib.get("ref", ""))
            self._book.dimension_rows = int(refs[-1][1]) if refs else 0

    def data(self, text: str) -> None:
        if self._text is not None:
            self._text.append(text)

    def end(self, tag: str) -> None:
        tags = self._tags
        assert tags is not None, "an end follows a start"
        if tag == tags.cell:
            match = _CELL_REF.match(self._ref)
            column = column_index_from_string(match.group(1)) - 1 if match else len(self._cells)
            if column >= MAX_COLUMNS:
                raise ValueError(f"a row has more than {MAX_COLUMNS:,} columns")
            inline = None if self._inline is None else "".join(self._inline)
            self._cells[column] = self._book._value(self._kind, self._raw, inline, self._style)
        elif tag == tags.value:
            if self._text is not None:
                self._raw = "".join(self._text)
            self._text = None
        elif tag == tags.text:
            if self._text is not None and self._inline is not None:
                self._inline.append("".join(self._text))
            self._text = None
        elif tag == tags.phonetic:
            self._phonetic = False
        elif tag == tags.row:
            self.number = int(self._row_ref) if self._row_ref else self.number + 1
            cells = self._cells
            self._done.append(
                (self.number, [cells.get(i) for i in range(max(cells, default=-1) + 1)])
            )
            self._cells = {}


class XlsxRows:
    """The first sheet of a workbook: its rows (1-based numbers) as lists of values."""

    def __init__(self, file: IO[bytes]) -> None:
        try:
            self._zip = zipfile.ZipFile(file)
            sheet, strings, styles = self._parts()
            self._strings = self._shared_strings(strings)
            self._dates, self._epoch = self._date_styles(styles)
            self._sheet = self._zip.open(sheet)
        except (zipfile.BadZipFile, KeyError, ParseError, ValueError, OSError) as exc:
            raise XlsxError(type(exc).__name__) from exc
        self.dimension_rows = 0

    def _relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """Id -> (type, target part) of a part's relationships."""
        folder, name = posixpath.split(part)
        rels = posixpath.join(folder, "_rels", f"{name}.rels")
        if rels not in self._zip.NameToInfo:
            return {}
        found = {}
        for _, element in _parse(self._zip.open(rels)):
            if _local(element.tag) == "Relationship":
                target = element.get("Target", "")
                path = (
                    target.lstrip("/")
                    if target.startswith("/")
                    else posixpath.normpath(posixpath.join(folder, target))
                )
                found[element.get("Id", "")] = (element.get("Type", ""), path)
        return found

    def _parts(self) -> tuple[str, str, str]:
        """The first sheet, the shared strings and the styles ("" when absent)."""
        workbook = next(
            (
                path
                for kind, path in self._relationships("").values()
                if kind.endswith("/officeDocument")
            ),
            "xl/workbook.xml",
        )
        rels = self._relationships(workbook)
        first = ""
        self._date1904 = False
        for _, element in _parse(self._zip.open(workbook)):
            name = _local(element.tag)
            if name == "workbookPr":
                self._date1904 = element.get("date1904", "") in ("1", "true")
            elif name == "sheet" and not first:
                first = rels.get(_attribute(element, "id"), ("", ""))[1]
        if not first:
            raise KeyError("the workbook has no sheet")

        def of_kind(suffix: str) -> str:
            return next((path for kind, path in rels.values() if kind.endswith(suffix)), "")

        return first, of_kind("/sharedStrings"), of_kind("/styles")

    def _shared_strings(self, part: str) -> list[str]:
        strings: list[str] = []
        if not part:
            return strings
        root: Element | None = None
        tags: _Tags | None = None
        for event, element in _parse(self._zip.open(part), ("start", "end")):
            if root is None:
                root, tags = element, _Tags(element.tag)
            elif event == "end" and tags is not None and element.tag == tags.item:
                strings.append(_text(element, tags))
                root.clear()  # the items read so far
        return strings

    def _date_styles(self, part: str) -> tuple[set[int], datetime]:
        """Indexes of the cell styles that show dates, and the workbook's calendar."""
        epoch = CALENDAR_MAC_1904 if self._date1904 else CALENDAR_WINDOWS_1900
        if not part:
            return set(), epoch
        formats: dict[int, str] = dict(BUILTIN_FORMATS)
        styles: list[int] = []
        in_cell_styles = False
        for event, element in _parse(self._zip.open(part), ("start", "end")):
            name = _local(element.tag)
            if name == "cellXfs":
                in_cell_styles = event == "start"
            elif event == "end" and name == "numFmt":
                formats[int(element.get("numFmtId", "0"))] = element.get("formatCode", "")
            elif event == "end" and name == "xf" and in_cell_styles:
                styles.append(int(element.get("numFmtId", "0")))
        dates = {i for i, fmt in enumerate(styles) if is_date_format(formats.get(fmt, ""))}
        return dates, epoch

    def _value(self, kind: str, raw: str, inline: str | None, style: str) -> object:
        """A cell's value from its type (t), its <v> text, its inline string and its style (s)."""
        if kind == "inlineStr":
            return inline
        if kind == "s":
            return self._strings[int(raw)] if raw else None
        if not raw:
            return None
        if kind == "n":
            number: float | int = float(raw) if any(ch in raw for ch in ".eE") else int(raw)
            if self._dates and int(style or "0") in self._dates:
                try:
                    return from_excel(number, self._epoch)
                except (OverflowError, ValueError):
                    return number
            return number
        if kind == "b":
            return raw == "1"
        if kind == "d":
            return datetime.fromisoformat(raw)
        return raw  # "str" (a formula's text), "e" (an error such as #N/A)

    def rows(self) -> Iterator[tuple[int, list[object]]]:
        """Every row element (empty ones too), with its number."""
        sheet = _SheetRows(self)
        parser = XMLParser(target=sheet)  # noqa: S314 (no DTD gets through _NoDtd)
        stream = _NoDtd(self._sheet)
        try:
            while chunk := stream.read(_CHUNK_BYTES):
                parser.feed(chunk)
                yield from sheet.take()
            parser.close()
            yield from sheet.take()
        except (ParseError, ValueError, IndexError, KeyError) as exc:
            raise XlsxError(f"row {sheet.number + 1}: {type(exc).__name__}") from exc

    def close(self) -> None:
        self._sheet.close()
        self._zip.close()


# --- writing --------------------------------------------------------------------

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Override PartName="/xl/workbook.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>\
<Override PartName="/xl/worksheets/sheet1.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>\
<Override PartName="/xl/styles.xml" \
ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>\
</Types>"""
_ROOT_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_PACKAGE}">\
<Relationship Id="rId1" Type="{_DOCUMENT}/officeDocument" Target="xl/workbook.xml"/>\
</Relationships>"""
_WORKBOOK_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_PACKAGE}">\
<Relationship Id="rId1" Type="{_DOCUMENT}/worksheet" Target="worksheets/sheet1.xml"/>\
<Relationship Id="rId2" Type="{_DOCUMENT}/styles" Target="styles.xml"/>\
</Relationships>"""
# Style 1 shows date and time (cells hold Excel serial numbers).
_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{_MAIN}">\
<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>\
<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>\
<fills count="2"><fill><patternFill patternType="none"/></fill>\
<fill><patternFill patternType="gray125"/></fill></fills>\
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>\
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>\
</styleSheet>"""
_EXCEL_EPOCH = datetime(1899, 12, 30)


def _workbook(sheet_name: str) -> str:
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="{_MAIN}" xmlns:r="{_DOCUMENT}">\
<sheets><sheet name="{escape(sheet_name)}" sheetId="1" r:id="rId1"/></sheets></workbook>"""


def _serial(value: datetime | date) -> str:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    days = (value - _EXCEL_EPOCH) / timedelta(days=1)
    return repr(round(days, 10))


_COPY_BYTES = 1 << 20


class XlsxWriter:
    """One sheet, written row by row (strings inline, so nothing accumulates
    in memory); date-times are written in UTC.

    Every row is as wide as the first (the header), in two ways: the sheet
    has a ``<dimension>``, which openpyxl sizes rows by, and a row whose last
    value is empty still ends with that (empty) cell, for readers that ignore
    the dimension; gaps before it are left out, as readers fill them. The
    dimension precedes the rows but needs their count, so the rows go to a
    temporary file first and are copied into the zip after it on close.
    """

    def __init__(self, file: IO[bytes], sheet_name: str = "Sheet1") -> None:
        self._zip = zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, compresslevel=5)
        for name, content in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _ROOT_RELS),
            ("xl/workbook.xml", _workbook(sheet_name)),
            ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
            ("xl/styles.xml", _STYLES),
        ):
            self._zip.writestr(name, content)
        # The <row> elements, until close() copies them after the dimension.
        self._body = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._rows = 0
        self._width = 0  # of the first row: no row is narrower
        self._columns = 0  # of the widest row
        self._letters: list[str] = []

    def _cell(self, ref: str, value: object) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, bool):
            return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
        if isinstance(value, int | float | Decimal):
            return f'<c r="{ref}"><v>{value}</v></c>'
        if isinstance(value, datetime | date):
            return f'<c r="{ref}" s="1"><v>{_serial(value)}</v></c>'
        text = escape(_ILLEGAL_XML.sub("", str(value)))
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'

    def append(self, values: Sequence[object]) -> None:
        self._rows += 1
        if self._rows == 1:
            self._width = len(values)
        elif len(values) < self._width:
            values = [*values, *([None] * (self._width - len(values)))]
        self._columns = max(self._columns, len(values))
        while len(self._letters) < len(values):
            self._letters.append(get_column_letter(len(self._letters) + 1))
        row = self._rows
        cells = "".join(
            self._cell(f"{self._letters[i]}{row}", value) for i, value in enumerate(values)
        )
        if values and (values[-1] is None or values[-1] == ""):
            # The last cell, even empty, ends the row where the header ends.
            cells += f'<c r="{self._letters[len(values) - 1]}{row}"/>'
        self._body.write(f'<row r="{row}">{cells}</row>'.encode())

    def _dimension(self) -> str:
        """The used range, "A1:G120" (just "A1" for an empty sheet)."""
        if not self._rows or not self._columns:
            return "A1"
        return f"A1:{self._letters[self._columns - 1]}{self._rows}"

    def close(self) -> None:
        with self._zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                f'<worksheet xmlns="{_MAIN}"><dimension ref="{self._dimension()}"/>'
                "<sheetData>".encode()
            )
            self._body.seek(0)
            shutil.copyfileobj(self._body, sheet, _COPY_BYTES)
            sheet.write(b"</sheetData></worksheet>")
        self._body.close()
        self._zip.close()
