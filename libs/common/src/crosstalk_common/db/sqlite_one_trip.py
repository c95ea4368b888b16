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
Mark only statements that touch a handful of rows by key: the loop serves
nothing else while one runs. A marked statement that writes makes its trip,
unless the engine lets writes run here (``writes_too``: engines that
checkpoint in the background, so that no COMMIT copies the write-ahead log
back) and its transaction holds SQLite's write lock already (it wrote
before): such a write cannot wait for a lock, and costs SQLite a few tens of
microseconds, far less than the trip. The COMMIT of such a transaction runs
here too when every write of it was marked (or was its BEGIN): a
single-customer write then makes one trip, its first write, instead of five
or more (issue 12, item 25: eight callers writing while a bulk job runs).
A transaction with an unmarked write (a bulk job's) commits in the
connection's thread, as before.

A SAVEPOINT made inside an open transaction, and its RELEASE, run in the loop
too: neither takes a lock nor writes (the RELEASE of a savepoint that opened
the transaction commits it, so that one makes its trip). A consumer's unit of
work is such a savepoint within its transaction: two trips less per event
(issue 14: a score rule event for a tenant without rules made four).
"""

from __future__ import annotations

import collections
import re
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
_SAVEPOINT = re.compile(r"\s*(RELEASE\s+)?SAVEPOINT\s+(\S+)\s*$", re.IGNORECASE)

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


def run_next_in_the_loop_if_marked(cursor: Any, statement: Executable) -> None:
    """For a statement run on a DBAPI cursor directly (``prebuilt_read``): its
    execute runs in the loop, as through a ``Connection``, if it is marked
    ``in_the_loop`` and the cursor is a one-trip SQLite cursor."""
    if isinstance(cursor, OneTripCursor) and statement.get_execution_options().get(_IN_THE_LOOP):
        cursor.in_the_loop = True


def _let_writes_run_here(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, _OneTripConnection):
        dbapi_connection.writes_here = True


def run_marked_statements_in_the_loop(engine: Engine, *, writes_too: bool = False) -> None:
    """Let ``in_the_loop`` statements of this (one-trip SQLite) engine run in the loop;
    with ``writes_too``, marked writes of a transaction that holds the write lock
    and its commit as well (see above; only where commits do not checkpoint)."""
    event.listen(engine, "before_cursor_execute", _mark_in_the_loop)
    if writes_too:
        event.listen(engine, "connect", _let_writes_run_here)


def write_in_the_loop(dbapi_connection: Any, operation: str, parameters: Any) -> bool:
    """Runs a small write (a few rows) in the event loop's thread if the
    connection allows it (see above); whether it did. Not done, the caller
    makes the trip itself."""
    if not isinstance(dbapi_connection, _OneTripConnection):
        return False
    if not dbapi_connection.may_write_here():
        return False
    try:
        _run(dbapi_connection._connection._conn, _Outcome(), operation, parameters, False)
    except Exception as error:
        dbapi_connection._handle_exception(error)
    return True


def wrote_in_its_thread(dbapi_connection: Any, operation: str) -> None:
    """Tells the connection that a write ran on its driver directly, in the
    connection's thread: the transaction holds the write lock and commits in
    that thread."""
    if isinstance(dbapi_connection, _OneTripConnection):
        dbapi_connection.wrote(marked=False, operation=operation)


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
        connection: _OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        connection.transaction_seen()
        writing = writes(operation)
        if not in_the_loop and (savepoint := _SAVEPOINT.match(operation)) is not None:
            in_the_loop = connection.savepoint_here(
                savepoint.group(2), released=savepoint.group(1) is not None
            )
        try:
            if (
                in_the_loop
                # The connection's thread is idle: nothing else of this
                # connection is under way (each statement is awaited).
                and not connection._execute_mutex.locked()
                and (not writing or connection.may_write_here())
            ):
                await_(self._run_here(operation, parameters))
            else:
                await_(self._run(operation, parameters, many=False))
        except Exception as error:
            connection._handle_exception(error)
        if writing:
            connection.wrote(marked=in_the_loop, operation=operation)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        connection: _OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        connection.transaction_seen()
        try:
            await_(self._run(operation, seq_of_parameters, many=True))
        except Exception as error:
            connection._handle_exception(error)
        if writes(operation):
            connection.wrote(marked=False, operation=operation)

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
    __slots__ = ("_all_writes_marked", "_holds_write_lock", "_savepoints_here", "writes_here")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.writes_here = False  # run_marked_statements_in_the_loop(writes_too=True)
        self._forget_transaction()

    def _forget_transaction(self) -> None:
        self._holds_write_lock = False
        self._all_writes_marked = True
        self._savepoints_here: set[str] = set()

    def savepoint_here(self, name: str, *, released: bool) -> bool:
        """Whether this SAVEPOINT (or its RELEASE) may run in the loop: made
        inside an open transaction, it takes no lock and its release commits
        nothing."""
        if released:
            if name not in self._savepoints_here:
                return False
            self._savepoints_here.discard(name)
            return self._in_transaction()
        if not self._in_transaction():
            return False  # it opens the transaction: its RELEASE commits
        self._savepoints_here.add(name)
        return True

    def _in_transaction(self) -> bool:
        # Read in the loop's thread: the connection's thread is idle between
        # statements (each is awaited), and sqlite3 reads this flag without
        # a thread check.
        connection = self._connection._connection
        return connection is not None and bool(connection.in_transaction)

    def transaction_seen(self) -> None:
        """Before a statement: no transaction open, nothing of one is held."""
        if not self._in_transaction():
            self._forget_transaction()

    def wrote(self, *, marked: bool, operation: str) -> None:
        """After a statement that writes: its transaction holds the write lock."""
        self._holds_write_lock = self._in_transaction()
        if not marked and operation.lstrip()[:5].upper() != "BEGIN":
            self._all_writes_marked = False

    def may_write_here(self) -> bool:
        """A marked write may run in the loop: it cannot wait for the lock."""
        return (
            self.writes_here
            and self._holds_write_lock
            and self._in_transaction()
            and not self._execute_mutex.locked()
        )

    def rollback(self) -> None:
        # sqlite3 does nothing when no transaction is open (a read-only unit
        # of work: SELECTs open none), so neither do we: no trip to the thread.
        # A unit of work's rollback and the pool's reset on return were two
        # of a GetCustomer's four trips (issue 14).
        try:
            if self._in_transaction():
                super().rollback()
        finally:
            self._forget_transaction()

    def commit(self) -> None:
        try:
            if not self._in_transaction():
                return
            if self._all_writes_marked and self.may_write_here():
                # A few rows written by key, in a transaction that holds the
                # write lock, on an engine whose commits do not checkpoint:
                # appending them to the write-ahead log costs less than the trip.
                try:
                    self._connection._conn.commit()
                except Exception as error:
                    self._handle_exception(error)
                return
            super().commit()
        finally:
            self._forget_transaction()


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
