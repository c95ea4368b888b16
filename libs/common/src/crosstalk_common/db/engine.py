"""Async SQLAlchemy engines for SQLite (default) and PostgreSQL (by URL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from crosstalk_common.db.idle_ping import ping_when_idle
from crosstalk_common.db.pg_lazy_begin import begin_lazily
from crosstalk_common.db.sqlite_one_trip import OneTripDbapi, run_marked_statements_in_the_loop
from crosstalk_common.db.write_gate import WriteGate

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}
BUSY_TIMEOUT_SECONDS = 10.0
# A pooled PostgreSQL connection back in the pool this long is pinged before use.
PING_AFTER_IDLE_SECONDS = 1.0


def _with_driver(url: str | URL, drivers: dict[str, str]) -> URL:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend not in drivers:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed.set(drivername=drivers[backend])


def async_url(url: str | URL) -> URL:
    return _with_driver(url, ASYNC_DRIVERS)


def sync_url(url: str | URL) -> URL:
    """The same database for synchronous tools (Alembic)."""
    return _with_driver(url, SYNC_DRIVERS)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Writers of this process queue at the WriteGate; the busy timeout is
    # for writers of other processes.
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000:.0f}")
    # Large tables (a million customers) are read in full by counts and
    # filters: keep up to 256 MiB of pages per connection and map the file
    # instead of copying every page through read().
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.execute("PRAGMA mmap_size=1073741824")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()


def _no_checkpoint_on_commit(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def _in_transaction(dbapi_connection: Any) -> bool:
    """Whether SQLite has a transaction open (sqlite3, or aiosqlite's adapter of it)."""
    state = getattr(dbapi_connection, "in_transaction", None)
    if state is None:  # SQLAlchemy's aiosqlite adapter wraps aiosqlite's connection
        state = dbapi_connection._connection.in_transaction
    return bool(state)


def _begin_before_a_first_savepoint(conn: Connection, _name: str) -> None:
    """Open the transaction a SAVEPOINT is meant to nest in.

    Python's sqlite3 begins a transaction only before INSERT/UPDATE/DELETE/
    REPLACE. A SAVEPOINT issued before any of those (a unit of work whose first
    write is "insert unless it exists") starts a transaction of its own, and its
    RELEASE commits it: the unit of work's later rollback could not undo that
    write, and a failure half way left half a change behind. Issuing BEGIN
    first makes the savepoint a nested one, as on PostgreSQL. A deferred BEGIN
    takes no lock, exactly like the SAVEPOINT it precedes.
    """
    if not _in_transaction(conn.connection.dbapi_connection):
        conn.exec_driver_sql("BEGIN")


def create_engine(
    url: str | URL,
    *,
    echo: bool = False,
    checkpoint_in_background: bool = False,
    write_gate: bool = True,
    pool_size: int | None = None,
) -> AsyncEngine:
    """An engine for the URL's database.

    ``checkpoint_in_background``: on SQLite, commits no longer copy the
    write-ahead log back into the database file; the caller must run a
    ``WalCheckpointer`` (the service runtime does), or the log keeps growing.

    ``write_gate``: on SQLite, the engine's writers take turns at a
    ``WriteGate``; without it they wait in SQLite's busy handler (benches
    compare the two).

    ``pool_size``: at most this many connections at once (by default 10, and
    10 more for a moment on PostgreSQL; SQLAlchemy's default on SQLite).
    """
    target = async_url(url)
    pool: dict[str, Any] = {}
    if pool_size is not None:
        pool = {"pool_size": pool_size, "max_overflow": 0}
    if target.get_backend_name() == "sqlite":
        # Each statement in one trip to aiosqlite's thread (sqlite_one_trip).
        engine = create_async_engine(target, echo=echo, module=OneTripDbapi.load(), **pool)
        # Small writes too where commits do not checkpoint (sqlite_one_trip).
        run_marked_statements_in_the_loop(engine.sync_engine, writes_too=checkpoint_in_background)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "savepoint", _begin_before_a_first_savepoint)
        if write_gate:
            WriteGate(wait_at_most=BUSY_TIMEOUT_SECONDS).install(engine.sync_engine)
        if checkpoint_in_background:
            event.listen(engine.sync_engine, "connect", _no_checkpoint_on_commit)
        return engine
    pool = pool or {"pool_size": 10, "max_overflow": 10}
    engine = create_async_engine(target, echo=echo, **pool)
    # Connections idle a while are pinged before use; not every one (idle_ping).
    ping_when_idle(engine.sync_engine, idle_seconds=PING_AFTER_IDLE_SECONDS)
    # Reads before a transaction's first write run without BEGIN/ROLLBACK (pg_lazy_begin).
    begin_lazily(engine.sync_engine)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def writers_at_once(engine: AsyncEngine) -> int:
    """How many write transactions of one job are worth running side by side.

    SQLite has a single writer: a second waits for the first. On PostgreSQL
    two transactions writing different rows proceed together, so one can run
    its statements while the other's Python work runs (two cores here; more
    writers would only queue for them).
    """
    return 1 if engine.dialect.name == "sqlite" else 2


def write_slice_seconds(engine: AsyncEngine) -> float | None:
    """How long one write transaction of a background job should last, if bounded.

    On SQLite every other writer waits while a job's transaction writes; a
    job there writes in slices of about this long, and the writers queued
    meanwhile (``WriteGate``) go in between. PostgreSQL locks rows, not the
    database: None, a job's page is one transaction.

    10 ms: a caller's write that comes while a job runs waits for one slice
    and for the callers before it, so the slice is most of its wait (issue
    12, item 25: p95 ≤ 50 ms with 8 callers writing while a bulk job runs).
    """
    return 0.01 if engine.dialect.name == "sqlite" else None
