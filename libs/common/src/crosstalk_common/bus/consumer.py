"""Durable JetStream pull consumers whose effects are applied exactly once.

For each fetched batch: in ONE database transaction, record every event id
in the inbox (a redelivered id is already there and is skipped) and apply the
handler's effect; commit; only then ack. A crash before the commit leaves
nothing behind and the events come again; a crash after it but before the
ack brings the events again, and the inbox turns them away.

If a handler fails, the batch is rolled back and replayed one event per
transaction, so one poison event cannot hold back the others: it is nak'ed
with a delay and terminated after ``max_deliver`` attempts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.bus.catalogue import stream_name, subject_for
from crosstalk_common.bus.connection import ensure_streams
from crosstalk_common.bus.envelope import Event, UndecodableEvent, read_event
from crosstalk_common.bus.tracing import process_span
from crosstalk_common.clock import utc_now

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Event], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """What one durable consumer reads: some event types of one producer."""

    durable: str
    producer: str
    event_types: Sequence[str]
    batch_size: int = 200
    fetch_timeout: float = 1.0
    ack_wait: float = 30.0
    max_deliver: int = 10
    retry_delay: float = 1.0

    @property
    def subjects(self) -> list[str]:
        return [subject_for(self.producer, t) for t in self.event_types]


class EventConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        sessions: async_sessionmaker[Any],
        inbox: Table,
        subscription: Subscription,
        handler: Handler,
        *,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self._after_commit = after_commit
        self._js = js
        self._sessions = sessions
        self._inbox = inbox
        self._sub = subscription
        self._handler = handler

    async def _bind(self) -> Any:
        sub = self._sub
        await ensure_streams(self._js, [sub.producer])
        config = ConsumerConfig(
            durable_name=sub.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=sub.ack_wait,
            max_deliver=sub.max_deliver,
            filter_subjects=sub.subjects,
            max_ack_pending=10_000,
        )
        await self._js.add_consumer(stream_name(sub.producer), config)
        return await self._js.pull_subscribe_bind(
            durable=sub.durable, stream=stream_name(sub.producer)
        )

    async def run(self, stop: asyncio.Event) -> None:
        psub = None
        while not stop.is_set():
            try:
                if psub is None:
                    psub = await self._bind()
                msgs = await psub.fetch(self._sub.batch_size, timeout=self._sub.fetch_timeout)
            except (NatsTimeoutError, TimeoutError):
                continue
            except Exception as exc:
                log.warning("consumer %s: fetch failed (%s); retrying", self._sub.durable, exc)
                psub = None
                await sleep_unless_stopped(stop, 0.5)
                continue
            await self.process(msgs)
        if psub is not None:
            try:
                await psub.unsubscribe()
            except Exception as exc:
                log.debug("consumer %s: unsubscribe on stop failed: %s", self._sub.durable, exc)

    async def process(self, msgs: Sequence[Msg]) -> None:
        decoded: list[tuple[Msg, Event]] = []
        for msg in msgs:
            try:
                decoded.append((msg, read_event(msg.data)))
            except UndecodableEvent as exc:
                log.error("consumer %s: dropping undecodable message: %s", self._sub.durable, exc)
                await msg.term()
        if not decoded:
            return
        try:
            await self._apply(decoded)
        except Exception:
            log.warning(
                "consumer %s: batch of %d failed; retrying one by one",
                self._sub.durable,
                len(decoded),
                exc_info=True,
            )
            for one in decoded:
                try:
                    await self._apply([one])
                except Exception:
                    log.exception(
                        "consumer %s: event %s failed (delivery %d)",
                        self._sub.durable,
                        one[1].event_id,
                        one[0].metadata.num_delivered,
                    )
                    await one[0].nak(delay=self._sub.retry_delay)
                    continue
                await one[0].ack()
            return
        for msg, _ in decoded:
            await msg.ack()

    async def _apply(self, batch: Sequence[tuple[Msg, Event]]) -> None:
        async with self._sessions() as session, session.begin():
            fresh = await self._claim(session, [event.event_id for _, event in batch])
            for msg, event in batch:
                with process_span(
                    msg.subject, event.event_id, self._sub.durable, msg.headers or {}
                ) as span:
                    if event.event_id not in fresh:
                        span.set_attribute("crosstalk.duplicate", True)
                        continue
                    fresh.discard(event.event_id)  # a copy later in this batch is a duplicate
                    await self._handler(session, event)
        if self._after_commit is not None:
            self._after_commit()  # effects may have staged events: let the relay know

    async def _claim(self, session: AsyncSession, event_ids: Sequence[str]) -> set[str]:
        """Record the event ids in the inbox; returns those not seen before."""
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        now = utc_now()
        stmt = (
            insert(self._inbox)
            .values(
                [
                    {"consumer": self._sub.durable, "event_id": event_id, "processed_at": now}
                    for event_id in dict.fromkeys(event_ids)
                ]
            )
            .on_conflict_do_nothing()
            .returning(self._inbox.c.event_id)
        )
        return set((await session.execute(stmt)).scalars())
