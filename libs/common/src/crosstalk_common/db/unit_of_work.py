"""A unit of work: one transaction for state changes and the events they cause."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

from google.protobuf.message import Message
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk_common.bus.causation import Causation, current_causation
from crosstalk_common.db.one_snapshot import read_one_snapshot
from crosstalk_common.db.outbox import outbox_row, outbox_rows, write_outbox_rows

log = logging.getLogger(__name__)

# From this many events on, emit_many serializes them in a worker thread: a
# thread hop costs about as much as a few envelopes.
_ENVELOPES_IN_A_THREAD = 100


class SqlUnitOfWork:
    """Commits rows and outbox events together; rolls back if not committed.

    ``after_commit`` runs once the transaction is durable (the outbox relay
    uses it to publish at once instead of waiting for its next poll).

    ``joining(session, outbox)`` makes one that runs inside a transaction
    someone else owns (an event consumer's, which also records the event in
    the inbox): it works in a savepoint, so a use case that fails leaves
    nothing behind, and its commit only releases the savepoint.
    ``joining(..., savepoint=False)`` makes none (two statements less): for a
    use case whose every failure propagates, so that the owner of the
    transaction rolls it all back (a consumer's batch handler); leaving it
    without committing keeps its statements in the transaction.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[Any] | None,
        outbox: Table,
        *,
        after_commit: Callable[[], None] | None = None,
        joined: AsyncSession | None = None,
        savepoint: bool = True,
    ) -> None:
        if (sessions is None) == (joined is None):
            raise ValueError("give either sessions or a session to join")
        self._in_savepoint = savepoint
        self._sessions = sessions
        self._outbox = outbox
        self._after_commit = after_commit
        self._joined = joined
        self._savepoint: Any = None
        self._session: AsyncSession | None = None
        self._staged: list[dict[str, Any]] = []

    @classmethod
    def joining(cls, session: AsyncSession, outbox: Table, *, savepoint: bool = True) -> Self:
        return cls(None, outbox, joined=session, savepoint=savepoint)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    async def __aenter__(self) -> Self:
        self._staged = []
        if self._joined is not None:
            self._session = self._joined
            if self._in_savepoint:
                self._savepoint = await self._joined.begin_nested()
            return self
        assert self._sessions is not None
        # The transaction begins with the first statement (the session's
        # autobegin), as it would after an explicit begin().
        self._session = self._sessions()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self.session
        if self._joined is not None:
            if self._savepoint is not None and self._savepoint.is_active:
                await self._savepoint.rollback()
            self._session = None
            return
        try:
            if exc is None or isinstance(exc, Exception):
                # Rolls back what was not committed and gives the connection back:
                # one pass instead of a rollback() and then a close() (a read-only
                # unit of work, GetCustomer's, spent a fifth of its time on them).
                await session.close()
            else:
                await _close_interrupted(session)
        finally:
            self._session = None

    async def read_one_snapshot(self) -> None:
        """Every read after this one sees the database as of the first
        (``db.one_snapshot``); call it before the unit of work's first statement."""
        await read_one_snapshot(self.session)

    async def emit(
        self, tenant_id: str, payload: Message, *, causation: Causation | None = None
    ) -> str:
        """Stage an event; it is written to the outbox by commit(), in the same transaction.

        Its envelope carries the current causation (the consumed event's, see
        ``bus.causation``), or ``causation`` if given."""
        row = outbox_row(tenant_id, payload, causation)
        self._staged.append(row)
        return str(row["id"])

    async def emit_many(
        self,
        tenant_id: str,
        payloads: Sequence[Message],
        *,
        causation: Causation | None = None,
    ) -> list[str]:
        """Stage many events at once (sharing time, trace context and causation,
        as ``emit``); their ids, in order.

        Uses no connection, so it may run while the unit of work's statements
        do; thousands of envelopes are serialized in a worker thread (with the
        caller's trace context), leaving the event loop to the statements.
        """
        causation = causation if causation is not None else current_causation()
        if len(payloads) >= _ENVELOPES_IN_A_THREAD:
            rows = await asyncio.to_thread(outbox_rows, tenant_id, payloads, causation)
        else:
            rows = outbox_rows(tenant_id, payloads, causation)
        self._staged.extend(rows)
        return [str(r["id"]) for r in rows]

    async def commit(self) -> None:
        staged, self._staged = self._staged, []
        await write_outbox_rows(self.session, self._outbox, staged)
        if self._joined is not None:
            if self._savepoint is not None:
                await self._savepoint.commit()
            return  # durable when the owner of the transaction commits
        await self.session.commit()
        if staged and self._after_commit is not None:
            self._after_commit()


async def _close_interrupted(session: AsyncSession) -> None:
    """Roll back and give the connection back after a cancellation.

    A gRPC call is cancelled when its deadline runs out, at whatever statement
    its unit of work is in. The rollback runs shielded, so a second
    cancellation cannot leave the connection checked out; if the connection
    was left in a state it cannot roll back from, it is invalidated instead
    (closed: the server ends its transaction) and the cancellation, not that
    consequence of it, is what propagates.
    """
    closing = asyncio.ensure_future(session.close())
    try:
        await asyncio.shield(closing)
    except Exception:
        log.debug("rollback after a cancellation failed; connection dropped", exc_info=True)
        await asyncio.shield(session.invalidate())
