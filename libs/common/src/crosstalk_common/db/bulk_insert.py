"""Inserting many rows at once, without SQLAlchemy's per-row parameter handling.

On PostgreSQL a COPY ... FROM STDIN (binary where every column's type has a
binary form we know, which costs the client half the CPU of text) for more
than a few rows, and one INSERT of them all for a few (a transaction's
outbox events: a COPY is two round trips, its start and then its rows, and
the transaction holds its locks across both); on SQLite INSERTs of many rows
each (plain values); all on the session's own connection, so the rows are
part of its transaction. Values are stored
as SQLAlchemy's own INSERT would store them (the column type's bind
processing on SQLite, JSON as ``json.dumps`` text), each conversion done once
per distinct object when consecutive rows share it (a batch's time, its
trace context, its details).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any, Protocol

from psycopg import sql
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from crosstalk_common.db.sqlite_one_trip import write_in_the_loop, wrote_in_its_thread


class _Process(Protocol):
    """A value conversion (a bind processor)."""

    def __call__(self, value: Any, /) -> Any: ...


async def driver_connection(session: AsyncSession) -> Any:
    """The session's own DBAPI driver connection (same transaction)."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None, "a checked-out connection has its driver connection"
    return driver


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``.

    The driver's own calls are out of SQLAlchemy's sight: a call cancelled in
    one of them (a gRPC deadline running out) could leave the connection in the
    middle of a command, which psycopg does when it is cancelled while a COPY
    starts; the unit of work's rollback then failed with "another command is
    already in progress" and the connection never went back to the pool. As
    SQLAlchemy does for a statement of its own that is cut short, the
    connection is invalidated (closed, its transaction ends with it on the
    server) and the cancellation goes on.
    """
    if not rows:
        return
    connection = await session.connection()
    try:
        await _insert_rows(session, table, rows)
    except BaseException as interruption:
        if not isinstance(interruption, Exception):
            await asyncio.shield(connection.invalidate())
        raise


async def _insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        if len(rows) <= _PG_ROWS_BY_INSERT:
            await _pg_insert(session, dialect, table, rows)
        else:
            await _copy(session, table, rows)
        return
    insert, columns = _sqlite_insert(dialect, table, tuple(rows[0]))
    converters = [(name, _Reused(process) if process else None) for name, process in columns]
    per_statement = insert.rows_per_statement
    connection = await (await session.connection()).get_raw_connection()
    driver = connection.driver_connection
    assert driver is not None, "a checked-out connection has its driver connection"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = [
            row[name] if convert is None else convert(row[name])
            for row in chunk
            for name, convert in converters
        ]
        statement = insert.statement(len(chunk))
        # A single write's few rows (its outbox events), in a transaction that
        # holds the write lock already: in the event loop (sqlite_one_trip).
        if len(chunk) <= _ROWS_IN_THE_LOOP and write_in_the_loop(
            connection.dbapi_connection, statement, values
        ):
            continue
        await driver.execute(statement, values)
        wrote_in_its_thread(connection.dbapi_connection, statement)


class _SqliteInsert:
    """INSERT ... VALUES (...), (...): many rows per statement.

    On SQLite one statement per row (executemany) costs far more: inside a
    savepoint, row statements on a table with triggers cost more the larger
    the table (a 100,000-row import slowed from 0.3 to 1.3 s per 10,000
    customers as it went; ADR 0013); with 1,000 rows per statement it stays
    flat, at about a third of executemany's time.
    """

    def __init__(self, head: str, columns: int) -> None:
        self._head = head
        self._row = f"({', '.join('?' for _ in range(columns))})"
        self.rows_per_statement = max(1, min(_SQLITE_ROWS, _SQLITE_VARIABLES // columns))
        self._full = self._text(self.rows_per_statement)

    def _text(self, rows: int) -> str:
        return self._head + ", ".join([self._row] * rows)

    def statement(self, rows: int) -> str:
        """The statement for this many rows (the full-size one is kept)."""
        return self._full if rows == self.rows_per_statement else self._text(rows)


# At most this many rows are inserted in the event loop's thread (write_in_the_loop).
_ROWS_IN_THE_LOOP = 8
# Rows per SQLite statement, and its limit of bound values (32,766 since 3.32).
_SQLITE_ROWS = 1000
_SQLITE_VARIABLES = 32_000
_sqlite_inserts: dict[
    tuple[Dialect, str, tuple[str, ...]], tuple[_SqliteInsert, list[tuple[str, _Process | None]]]
] = {}


def _sqlite_insert(
    dialect: Dialect, table: Table, names: tuple[str, ...]
) -> tuple[_SqliteInsert, list[tuple[str, _Process | None]]]:
    key = (dialect, table.name, names)
    if key not in _sqlite_inserts:
        quote = dialect.identifier_preparer.quote
        insert = _SqliteInsert(
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES ",  # noqa: S608 (table and column names)
            len(names),
        )
        # The dialect's own type (e.g. SQLite's DATETIME, which stores text), as
        # SQLAlchemy's statements use it.
        processors: list[tuple[str, _Process | None]] = [
            (n, table.c[n].type.dialect_impl(dialect).bind_processor(dialect)) for n in names
        ]
        _sqlite_inserts[key] = (insert, processors)
    return _sqlite_inserts[key]


# Column types and the PostgreSQL types whose binary form COPY sends for them;
# subclasses before their bases (BigInteger is an Integer).
_BINARY_FORMS: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
    (Boolean, "bool"),
    (BigInteger, "int8"),
    (SmallInteger, "int2"),
    (Integer, "int4"),
    (Float, "float8"),
    (Date, "date"),
    (LargeBinary, "bytea"),
)


def _binary_type(column_type: TypeEngine[Any]) -> str | None:
    """The PostgreSQL type whose binary form a COPY sends for the column, if known.

    JSON goes as text: ``json`` receives the text of the document in binary
    COPY too (``jsonb`` does not, hence not here). An Enum is a String that
    stores a Python enum's name, also left to text COPY.
    """
    if isinstance(column_type, JSON):
        return None if isinstance(column_type, JSONB) else "text"
    if isinstance(column_type, DateTime):
        return "timestamptz" if column_type.timezone else "timestamp"
    if isinstance(column_type, String):
        return None if isinstance(column_type, Enum) else "text"
    return next((name for kind, name in _BINARY_FORMS if isinstance(column_type, kind)), None)


# Up to this many rows go to PostgreSQL in one INSERT, more with a COPY.
_PG_ROWS_BY_INSERT = 8
_pg_inserts: dict[tuple[Dialect, str, tuple[str, ...], int], str] = {}


async def _pg_insert(
    session: AsyncSession, dialect: Dialect, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """One INSERT ... VALUES of the rows (its text kept per table, columns and row
    count, so psycopg prepares it once it repeats); values as the COPY sends them."""
    names = tuple(rows[0])
    key = (dialect, table.name, names, len(rows))
    statement = _pg_inserts.get(key)
    if statement is None:
        quote = dialect.identifier_preparer.quote
        row = f"({', '.join('%s' for _ in names)})"
        statement = _pg_inserts[key] = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES "  # noqa: S608 (table and column names)
            + ", ".join([row] * len(rows))
        )
    dumps = [_Reused(json.dumps) if isinstance(table.c[n].type, JSON) else None for n in names]
    values = [
        row[name] if dump is None else dump(row[name])
        for row in rows
        for name, dump in zip(names, dumps, strict=True)
    ]
    driver = await driver_connection(session)
    await driver.execute(statement, values)


async def _copy(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    names = list(rows[0])
    columns = [
        (n, _Reused(json.dumps) if isinstance(table.c[n].type, JSON) else None) for n in names
    ]
    binary_types = [_binary_type(table.c[n].type) for n in names]
    binary = all(binary_types)
    statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(" (FORMAT BINARY)" if binary else ""),
    )
    driver = await driver_connection(session)
    async with driver.cursor() as cursor, cursor.copy(statement) as copy:
        if binary:
            copy.set_types(binary_types)
        for row in rows:
            await copy.write_row(
                [row[name] if dump is None else dump(row[name]) for name, dump in columns]
            )


class _Reused:
    """A conversion that reuses its last result for the same object."""

    def __init__(self, convert: _Process) -> None:
        self._convert = convert
        self._last: object = _Reused
        self._result: Any = None

    def __call__(self, value: Any) -> Any:
        if value is not self._last:
            self._last, self._result = value, self._convert(value)
        return self._result
