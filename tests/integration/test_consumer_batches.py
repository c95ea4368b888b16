"""A fetched batch is applied in one transaction with one inbox claim: an event
that fails does not keep the others out (each is applied exactly once, the
failing one is nak'ed for a later delivery), a batch delivered again is not
applied again, and a batch handler gets the batch's new events in one call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus import tracing
from crosstalk_common.bus.consumer import EventConsumer, Subscription
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import inbox_table
from crosstalk_devstack.deliveries import Delivery

metadata = MetaData()
inbox = inbox_table(metadata)
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer", String(100), nullable=False),
)

SUBSCRIPTION = Subscription(
    durable="test-batches", producer="customers", event_types=["customer.created"]
)
POISON = "customers/poison"


@dataclass
class _Metadata:
    num_delivered: int = 1


@dataclass
class Redeliverable(Delivery):
    """A delivery whose failure is recorded (nak'ed for a later delivery) instead of
    failing the test where it happens."""

    naked: int = 0
    metadata: _Metadata = field(default_factory=_Metadata)

    async def nak(self, delay: float | None = None) -> None:
        self.naked += 1

    def again(self) -> Redeliverable:
        """The same message delivered once more."""
        return Redeliverable(self.data, self.subject, dict(self.headers))


def created(customer: str, traceparent: str = "") -> Redeliverable:
    """customer.created as the relay publishes it; with the creating request's
    trace context in its headers when given one."""
    context = {"traceparent": traceparent} if traceparent else {}
    payload = customer_events_pb2.CustomerCreated(customer=customer)
    _, envelope = new_envelope("t1", payload, occurred_at=utc_now(), trace_context=context)
    delivery = Delivery.of(envelope)
    return Redeliverable(delivery.data, delivery.subject, dict(context))


@dataclass
class Effects:
    """What the handlers were called with, and a handler of each kind."""

    calls: list[list[str]] = field(default_factory=list)

    async def one(self, session: AsyncSession, event: Event) -> None:
        await self.many(session, [event])

    async def many(self, session: AsyncSession, events: Sequence[Event]) -> None:
        customers = [_customer(e) for e in events]
        self.calls.append(customers)
        await session.execute(insert(effects), [{"customer": c} for c in customers])
        if POISON in customers:
            raise RuntimeError("a poison event")


def _customer(event: Event) -> str:
    payload = event.payload
    assert isinstance(payload, customer_events_pb2.CustomerCreated)
    return payload.customer


def consumer_of(engine: AsyncEngine, effects_seen: Effects, kind: str) -> EventConsumer:
    if kind == "batch":
        return EventConsumer(
            None,  # type: ignore[arg-type]  # process() never touches JetStream
            session_factory(engine),
            inbox,
            SUBSCRIPTION,
            None,
            batch_handler=effects_seen.many,
        )
    return EventConsumer(
        None,  # type: ignore[arg-type]
        session_factory(engine),
        inbox,
        SUBSCRIPTION,
        effects_seen.one,
    )


async def _stored(engine: AsyncEngine) -> tuple[list[str], int]:
    async with engine.connect() as conn:
        applied = (await conn.execute(select(effects.c.customer))).scalars().all()
        claimed = await conn.scalar(select(func.count()).select_from(inbox))
    return sorted(applied), int(claimed or 0)


def _run(db_url: str, scenario: Any) -> None:
    async def main() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        try:
            await scenario(engine)
        finally:
            await engine.dispose()

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["batch", "each"])
def test_one_failing_event_leaves_the_others_applied_exactly_once(db_url: str, kind: str) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        seen = Effects()
        consumer = consumer_of(engine, seen, kind)
        batch = [created("customers/1"), created(POISON), created("customers/2")]
        await consumer.process(batch)  # type: ignore[arg-type]

        assert [(d.acked, d.naked) for d in batch] == [(1, 0), (0, 1), (1, 0)]
        # the batch failed whole, then each event ran alone: the poison one rolled back
        assert await _stored(engine) == (["customers/1", "customers/2"], 2)

        # JetStream delivers the poison event again; it fails again, nothing else moves
        poison = batch[1].again()
        await consumer.process([poison])  # type: ignore[list-item]
        assert (poison.acked, poison.naked) == (0, 1)
        assert await _stored(engine) == (["customers/1", "customers/2"], 2)

    _run(db_url, scenario)


@pytest.mark.parametrize("kind", ["batch", "each"])
def test_a_batch_delivered_again_is_not_applied_again(db_url: str, kind: str) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        seen = Effects()
        consumer = consumer_of(engine, seen, kind)
        first = [created(f"customers/{n}") for n in range(5)]
        await consumer.process(first)  # type: ignore[arg-type]
        calls = len(seen.calls)

        # the whole batch again (its acks were lost), plus one new event and a
        # copy of it in the same batch
        fresh = created("customers/new")
        again = [d.again() for d in first] + [fresh, fresh.again()]
        await consumer.process(again)  # type: ignore[arg-type]

        assert all((d.acked, d.naked) == (1, 0) for d in first + again)
        customers = sorted([f"customers/{n}" for n in range(5)] + ["customers/new"])
        assert await _stored(engine) == (customers, 6)
        assert seen.calls[calls:] == [["customers/new"]]  # once, for the new event only

    _run(db_url, scenario)


def test_a_batch_handler_gets_the_new_events_of_a_batch_in_one_call(db_url: str) -> None:
    async def scenario(engine: AsyncEngine) -> None:
        seen = Effects()
        consumer = consumer_of(engine, seen, "batch")
        old = created("customers/old")
        await consumer.process([old])  # type: ignore[list-item]
        batch = [created("customers/a"), old.again(), created("customers/b")]
        await consumer.process(batch)  # type: ignore[arg-type]
        # in delivery order, without the event the inbox already holds
        assert seen.calls == [["customers/old"], ["customers/a", "customers/b"]]
        assert [d.acked for d in batch] == [1, 1, 1]

    _run(db_url, scenario)


def test_a_consumer_takes_a_handler_or_a_batch_handler() -> None:
    seen = Effects()
    for handler, batch_handler in ((None, None), (seen.one, seen.many)):
        with pytest.raises(ValueError, match="either"):
            EventConsumer(
                None,  # type: ignore[arg-type]
                None,  # type: ignore[arg-type]
                inbox,
                SUBSCRIPTION,
                handler,
                batch_handler=batch_handler,
            )


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """The bus's spans, kept in memory."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("crosstalk.bus"))
    return memory


def _traceparent(trace_id: int, span_id: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def test_each_event_of_a_batch_gets_a_span_in_the_trace_that_created_it(
    db_url: str, spans: InMemorySpanExporter
) -> None:
    """A batch handler runs once, yet every event has its own CONSUMER span, a
    child of the span its producer was in when it emitted the event."""

    async def scenario(engine: AsyncEngine) -> None:
        consumer = consumer_of(engine, Effects(), "batch")
        old = created("customers/old", _traceparent(0xA1, 0x11))
        await consumer.process([old])  # type: ignore[list-item]
        spans.clear()
        batch = [
            created("customers/a", _traceparent(0xA2, 0x21)),
            created("customers/b", _traceparent(0xA3, 0x31)),
            old.again(),
        ]
        await consumer.process(batch)  # type: ignore[arg-type]

        finished = spans.get_finished_spans()
        assert [s.name for s in finished] == ["process crosstalk.customers.customer.created"] * 3
        assert all(s.kind is SpanKind.CONSUMER for s in finished)
        parents = sorted(
            (
                s.context.trace_id,
                s.parent.span_id if s.parent else 0,
                bool((s.attributes or {}).get("crosstalk.duplicate")),
            )
            for s in finished
        )
        assert parents == [(0xA1, 0x11, True), (0xA2, 0x21, False), (0xA3, 0x31, False)]

    _run(db_url, scenario)


def test_the_relay_span_of_a_batch_links_each_creating_context_once(
    spans: InMemorySpanExporter,
) -> None:
    one, other = _traceparent(0xB1, 0x11), _traceparent(0xB2, 0x22)
    subject = "crosstalk.customers.customer.created"
    batch = [(subject, {"traceparent": one})] * 3
    batch += [(subject, {"traceparent": other}), (subject, {})]  # the last was made untraced
    with tracing.publish_span(batch):
        pass

    (span,) = spans.get_finished_spans()
    assert (span.name, span.kind) == (f"publish {subject}", SpanKind.PRODUCER)
    assert span.attributes is not None
    assert span.attributes["messaging.batch.message_count"] == 5
    assert sorted((link.context.trace_id, link.context.span_id) for link in span.links) == [
        (0xB1, 0x11),
        (0xB2, 0x22),
    ]


class _PullQueue:
    """A pull subscription over a queue: a fetch answers what is waiting (up to
    the batch size), or waits for the first event to come."""

    def __init__(self) -> None:
        self.waiting: asyncio.Queue[Redeliverable] = asyncio.Queue()

    async def fetch(self, batch: int, timeout: float) -> list[Redeliverable]:  # noqa: ASYNC109 (nats' own signature)
        first = await asyncio.wait_for(self.waiting.get(), timeout)
        got = [first]
        while len(got) < batch and not self.waiting.empty():
            got.append(self.waiting.get_nowait())
        return got

    async def unsubscribe(self) -> None:
        return None


def test_a_lingering_consumer_gathers_what_arrives_after_a_short_batch(db_url: str) -> None:
    """With ``linger``, events that trickle in while the consumer waits after a
    batch that was not full are applied together, in one transaction."""

    async def scenario(engine: AsyncEngine) -> None:
        seen = Effects()
        applied: asyncio.Queue[None] = asyncio.Queue()

        async def many(session: AsyncSession, events: Sequence[Event]) -> None:
            await seen.many(session, events)
            applied.put_nowait(None)

        lingering = Subscription(
            durable="test-linger",
            producer="customers",
            event_types=["customer.created"],
            batch_size=50,
            linger=1.0,
        )
        consumer = EventConsumer(
            None,  # type: ignore[arg-type]  # _bind is replaced below
            session_factory(engine),
            inbox,
            lingering,
            None,
            batch_handler=many,
        )
        pull = _PullQueue()

        async def bind() -> _PullQueue:
            return pull

        consumer._bind = bind  # type: ignore[method-assign]
        stop = asyncio.Event()
        running = asyncio.create_task(consumer.run(stop))
        pull.waiting.put_nowait(created("customers/first"))
        await asyncio.wait_for(applied.get(), 10)
        for n in range(5):  # one at a time, while the consumer lingers
            pull.waiting.put_nowait(created(f"customers/{n}"))
            await asyncio.sleep(0.02)
        await asyncio.wait_for(applied.get(), 10)
        stop.set()
        await running
        assert seen.calls == [["customers/first"], [f"customers/{n}" for n in range(5)]]

    _run(db_url, scenario)
