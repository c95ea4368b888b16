"""Keeping the outbox and inbox small.

Published outbox rows are only history once JetStream has acknowledged them.
Inbox rows must outlive any possible redelivery: the streams keep events for
STREAM_MAX_AGE, so an event id older than that (plus a margin) can never
come back and its row can go.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete
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
        async with self._sessions() as session, session.begin():
            sent = await session.execute(
                delete(outbox).where(
                    outbox.c.published_at.is_not(None),
                    outbox.c.published_at < now - self._retention.published_outbox,
                )
            )
            seen = await session.execute(
                delete(inbox).where(inbox.c.processed_at < now - self._retention.inbox)
            )
        return int(getattr(sent, "rowcount", 0)), int(getattr(seen, "rowcount", 0))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                outbox_rows, inbox_rows = await self.purge_once()
                if outbox_rows or inbox_rows:
                    log.info("purged %d outbox and %d inbox rows", outbox_rows, inbox_rows)
            except Exception:
                log.exception("outbox/inbox housekeeping failed; will retry")
            await sleep_unless_stopped(stop, self._retention.interval_seconds)
