"""The WHERE clause of a keyset page: rows past the last row of the page before."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import literal, tuple_
from sqlalchemy.sql.elements import ColumnElement


def past(
    columns: Sequence[ColumnElement[Any]], last: Sequence[Any], *, descending: bool = False
) -> ColumnElement[bool]:
    """Rows after ``last`` in the order of ``columns`` (all ascending or all descending).

    One row comparison, ``(a, b) > (x, y)``: PostgreSQL and SQLite both read it
    as a range of an index on those columns. The same condition spelled
    ``a > x OR (a = x AND b > y)`` is, on PostgreSQL, a filter on every row
    from the start of the index, so each page costs as much as every page
    before it (an export of 200,000 customers spent 0.1 s per page on it by
    the end).
    """
    row = tuple_(*columns)
    values = tuple_(
        *(literal(value, column.type) for column, value in zip(columns, last, strict=True))
    )
    return row < values if descending else row > values
