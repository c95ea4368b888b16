"""The outbox relay: publishes committed events to JetStream, then marks them.

At-least-once: a crash between publishing and marking publishes the event
again on the next pass, and JetStream drops the copy because the event id is
the Nats-Msg-Id (inside the stream's duplicate window).

A pass publishes its batch in outbox order without awaiting each ack (so a
subject's events reach the stream in the order they were staged), waits for
the acks together, and marks the acked rows in one UPDATE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import Header
from sqlalchemy import Row, Table, bindparam, func, select, update
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
        # The pass's two statements, built once (their compiled forms are cached).
        self._pending = (
            select(outbox.c.id, outbox.c.subject, outbox.c.payload, outbox.c.headers)
            .where(outbox.c.published_at.is_(None))
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(self._settings.batch_size)
            .with_for_update(skip_locked=True)
        )
        self._mark_sent = (
            update(outbox)
            .where(outbox.c.id.in_(bindparam("ids", expanding=True)))
            .values(published_at=bindparam("now", type_=outbox.c.published_at.type))
        )

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
            rows = (await session.execute(self._pending)).all()
            if not rows:
                return 0, 0
            errors = await self._publish_batch(rows)
            done = [row.id for row, error in zip(rows, errors, strict=True) if error is None]
            if done:
                await session.execute(self._mark_sent, {"ids": done, "now": utc_now()})
            failed = [(row.id, error) for row, error in zip(rows, errors, strict=True) if error]
            for row_id, error in failed:
                await session.execute(
                    update(table)
                    .where(table.c.id == row_id)
                    .values(attempts=table.c.attempts + 1, last_error=error[:500])
                )
            if failed:
                log.warning(
                    "outbox relay: %d of %d events not published yet", len(failed), len(rows)
                )
        return len(done), len(failed)

    async def _publish_batch(self, rows: Sequence[Row[Any]]) -> list[str | None]:
        """Publish the rows in their order without waiting in between; then wait for
        all of JetStream's acks at once (one timeout for the batch). Per row: None
        when stored, else the error."""
        errors: list[str | None] = [None] * len(rows)
        acks: dict[asyncio.Future[Any], int] = {}
        with publish_span([(row.subject, row.headers) for row in rows]):
            for n, row in enumerate(rows):
                try:
                    ack = await self._js.publish_async(
                        row.subject, row.payload, headers={**row.headers, Header.MSG_ID: row.id}
                    )
                except Exception as exc:
                    errors[n] = repr(exc)
                    continue
                acks[ack] = n
            if acks:
                _, late = await asyncio.wait(acks, timeout=self._settings.publish_timeout)
                for ack, n in acks.items():
                    if ack in late:
                        ack.cancel()
                        errors[n] = "no publish ack within the timeout"
                    elif ack.exception() is not None:
                        errors[n] = repr(ack.exception())
        return errors

    async def pending_count(self) -> int:
        table = self._outbox
        async with self._sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(table).where(table.c.published_at.is_(None))
            )
        return int(count or 0)
