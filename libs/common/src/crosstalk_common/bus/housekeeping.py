"""Keeping the outbox and inbox small.

Published outbox rows are only history once JetStream has acknowledged them.
Inbox rows must outlive any possible redelivery: the streams keep events for
STREAM_MAX_AGE, so an event id older than that (plus a margin) can never
come back and its row can go.

Both deletes go through an index and in chunks of a transaction each, so a
round neither reads a whole table nor holds SQLite's one write lock for long.
Event ids are time-ordered UUIDs (``envelope.new_event_ids``) whose text
sorts as their time, so the inbox rows old enough to go are a range of its
primary key (consumer, event_id) below the id of the cut-off's millisecond;
``processed_at`` is checked as well, so an old event published late (after
an outage of its relay) keeps its row for the whole retention.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.bus.connection import STREAM_MAX_AGE
from crosstalk_common.clock import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    published_outbox: timedelta = timedelta(days=3)
    inbox: timedelta = STREAM_MAX_AGE + timedelta(days=1)
    interval_seconds: float = 3600.0
    rows_per_transaction: int = 5000


def first_id_at(at: datetime) -> str:
    """The smallest event id made at ``at`` or later (in its text form, which
    sorts as the ids' times do)."""
    ms = f"{int(at.timestamp() * 1000) & 0xFFFF_FFFF_FFFF:012x}"
    return f"{ms[:8]}-{ms[8:]}-0000-0000-000000000000"


class Housekeeper:
    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        outbox: Table,
        inbox: Table,
        retention: Retention | None = None,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._inbox = inbox
        self._retention = retention or Retention()

    async def purge_once(self, now: datetime | None = None) -> tuple[int, int]:
        """Delete expired rows; returns (outbox rows, inbox rows) deleted."""
        now = now or utc_now()
        outbox, inbox = self._outbox, self._inbox
        sent_before = now - self._retention.published_outbox
        sent = await self._delete_in_chunks(
            outbox.c.id,
            outbox.c.published_at,  # the order of ix_outbox_pending: no sort
            outbox.c.published_at.is_not(None),
            outbox.c.published_at < sent_before,
        )
        seen_before = now - self._retention.inbox
        seen = 0
        for consumer in await self._consumers():
            seen += await self._delete_in_chunks(
                inbox.c.event_id,
                inbox.c.event_id,
                inbox.c.consumer == consumer,
                inbox.c.event_id < first_id_at(seen_before),
                inbox.c.processed_at < seen_before,
            )
        return sent, seen

    async def _consumers(self) -> list[str]:
        """The inbox's consumers, one index probe each (a loose index scan:
        neither database skips through an index for DISTINCT on its own)."""
        c = self._inbox.c.consumer
        found: list[str] = []
        async with self._sessions() as session:
            while True:
                after = select(func.min(c))
                if found:
                    after = after.where(c > found[-1])
                consumer = (await session.execute(after)).scalar_one_or_none()
                if consumer is None:
                    return found
                found.append(consumer)

    async def _delete_in_chunks(self, key: Any, order: Any, *where: ColumnElement[bool]) -> int:
        """Delete the rows ``where`` holds, a chunk (the first by ``order``, named
        by their ``key``) per transaction."""
        table = key.table
        chunk = select(key).where(*where).order_by(order)
        chunk = chunk.limit(self._retention.rows_per_transaction)
        deleted = 0
        while True:
            async with self._sessions() as session, session.begin():
                result = await session.execute(delete(table).where(*where, key.in_(chunk)))
            n = int(getattr(result, "rowcount", 0))
            deleted += n
            if n < self._retention.rows_per_transaction:
                return deleted

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                outbox_rows, inbox_rows = await self.purge_once()
                if outbox_rows or inbox_rows:
                    log.info("purged %d outbox and %d inbox rows", outbox_rows, inbox_rows)
            except Exception:
                log.exception("outbox/inbox housekeeping failed; will retry")
            await sleep_unless_stopped(stop, self._retention.interval_seconds)
