"""aiosqlite statements in one trip to the connection's thread instead of four.

aiosqlite runs every call of a connection in that connection's thread, and
the event loop waits for each: SQLAlchemy's adapter makes a cursor, executes,
fetches the rows and closes the cursor, four trips per statement. Each trip
queues the call, wakes the thread, hands over the GIL and back, and resolves
a future in the loop: on a busy machine that is most of what a short write
transaction costs (issue 12, item 25). The cursor here does the four steps in
one function run in the thread and keeps the rows, the description, the row
count and the last row id it came back with.

Server-side cursors (streamed results) stay aiosqlite's own.

A COMMIT or ROLLBACK with no transaction open makes no trip at all: sqlite3
would do nothing with it.

A statement marked with ``in_the_loop(statement)`` runs in the event loop's
own thread, no trip at all, when it only reads: for a lookup by key (a few
tens of microseconds in SQLite, and in WAL mode a reader never waits for a
writer) the trip costs more than the statement, and on a busy machine each
wake-up of the connection's thread waits for a core (issue 14: GetCustomer).
Mark only statements that read a handful of rows by key: the loop serves
nothing else while one runs. A marked statement that writes still makes its
trip.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Engine
from sqlalchemy.sql.base import Executable
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

from crosstalk_common.db.write_gate import writes

_IN_THE_LOOP = "crosstalk_sqlite_in_the_loop"

_E = TypeVar("_E", bound=Executable)


def in_the_loop(statement: _E) -> _E:
    """``statement``, to be run in the event loop's thread on SQLite (see above);
    on PostgreSQL the mark means nothing."""
    return statement.execution_options(**{_IN_THE_LOOP: True})


def _mark_in_the_loop(
    _conn: Any, cursor: Any, _statement: str, _parameters: Any, context: Any, executemany: bool
) -> None:
    if (
        not executemany
        and context is not None
        and context.execution_options.get(_IN_THE_LOOP)
        and isinstance(cursor, OneTripCursor)
    ):
        cursor.in_the_loop = True


def run_marked_statements_in_the_loop(engine: Engine) -> None:
    """Let ``in_the_loop`` statements of this (one-trip SQLite) engine run in the loop."""
    event.listen(engine, "before_cursor_execute", _mark_in_the_loop)


class _Outcome:
    """What a statement left on its (closed) cursor."""

    __slots__ = ("description", "lastrowid", "rowcount")

    def __init__(self) -> None:
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None


def _run(connection: Any, outcome: _Outcome, operation: str, parameters: Any, many: bool) -> Any:
    """In the connection's thread: the whole statement, rows included."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        outcome.description = description
        outcome.rowcount = cursor.rowcount
        outcome.lastrowid = cursor.lastrowid
        return rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("in_the_loop",)

    def __init__(self, adapt_connection: Any) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Outcome()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self.in_the_loop = False  # the next execute (see in_the_loop)

    @property
    def description(self) -> Any:
        return self._cursor.description

    async def _async_soft_close(self) -> None:
        return None  # nothing open: the cursor closed in its thread

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        in_the_loop, self.in_the_loop = self.in_the_loop, False
        try:
            if (
                in_the_loop
                # The connection's thread is idle: nothing else of this
                # connection is under way (each statement is awaited).
                and not self._adapt_connection._execute_mutex.locked()
                and not writes(operation)
            ):
                return await_(self._run_here(operation, parameters))
            return await_(self._run(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            return await_(self._run(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        outcome = _Outcome()
        async with self._adapt_connection._execute_mutex:
            rows = await self._connection._execute(
                _run, self._connection._conn, outcome, operation, parameters, many
            )
        self._took(outcome, rows)

    async def _run_here(self, operation: Any, parameters: Any) -> None:
        # A coroutine that never suspends: SQLAlchemy's async layer wants an
        # await, the loop gets no turn before it is done.
        outcome = _Outcome()
        rows = _run(self._connection._conn, outcome, operation, parameters, False)
        self._took(outcome, rows)

    def _took(self, outcome: _Outcome, rows: Any) -> None:
        self._cursor = outcome  # type: ignore[assignment]
        self._rows = collections.deque(rows) if rows is not None else collections.deque()


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor

    def _in_transaction(self) -> bool:
        # Read in the loop's thread: the connection's thread is idle between
        # statements (each is awaited), and sqlite3 reads this flag without
        # a thread check.
        connection = self._connection._connection
        return connection is not None and bool(connection.in_transaction)

    def rollback(self) -> None:
        # sqlite3 does nothing when no transaction is open (a read-only unit
        # of work: SELECTs open none), so neither do we: no trip to the thread.
        # A unit of work's rollback and the pool's reset on return were two
        # of a GetCustomer's four trips (issue 14).
        if self._in_transaction():
            super().rollback()

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI adapter whose connections use ``OneTripCursor``
    (``create_async_engine(..., module=OneTripDbapi.load())``)."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)

    @classmethod
    def load(cls) -> OneTripDbapi:
        import sqlite3

        import aiosqlite

        return cls(aiosqlite, sqlite3)
