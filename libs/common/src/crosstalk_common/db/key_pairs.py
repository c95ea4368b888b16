"""A batch's rows by a two-column key, read through the key's index on SQLite too."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.sql.elements import ColumnElement


def pairs_in(
    first: ColumnElement[Any], second: ColumnElement[Any], pairs: Iterable[tuple[Any, Any]]
) -> ColumnElement[bool]:
    """``(first, second) IN pairs``, written as ``first = a AND second IN (...)`` per
    distinct ``a`` (OR-ed when there are several).

    SQLite plans a row-value IN list of two or more rows as a scan of the whole
    table (or of an index's every entry) against the list, so a consumer reading
    its batch's few projections by (tenant, subject) read every row of the
    projection; the form here searches the (first, second) index once per
    ``first``. PostgreSQL plans both forms as index searches. ``pairs`` must not
    be empty.
    """
    grouped: dict[Any, set[Any]] = {}
    for a, b in pairs:
        grouped.setdefault(a, set()).add(b)
    if not grouped:
        raise ValueError("pairs_in needs at least one pair")
    terms = [and_(first == a, second.in_(sorted(bs))) for a, bs in sorted(grouped.items())]
    return terms[0] if len(terms) == 1 else or_(*terms)
