"""``column`` is one of many ids, with the ids as one parameter.

The ids travel as one JSON array that the database unpacks
(``json_array_elements_text`` on PostgreSQL, ``json_each`` on SQLite) and
looks up in the column's index: a thousand separate parameters, or an array
parameter, cost the driver more to bind and the database more to plan than
the lookup costs. Used for a page's customers and for bulk jobs' batches.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import JSON, any_, bindparam, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement


def one_of(
    dialect: Dialect, column: ColumnElement[str], ids: Collection[str]
) -> ColumnElement[bool]:
    listed = bindparam(None, value=list(ids), type_=JSON)
    if dialect.name == "postgresql":
        # = ANY(ARRAY(...)): a bitmap scan of the index, so rows are visited
        # (and locked) in table order, as with an IN list.
        values = select(func.json_array_elements_text(listed)).scalar_subquery()
        return column == any_(func.array(values))
    return column.in_(select(func.json_each(listed).table_valued("value").c.value))
