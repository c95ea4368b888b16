"""A plain SELECT compiled once, run on a pooled connection's driver directly.

A short read by key through SQLAlchemy's ``Connection`` spends most of its
CPU around the statement, not in it: the ``Connection`` and its autobegun
transaction, the execution context, the events before each statement, the
result and its row, the rollback on close (issue 14: about 100 us of
GetCustomer's 160 us read on SQLite, already compiled and cached). Here
the statement is compiled once for the engine's dialect, and each run (its
SQL and parameters in the dialect's form, from SQLAlchemy's
``construct_expanded_state``: IN lists expanded, bind processors) checks out
a pooled DBAPI connection, executes the SQL on a cursor, converts the one
row's columns with the types' own result processors, and gives the
connection back: the pool's checkout and checkin events still run (the idle
ping, PostgreSQL's return to autocommit).

Only plain SELECTs (``pg_lazy_begin.needs_transaction`` is false) are
taken: the engine's statement events have nothing to do for them (no BEGIN
on PostgreSQL, no turn at SQLite's write gate). A statement marked
``sqlite_one_trip.in_the_loop`` runs in the event loop on SQLite, as it
would through a ``Connection``.

A driver error (a connection refused or dropped, ...) is not answered here:
the connection is discarded and the read runs again through a
``Connection``, which reports the error as SQLAlchemy does
(``connection_invalidated``, the pool invalidated, the error mapped to
UNAVAILABLE by the gRPC layer) or reads on a fresh connection. A read has no
effect to repeat.

Run ``first_row`` in SQLAlchemy's greenlet (``greenlet_spawn``): on
PostgreSQL the driver's calls wait for the event loop there.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.sql.selectable import Select

from crosstalk_common.db.pg_lazy_begin import needs_transaction
from crosstalk_common.db.sqlite_one_trip import run_next_in_the_loop_if_marked


class PrebuiltRead:
    """``statement`` compiled for ``engine``; ``first_row`` runs it."""

    def __init__(self, engine: Engine, statement: Select[Any]) -> None:
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
        if needs_transaction(compiled.string):
            raise ValueError("a prebuilt read runs plain SELECTs only")
        columns = list(statement.selected_columns)
        self._engine = engine
        self._statement = statement
        self._compiled = compiled
        self._processors: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        self._row = namedtuple("_Row", [column.key for column in columns])  # type: ignore[misc]
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error

    def first_row(self, parameters: Mapping[str, Any]) -> Any | None:
        """The first row (its columns as attributes), or ``None``. In a greenlet."""
        # The SQL and its parameters as the dialect takes them (IN lists expanded).
        state = self._compiled.construct_expanded_state(dict(parameters))
        values = state.parameters
        if state.processors:
            values = {
                name: value if (process := state.processors.get(name)) is None else process(value)
                for name, value in values.items()
            }
        arguments: Any = (
            values
            if state.positiontup is None
            else tuple(values[name] for name in state.positiontup)
        )
        try:
            raw = self._engine.raw_connection()
        except self._dbapi_error:
            return self._through_a_connection(parameters)
        failed = False
        try:
            cursor = raw.cursor()
            run_next_in_the_loop_if_marked(cursor, self._statement)
            cursor.execute(state.statement, arguments)
            row = cursor.fetchone()
            cursor.close()
        except self._dbapi_error:
            failed = True
            raw.invalidate()
        finally:
            # Back to the pool even when the call is cancelled meanwhile (the
            # pool discards a connection it cannot reset).
            raw.close()
        if failed:
            return self._through_a_connection(parameters)
        if row is None:
            return None
        return self._row(
            *[
                value if process is None else process(value)
                for process, value in zip(self._processors, row, strict=True)
            ]
        )

    def _through_a_connection(self, parameters: Mapping[str, Any]) -> Any | None:
        with self._engine.connect() as connection:
            return connection.execute(self._statement, dict(parameters)).first()
