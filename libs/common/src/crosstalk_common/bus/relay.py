"""The outbox relay: publishes committed events to JetStream, then marks them.

At-least-once: a crash between publishing and marking publishes the event
again on the next pass, and JetStream drops the copy because the event id is
the Nats-Msg-Id (inside the stream's duplicate window).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import Header
from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.bus.tracing import publish_span
from crosstalk_common.clock import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RelaySettings:
    batch_size: int = 500
    poll_interval: float = 0.5
    publish_timeout: float = 2.0
    max_backoff: float = 5.0


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        outbox: Table,
        js: JetStreamContext,
        settings: RelaySettings | None = None,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._js = js
        self._settings = settings or RelaySettings()
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        """Publish now: called after a commit that staged events."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.0
        while not stop.is_set():
            try:
                published, failed = await self.publish_pending()
            except Exception:
                log.exception("outbox relay pass failed")
                published, failed = 0, 1
            if failed:
                backoff = min(max(backoff * 2, 0.1), self._settings.max_backoff)
                await sleep_unless_stopped(stop, backoff)
                continue
            backoff = 0.0
            if published >= self._settings.batch_size:
                continue  # more may be waiting
            await self._wait_for_work(stop)

    async def _wait_for_work(self, stop: asyncio.Event) -> None:
        waiters = {asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())}
        _, pending = await asyncio.wait(
            waiters, timeout=self._settings.poll_interval, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        self._wake.clear()

    async def publish_pending(self) -> tuple[int, int]:
        """One pass: publish up to a batch of pending events. Returns (published, failed)."""
        table = self._outbox
        async with self._sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(table.c.id, table.c.subject, table.c.payload, table.c.headers)
                    .where(table.c.published_at.is_(None))
                    .order_by(table.c.created_at, table.c.id)
                    .limit(self._settings.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0, 0
            results = await asyncio.gather(
                *(self._publish_one(r.id, r.subject, r.payload, r.headers) for r in rows),
                return_exceptions=True,
            )
            done = [row.id for row, res in zip(rows, results, strict=True) if res is None]
            failed = [
                (row.id, res)
                for row, res in zip(rows, results, strict=True)
                if isinstance(res, BaseException)
            ]
            if done:
                await session.execute(
                    update(table).where(table.c.id.in_(done)).values(published_at=utc_now())
                )
            for row_id, error in failed:
                await session.execute(
                    update(table)
                    .where(table.c.id == row_id)
                    .values(attempts=table.c.attempts + 1, last_error=str(error)[:500])
                )
            if failed:
                log.warning(
                    "outbox relay: %d of %d events not published yet", len(failed), len(rows)
                )
        return len(done), len(failed)

    async def _publish_one(
        self, event_id: str, subject: str, payload: bytes, headers: dict[str, str]
    ) -> None:
        with publish_span(subject, event_id, headers):
            await self._js.publish(
                subject,
                payload,
                timeout=self._settings.publish_timeout,
                headers={**headers, Header.MSG_ID: event_id},
            )

    async def pending_count(self) -> int:
        table = self._outbox
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(table).where(table.c.published_at.is_(None))
            )
        return int(count or 0)
