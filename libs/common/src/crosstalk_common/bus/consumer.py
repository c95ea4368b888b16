"""Durable JetStream pull consumers whose effects are applied exactly once.

For each fetched batch: in ONE database transaction, record every event id
in the inbox (a redelivered id is already there and is skipped) and apply the
handler's effect; commit; only then ack. A crash before the commit leaves
nothing behind and the events come again; a crash after it but before the
ack brings the events again, and the inbox turns them away.

The inbox claim is ONE statement per batch, the same text for every batch
(compiled once). A handler applies one event at a time; a batch handler,
given instead, applies all the batch's new events in one call (one INSERT
for all, say), which is what makes a consumer fast: a statement per event
costs far more than the rest of the kit's work for it.

While a handler applies an event, the event's causation (the rule run that
caused it, ``bus.causation``) is current, so the events it emits carry it on;
a batch handler is called once per run of consecutive new events sharing a
causation (one call when none has any, as with a channel's messages).

A scoped batch handler, given instead, is called ONCE with all the batch's
new events whatever their causations, and with ``within``: ``with
within(event):`` makes that event's processing span and causation current, so
what the handler stages for an event carries that event's trace and
causation (a rule's actions on many customers, each of its own rule run,
applied in one go).

If a handler fails, the batch is rolled back and replayed one event per
transaction (a batch handler then gets a batch of one), so one poison event
cannot hold back the others: it is nak'ed with a delay and terminated after
``max_deliver`` attempts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from sqlalchemy import String, Table, bindparam, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.expression import Executable

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.bus.catalogue import stream_name, subject_for
from crosstalk_common.bus.causation import caused_by
from crosstalk_common.bus.connection import ensure_streams
from crosstalk_common.bus.envelope import Event, UndecodableEvent, causation_of, read_event
from crosstalk_common.bus.tracing import process_span, start_process_span
from crosstalk_common.clock import utc_now
from crosstalk_common.db.sqlite_one_trip import in_the_loop

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Event], Awaitable[None]]
# Applies the new events of a batch at once (one statement for all, say), in the
# order they were delivered; runs in the transaction that claims them in the inbox,
# once per run of consecutive events of one causation (see the module's doc).
BatchHandler = Callable[[AsyncSession, Sequence[Event]], Awaitable[None]]
# Makes one event's processing span and causation current (a scoped batch handler's ``within``).
Within = Callable[[Event], AbstractContextManager[None]]
# Applies all the new events of a batch in one call, whatever their causations,
# entering ``within(event)`` while it stages what one event causes (see the module's doc).
ScopedBatchHandler = Callable[[AsyncSession, Sequence[Event], Within], Awaitable[None]]


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
    # After a batch smaller than batch_size, wait this long before fetching
    # again, so the next batch gathers what arrives meanwhile: fewer, larger
    # transactions, each event later by up to this much. For consumers whose
    # readers can wait (a read model), not for the main job's hops.
    linger: float = 0.0

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
        handler: Handler | None,
        *,
        batch_handler: BatchHandler | None = None,
        scoped_batch_handler: ScopedBatchHandler | None = None,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        """``handler`` applies one event at a time; a ``batch_handler`` (instead)
        gets all the new events of a fetched batch in one call (per causation),
        a ``scoped_batch_handler`` all of them in one call."""
        given = [h for h in (handler, batch_handler, scoped_batch_handler) if h is not None]
        if len(given) != 1:
            raise ValueError("give either a handler, a batch handler or a scoped batch handler")
        self._after_commit = after_commit
        self._js = js
        self._sessions = sessions
        self._inbox = inbox
        self._sub = subscription
        self._handler = handler
        self._batch_handler = batch_handler
        self._scoped_batch_handler = scoped_batch_handler
        self._claims: dict[str, Executable] = {}  # the inbox claim, per dialect

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
            if self._sub.linger and len(msgs) < self._sub.batch_size:
                await sleep_unless_stopped(stop, self._sub.linger)
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
            if self._batch_handler is not None:
                await self._apply_together(session, batch, fresh, self._batch_handler)
            elif self._scoped_batch_handler is not None:
                await self._apply_scoped(session, batch, fresh, self._scoped_batch_handler)
            else:
                assert self._handler is not None
                await self._apply_each(session, batch, fresh, self._handler)
        if self._after_commit is not None:
            self._after_commit()  # effects may have staged events: let the relay know

    async def _apply_each(
        self,
        session: AsyncSession,
        batch: Sequence[tuple[Msg, Event]],
        fresh: set[str],
        handler: Handler,
    ) -> None:
        for msg, event in batch:
            with process_span(msg.subject, event.event_id, self._sub.durable, msg.headers) as span:
                if event.event_id not in fresh:
                    span.set_attribute("crosstalk.duplicate", True)
                    continue
                fresh.discard(event.event_id)  # a copy later in this batch is a duplicate
                with caused_by(causation_of(event.envelope)):
                    await handler(session, event)

    async def _apply_together(
        self,
        session: AsyncSession,
        batch: Sequence[tuple[Msg, Event]],
        fresh: set[str],
        handler: BatchHandler,
    ) -> None:
        """One call of the batch handler for the new events; still one span per
        event, each a child of the context the event was created in."""
        new, spans = self._new_with_spans(batch, fresh)
        try:
            # Consecutive events of one causation go together, each run with its
            # causation current (nearly always one run: no causation at all).
            start = 0
            causation = causation_of(new[0].envelope) if new else None
            for i in range(1, len(new) + 1):
                following = causation_of(new[i].envelope) if i < len(new) else None
                if i == len(new) or following != causation:
                    with caused_by(causation):
                        await handler(session, new[start:i])
                    start, causation = i, following
        except Exception as exc:
            _failed(spans, exc)
            raise
        finally:
            for span in spans:
                span.end()

    async def _apply_scoped(
        self,
        session: AsyncSession,
        batch: Sequence[tuple[Msg, Event]],
        fresh: set[str],
        handler: ScopedBatchHandler,
    ) -> None:
        """One call of the scoped batch handler for all the new events, each
        event's span and causation current inside ``within(event)``."""
        new, spans = self._new_with_spans(batch, fresh)
        span_of = {event.event_id: span for event, span in zip(new, spans, strict=True)}

        @contextmanager
        def within(event: Event) -> Iterator[None]:
            with (
                trace.use_span(span_of[event.event_id], end_on_exit=False),
                caused_by(causation_of(event.envelope)),
            ):
                yield

        try:
            if new:
                await handler(session, new, within)
        except Exception as exc:
            _failed(spans, exc)
            raise
        finally:
            for span in spans:
                span.end()

    def _new_with_spans(
        self, batch: Sequence[tuple[Msg, Event]], fresh: set[str]
    ) -> tuple[list[Event], list[Span]]:
        """The batch's new events and a started processing span for each (a
        duplicate's span is ended at once, marked as such)."""
        new: list[Event] = []
        spans: list[Span] = []
        for msg, event in batch:
            span = start_process_span(msg.subject, event.event_id, self._sub.durable, msg.headers)
            if event.event_id in fresh:
                fresh.discard(event.event_id)  # a copy later in this batch is a duplicate
                new.append(event)
                spans.append(span)
            else:
                span.set_attribute("crosstalk.duplicate", True)
                span.end()
        return new, spans

    async def _claim(self, session: AsyncSession, event_ids: Sequence[str]) -> set[str]:
        """Record the event ids in the inbox; returns those not seen before."""
        dialect = session.get_bind().dialect.name
        statement = self._claims.get(dialect)
        if statement is None:
            statement = self._claims[dialect] = claim_statement(self._inbox, dialect)
        unique = list(dict.fromkeys(event_ids))
        params = {
            "consumer": self._sub.durable,
            "event_ids": unique if dialect == "postgresql" else json.dumps(unique),
            "now": utc_now(),
        }
        return set((await session.execute(statement, params)).scalars())


