"""Many rows written in one statement with an ON CONFLICT clause, without
SQLAlchemy's per-row parameter handling.

Folding writes hundreds of rows per batch, each an add-to or a keep-if-there:
through SQLAlchemy each row's parameters are processed one by one, which cost
more than the writes themselves. Here the statement text is built once per
table and the rows go to the driver as they are, on the session's own
connection (so in its transaction):

- SQLite: ``INSERT ... VALUES (...), (...) ON CONFLICT ...``, as many rows per
  statement as its limit of bound values allows; times and JSON are stored as
  SQLAlchemy stores them (the column type's own bind processing). A few rows
  (a live batch's) are written in the event loop when the connection allows
  it (``sqlite_one_trip.write_in_the_loop``), no trip to its thread.
- PostgreSQL: ``INSERT ... SELECT ... FROM unnest(<one array per column>)
  ON CONFLICT ...``: one statement for the whole batch. The arrays go in
  binary form (``%b``): psycopg's text form escapes every element in Python,
  four times the CPU.

Rows are tuples in the order of ``columns``; rows must not repeat a conflict
key within one call (PostgreSQL refuses to update a row twice in a statement).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Float, Integer, SmallInteger, String, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.db.sqlite_one_trip import write_in_the_loop

# SQLite's limit of bound values per statement (32,766 since 3.32), kept under.
_SQLITE_VARIABLES = 32_000
# At most this many rows are written in the event loop's thread (a live
# batch's few rows, in a transaction holding the write lock: sqlite_one_trip).
ROWS_IN_THE_LOOP = 32


@dataclass(frozen=True)
class Conflict:
    """What a row whose key is there already does: adds ``added`` columns to the
    stored ones, takes ``replaced`` columns from the new row, or is dropped when
    both are empty."""

    key: tuple[str, ...]
    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()

    def clause(self, table: str) -> str:
        sets = [f'"{c}" = "{table}"."{c}" + excluded."{c}"' for c in self.added]
        sets += [f'"{c}" = excluded."{c}"' for c in self.replaced]
        target = ", ".join(f'"{k}"' for k in self.key)
        if not sets:
            return f" ON CONFLICT ({target}) DO NOTHING"
        return f" ON CONFLICT ({target}) DO UPDATE SET {', '.join(sets)}"


def _pg_type(column_type: Any) -> str:
    if isinstance(column_type, DateTime):
        return "timestamptz" if column_type.timezone else "timestamp"
    for kind, name in (
        (BigInteger, "int8"),
        (SmallInteger, "int2"),
        (Integer, "int4"),
        (Float, "float8"),
        (JSON, "text"),  # cast to json in the SELECT
        (String, "text"),
    ):
        if isinstance(column_type, kind):
            return name
    raise TypeError(f"no array type for {column_type!r}")


class BulkWrite:
    """The statements writing ``columns`` of ``table`` with ``conflict``."""

    def __init__(self, table: Table, columns: Sequence[str], conflict: Conflict) -> None:
        self._table = table
        self._columns = tuple(columns)
        self._conflict = conflict
        self._sqlite: dict[Dialect, tuple[int, str, list[tuple[int, Callable[[Any], Any]]]]] = {}
        self._postgres: str | None = None
        self._json = [i for i, c in enumerate(self._columns) if isinstance(table.c[c].type, JSON)]

    def _head(self) -> str:
        names = ", ".join(f'"{c}"' for c in self._columns)
        return f'INSERT INTO "{self._table.name}" ({names}) '

    def _sqlite_form(
        self, dialect: Dialect
    ) -> tuple[int, str, list[tuple[int, Callable[[Any], Any]]]]:
        form = self._sqlite.get(dialect)
        if form is None:
            per_statement = max(1, _SQLITE_VARIABLES // len(self._columns))
            processors: list[tuple[int, Callable[[Any], Any]]] = []
            for i, name in enumerate(self._columns):
                column_type = self._table.c[name].type
                process = column_type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    processors.append((i, process))
            form = self._sqlite[dialect] = (per_statement, self._head(), processors)
        return form

    def _values(self, rows: int) -> str:
        row = "(" + ", ".join("?" for _ in self._columns) + ")"
        return "VALUES " + ", ".join([row] * rows)

    def _postgres_statement(self) -> str:
        if self._postgres is None:
            arrays = ", ".join(f"%b::{_pg_type(self._table.c[c].type)}[]" for c in self._columns)
            aliases = [f"c{i}" for i in range(len(self._columns))]
            picked = ", ".join(
                f"{a}::json" if i in self._json else a for i, a in enumerate(aliases)
            )
            rows = f"unnest({arrays}) AS u({', '.join(aliases)})"
            conflict = self._conflict.clause(self._table.name)
            self._postgres = f"{self._head()}SELECT {picked} FROM {rows}{conflict}"  # noqa: S608 (names from the table)
        return self._postgres

    async def run(self, session: AsyncSession, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        connection = await session.connection()
        dialect = connection.dialect
        if dialect.name == "postgresql":
            columns: list[list[Any]] = [list(c) for c in zip(*rows, strict=True)]
            for i in self._json:
                columns[i] = [json.dumps(v) for v in columns[i]]
            await connection.exec_driver_sql(self._postgres_statement(), tuple(columns))
            return
        per_statement, head, processors = self._sqlite_form(dialect)
        clause = self._conflict.clause(self._table.name)
        full = ""
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            values = [v for row in chunk for v in row]
            width = len(self._columns)
            for i, process in processors:
                done: dict[int, Any] = {}
                for at in range(i, len(values), width):
                    value = values[at]
                    key = id(value)
                    if key not in done:
                        done[key] = process(value)
                    values[at] = done[key]
            if len(chunk) == per_statement:
                full = full or head + self._values(per_statement) + clause
                statement = full
            else:
                statement = head + self._values(len(chunk)) + clause
            if len(chunk) <= ROWS_IN_THE_LOOP:
                raw = await connection.get_raw_connection()
                if write_in_the_loop(raw.dbapi_connection, statement, values):
                    continue
            await connection.exec_driver_sql(statement, tuple(values))
