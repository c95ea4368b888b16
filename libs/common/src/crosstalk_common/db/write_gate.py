"""SQLite writers of one process take turns: callers first, then first come first served.

SQLite lets one transaction write at a time. A connection that finds the
write lock taken sleeps in SQLite's busy handler and tries again after 1, 2,
5, 10 ... and then every 100 ms; whichever waiter happens to try first once
the lock is free gets it. With several writers in one process that is
neither quick nor fair: a waiter sleeps through the short gaps between
another's transactions (a bulk job's batches follow each other within
milliseconds), and one caller can lose every round until its busy timeout
runs out and it fails with "database is locked".

``WriteGate`` makes the writers of a process queue in asyncio instead: a
connection takes the gate just before the first statement that writes in
its transaction, and gives it back as its COMMIT or ROLLBACK starts (or,
for a write outside a transaction, when the connection returns to the
pool). Writers get the database in the order they asked, each at once
when the one before it is done, and no thread polls. Reads never take it:
in WAL mode they run beside the writer.

Writers that serve a waiting caller (a gRPC call: ``serving.a_caller_waits``)
queue ahead of the service's own background writers (event consumers, the
outbox relay, housekeeping): a consumer's batch holds the lock for the whole
batch, and under load each ingest's ResolveIdentity waited behind several of
them (in customers at 25 messages/s, p50 42 ms at the gate). So that the
background still moves under a steady stream of calls, after
``CALLERS_IN_A_ROW`` callers in a row one background writer that waits goes
next.

SQLite's own busy timeout stays the rule between processes (a migration, a
second service instance on the same file). A connection that waits longer
than ``wait_at_most`` for the gate (a transaction left open) goes on
without it, which is how every write behaved before. (ADR 0018.)
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.util import await_only

from crosstalk_common.serving import a_caller_waits

log = logging.getLogger(__name__)

_HOLDS = "crosstalk.write_gate.holds"
_WRITING_VERBS = frozenset(
    {"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "ANALYZE", "VACUUM"}
)
_WRITE_AFTER_WITH = re.compile(r"\)\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
_BEGIN_TO_WRITE = re.compile(r"BEGIN\s+(IMMEDIATE|EXCLUSIVE)\b", re.IGNORECASE)


def writes(statement: str) -> bool:
    """Whether SQLite needs the write lock for this statement."""
    words = statement.lstrip().split(None, 1)
    if not words:
        return False
    verb = words[0].upper()
    if verb == "WITH":
        return _WRITE_AFTER_WITH.search(statement) is not None
    if verb == "BEGIN":
        return _BEGIN_TO_WRITE.match(statement.lstrip()) is not None
    return verb in _WRITING_VERBS


_gates: WeakKeyDictionary[Engine, WriteGate] = WeakKeyDictionary()

# Callers let in one after another while a background writer waits, at most.
CALLERS_IN_A_ROW = 4


def gate_of(engine: AsyncEngine) -> WriteGate | None:
    """The engine's gate (SQLite engines made by ``create_engine``)."""
    return _gates.get(engine.sync_engine)