def _failed(spans: Sequence[Span], exc: Exception) -> None:
    for span in spans:
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


def claim_statement(inbox: Table, dialect: str) -> Executable:
    """INSERT of every id of a list into the inbox, skipping those already there,
    RETURNING the new ones. The list is ONE parameter (an array on PostgreSQL, a
    JSON array on SQLite), so the statement is the same for every batch: it is
    compiled once, not once per batch as a many-row VALUES would be."""
    consumer = bindparam("consumer", type_=inbox.c.consumer.type)
    now = bindparam("now", type_=inbox.c.processed_at.type)
    if dialect == "postgresql":
        ids = func.unnest(bindparam("event_ids", type_=postgresql.ARRAY(String)))
        rows = select(consumer, ids, now)
        return (
            postgresql.insert(inbox)
            .from_select(["consumer", "event_id", "processed_at"], rows)
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
    listed = func.json_each(bindparam("event_ids", type_=String)).table_valued("value")
    # WHERE true: SQLite reads "SELECT ... FROM f(x) ON CONFLICT" as a join's ON otherwise.
    rows = select(consumer, listed.c.value, now).where(true())
    # Marked: the claim is its transaction's first write and makes its trip to
    # the connection's thread anyway, but as a marked write it lets the batch's
    # COMMIT run in the event loop when the handler's writes are marked too
    # (sqlite_one_trip): one trip less per batch.
    return in_the_loop(
        sqlite.insert(inbox)
        .from_select(["consumer", "event_id", "processed_at"], rows)
        .on_conflict_do_nothing()
        .returning(inbox.c.event_id)
    )