class WriteGate:
    """One per engine: see the module's docstring."""

    def __init__(self, *, wait_at_most: float) -> None:
        self._held = False
        # Turns asked for and not given yet, oldest first; a cancelled one is skipped.
        self._callers: deque[asyncio.Future[None]] = deque()
        self._background: deque[asyncio.Future[None]] = deque()
        self._callers_in_a_row = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wait_at_most = wait_at_most
        self._waiting = 0
        self._asked = 0

    @property
    def taken(self) -> bool:
        return self._held

    @property
    def waiting(self) -> int:
        """How many connections wait for their turn."""
        return self._waiting

    @property
    def asked(self) -> int:
        """How many turns were asked for so far."""
        return self._asked

    def install(self, engine: Engine) -> None:
        _gates[engine] = self
        event.listen(engine, "before_cursor_execute", self._before_statement)
        event.listen(engine, "commit", self._transaction_ended)
        event.listen(engine, "rollback", self._transaction_ended)
        event.listen(engine.pool, "checkin", self._checked_in)

    def _before_statement(
        self,
        conn: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        info = conn.connection.record_info
        if info is None:  # a connection detached from the pool: not ours to order
            return
        if info.get(_HOLDS) or not writes(statement):
            return
        # Runs inside SQLAlchemy's bridge from asyncio to its synchronous
        # core, so the task may wait here for its turn.
        if await_only(self._take()):
            info[_HOLDS] = True

    async def _take(self) -> bool:
        self._asked += 1
        loop = asyncio.get_running_loop()
        if not self._held:
            self._held = True
            self._loop = loop
            return True
        turn: asyncio.Future[None] = loop.create_future()
        (self._callers if a_caller_waits() else self._background).append(turn)
        self._waiting += 1
        try:
            await asyncio.wait_for(asyncio.shield(turn), self._wait_at_most)
        except TimeoutError:
            if turn.done() and not turn.cancelled():
                self._loop = loop
                return True  # the turn came with the timeout: take it
            turn.cancel()
            log.warning(
                "waited %.0f s for the SQLite write gate; writing without it", self._wait_at_most
            )
            return False
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._hand_over()  # given the turn as the task was cancelled: pass it on
            else:
                turn.cancel()
            raise
        finally:
            self._waiting -= 1
        self._loop = loop
        return True

    def _hand_over(self) -> None:
        """The holder is done: give the turn to the next writer, or free the gate."""
        while True:
            callers_next = self._callers and (
                not self._background or self._callers_in_a_row < CALLERS_IN_A_ROW
            )
            if callers_next:
                turn = self._callers.popleft()
            elif self._background:
                turn = self._background.popleft()
            else:
                self._held = False
                return
            if turn.cancelled():
                continue
            self._callers_in_a_row = self._callers_in_a_row + 1 if callers_next else 0
            turn.set_result(None)  # the gate stays held: it passes to that writer
            return

    def _transaction_ended(self, conn: Connection) -> None:
        # Called just before the COMMIT or ROLLBACK runs: the next writer is
        # let in now, while it runs in the connection's thread, and finds the
        # lock free a moment later (SQLite's busy handler covers the moment),
        # instead of waiting until this task is back in the event loop.
        if conn.invalidated:
            # A statement was cut short (a cancelled call): SQLAlchemy invalidated
            # the connection and checked it in, which gave the gate back.
            return
        info = conn.connection.record_info
        if info is not None:
            self._release(info)

    def _checked_in(self, _dbapi_connection: Any, record: Any) -> None:
        self._release(record.record_info)

    def _release(self, info: dict[Any, Any]) -> None:
        if not info.pop(_HOLDS, False):
            return
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._hand_over()
        else:  # a connection finalized outside the loop (garbage collected)
            loop.call_soon_threadsafe(self._hand_over)


async def begin_writing(session: AsyncSession) -> None:
    """Starts the session's transaction as a writer: the first statement of it.

    On SQLite, ``BEGIN IMMEDIATE``: waits here for the turn to write (at the
    engine's ``WriteGate``) and holds the write lock from now on, so what
    follows does not wait in the middle. PostgreSQL locks rows as they are
    written: nothing to do.
    """
    connection = await session.connection()
    if connection.dialect.name == "sqlite":
        await connection.exec_driver_sql("BEGIN IMMEDIATE")


def turns_asked(session: AsyncSession) -> int:
    """How many turns to write were asked for at the session's engine so far:
    a count that only grows (always 0 where there is no gate: PostgreSQL)."""
    gate = _gates.get(session.get_bind().engine)
    return 0 if gate is None else gate.asked


def writers_waiting(session: AsyncSession) -> int:
    """How many writers wait for their turn at the session's engine now (0
    where there is no gate: PostgreSQL). Those that asked before the session's
    own turn began and still wait count too, which ``turns_asked`` misses."""
    gate = _gates.get(session.get_bind().engine)
    return 0 if gate is None else gate.waiting
