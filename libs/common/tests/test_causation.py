"""Causation travels from a consumed event to the events its handler emits.

The consumer makes each event's causation (causing_run, causation_depth)
current while its handler runs; every envelope staged meanwhile carries it,
unless the emitter names another (a rule starting a new link of the chain);
an event no rule caused gives envelopes with neither.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, Table, event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk.events.v1 import customer_events_pb2, envelope_pb2
from crosstalk_common.bus.causation import Causation, caused_by, current_causation
from crosstalk_common.bus.consumer import EventConsumer, Subscription, Within
from crosstalk_common.bus.envelope import Event, causation_of, new_envelope
from crosstalk_common.bus.use_case_handler import (
    batch_in_unit_of_work,
    in_unit_of_work,
    scoped_batch_in_unit_of_work,
)
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import inbox_table, outbox_table
from crosstalk_common.db.outbox import outbox_row, outbox_rows
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from crosstalk_devstack.deliveries import Delivery

from .conftest import DEFAULT_PG_URL, selected_backend

TENANT = "t1"
RUN = Causation("rules/r1/runs/run-1", 1)
OTHER_RUN = Causation("rules/r2/runs/run-9", 2)
SUBSCRIPTION = Subscription(
    durable="test-causation", producer="customers", event_types=["customer.created"]
)


def _envelope(data: bytes) -> envelope_pb2.EventEnvelope:
    return envelope_pb2.EventEnvelope.FromString(data)


def test_without_a_causation_envelopes_carry_no_run_and_depth_0() -> None:
    assert current_causation() is None
    envelope = _envelope(outbox_row(TENANT, customer_events_pb2.CustomerTagged())["payload"])
    assert (envelope.causing_run, envelope.causation_depth) == ("", 0)
    assert causation_of(envelope) is None


def test_staged_envelopes_inherit_the_current_causation() -> None:
    payloads = [customer_events_pb2.CustomerTagged(), customer_events_pb2.CustomerUntagged()]
    with caused_by(RUN):
        assert current_causation() == RUN
        rows = outbox_rows(TENANT, payloads)
    assert current_causation() is None  # only for the block
    for row in rows:
        envelope = _envelope(row["payload"])
        assert (envelope.causing_run, envelope.causation_depth) == (RUN.run, 1)
        assert causation_of(envelope) == RUN


def test_a_causation_given_to_emit_wins_over_the_current_one() -> None:
    with caused_by(RUN):
        row = outbox_row(TENANT, customer_events_pb2.CustomerTagged(), OTHER_RUN)
    envelope = _envelope(row["payload"])
    assert (envelope.causing_run, envelope.causation_depth) == (OTHER_RUN.run, 2)
    _, built = new_envelope(
        TENANT, customer_events_pb2.CustomerTagged(), occurred_at=utc_now(), trace_context={},
        causation=OTHER_RUN,
    )  # fmt: skip
    assert causation_of(built) == OTHER_RUN


# --- through the consumer and a unit of work -----------------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if selected_backend() == "postgres":
        url = os.environ.get("CROSSTALK_TEST_PG_URL", DEFAULT_PG_URL)
    else:
        url = f"sqlite:///{tmp_path / 'causation.db'}"
    made = create_engine(url)
    yield made
    await made.dispose()


@pytest.fixture
async def tables(engine: AsyncEngine) -> AsyncIterator[tuple[Table, Table]]:
    """An outbox and an inbox of their own (the database may be shared)."""
    suffix = uuid.uuid4().hex[:10]
    metadata = MetaData()
    outbox = Table(
        f"outbox_{suffix}",
        metadata,
        *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
          for c in outbox_table(MetaData()).columns),
    )  # fmt: skip
    inbox = Table(
        f"inbox_{suffix}",
        metadata,
        *(Column(c.name, c.type, nullable=False) for c in inbox_table(MetaData()).columns),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield outbox, inbox
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


def created(customer: str, causation: Causation | None) -> Delivery:
    payload = customer_events_pb2.CustomerCreated(customer=customer)
    _, envelope = new_envelope(
        TENANT, payload, occurred_at=utc_now(), trace_context={}, causation=causation
    )
    return Delivery.of(envelope)


async def tag_it(new_uow: Callable[[], SqlUnitOfWork], event: Event) -> None:
    """Emits customer.tagged for the created customer, and for 'customers/override'
    also one naming its own causation."""
    payload = event.payload
    assert isinstance(payload, customer_events_pb2.CustomerCreated)
    async with new_uow() as uow:
        await uow.emit(TENANT, customer_events_pb2.CustomerTagged(customer=payload.customer))
        if payload.customer == "customers/override":
            untagged = customer_events_pb2.CustomerUntagged(customer=payload.customer)
            await uow.emit(TENANT, untagged, causation=OTHER_RUN)
        await uow.commit()


async def _staged(engine: AsyncEngine, outbox: Table) -> list[tuple[str, str, str, int]]:
    """(type, customer, causing_run, depth) of every staged event, in staging order."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))).scalars()
        found = []
        for data in rows:
            envelope = _envelope(data)
            payload = customer_events_pb2.CustomerTagged()
            if envelope.type == "customer.untagged":
                payload = customer_events_pb2.CustomerUntagged()  # type: ignore[assignment]
            envelope.payload.Unpack(payload)
            found.append(
                (envelope.type, payload.customer, envelope.causing_run, envelope.causation_depth)
            )
        return found


async def test_a_handler_s_events_carry_the_consumed_event_s_causation(
    engine: AsyncEngine, tables: tuple[Table, Table]
) -> None:
    outbox, inbox = tables
    consumer = EventConsumer(
        None,  # type: ignore[arg-type]  # process() never touches JetStream
        session_factory(engine),
        inbox,
        SUBSCRIPTION,
        in_unit_of_work(SqlUnitOfWork, outbox, tag_it),
    )
    deliveries = [
        created("customers/a", RUN),
        created("customers/b", None),
        created("customers/override", RUN),
    ]
    await consumer.process(deliveries)  # type: ignore[arg-type]
    assert [d.acked for d in deliveries] == [1, 1, 1]
    assert await _staged(engine, outbox) == [
        ("customer.tagged", "customers/a", RUN.run, 1),
        ("customer.tagged", "customers/b", "", 0),
        ("customer.tagged", "customers/override", RUN.run, 1),
        ("customer.untagged", "customers/override", OTHER_RUN.run, 2),
    ]
    assert current_causation() is None


async def test_a_batch_handler_runs_once_per_run_of_events_of_one_causation(
    engine: AsyncEngine, tables: tuple[Table, Table]
) -> None:
    outbox, inbox = tables
    calls: list[tuple[list[str], Causation | None]] = []

    async def tag_them(new_uow: Callable[[], SqlUnitOfWork], events: Sequence[Event]) -> None:
        customers = [e.payload.customer for e in events]  # type: ignore[attr-defined]
        calls.append((customers, current_causation()))
        async with new_uow() as uow:
            await uow.emit_many(
                TENANT, [customer_events_pb2.CustomerTagged(customer=c) for c in customers]
            )
            await uow.commit()

    consumer = EventConsumer(
        None,  # type: ignore[arg-type]
        session_factory(engine),
        inbox,
        SUBSCRIPTION,
        None,
        batch_handler=batch_in_unit_of_work(SqlUnitOfWork, outbox, tag_them),
    )
    deliveries = [
        created("customers/1", None),
        created("customers/2", None),
        created("customers/3", RUN),
        created("customers/4", RUN),
        created("customers/5", OTHER_RUN),
        created("customers/6", None),
    ]
    await consumer.process(deliveries)  # type: ignore[arg-type]
    assert [d.acked for d in deliveries] == [1] * 6
    assert calls == [
        (["customers/1", "customers/2"], None),
        (["customers/3", "customers/4"], RUN),
        (["customers/5"], OTHER_RUN),
        (["customers/6"], None),
    ]
    assert [(c, run, depth) for _, c, run, depth in await _staged(engine, outbox)] == [
        ("customers/1", "", 0),
        ("customers/2", "", 0),
        ("customers/3", RUN.run, 1),
        ("customers/4", RUN.run, 1),
        ("customers/5", OTHER_RUN.run, 2),
        ("customers/6", "", 0),
    ]


def _traceparent(trace_id: int) -> str:
    return f"00-{trace_id:032x}-{trace_id:016x}-01"


async def test_a_scoped_batch_handler_gets_the_whole_batch_and_enters_each_event_s_scope(
    engine: AsyncEngine, tables: tuple[Table, Table]
) -> None:
    # One call for events of different causations; what it stages inside
    # within(event) carries that event's causation and trace, outside it neither.
    outbox, inbox = tables
    calls: list[list[str]] = []

    async def tag_them(
        new_uow: Callable[[], SqlUnitOfWork], events: Sequence[Event], within: Within
    ) -> None:
        calls.append([e.payload.customer for e in events])  # type: ignore[attr-defined]
        async with new_uow() as uow:
            for event in events:
                customer = event.payload.customer  # type: ignore[attr-defined]
                with within(event):
                    await uow.emit(TENANT, customer_events_pb2.CustomerTagged(customer=customer))
            await uow.emit(TENANT, customer_events_pb2.CustomerUntagged(customer="customers/all"))
            await uow.commit()

    consumer = EventConsumer(
        None,  # type: ignore[arg-type]
        session_factory(engine),
        inbox,
        SUBSCRIPTION,
        None,
        scoped_batch_handler=scoped_batch_in_unit_of_work(SqlUnitOfWork, outbox, tag_them),
    )
    deliveries = [
        created("customers/1", RUN),
        created("customers/2", None),
        created("customers/3", OTHER_RUN),
    ]
    for n, delivery in enumerate(deliveries, start=1):
        delivery.headers["traceparent"] = _traceparent(n)
    await consumer.process(deliveries)  # type: ignore[arg-type]
    await consumer.process(deliveries[:1])  # redelivered: skipped, no call
    assert [d.acked for d in deliveries] == [2, 1, 1]
    assert calls == [["customers/1", "customers/2", "customers/3"]]
    assert [(c, run, depth) for _, c, run, depth in await _staged(engine, outbox)] == [
        ("customers/1", RUN.run, 1),
        ("customers/2", "", 0),
        ("customers/3", OTHER_RUN.run, 2),
        ("customers/all", "", 0),
    ]
    async with engine.connect() as conn:
        headers = (await conn.execute(select(outbox.c.headers).order_by(outbox.c.id))).scalars()
        trace_ids = [h.get("traceparent", "")[3:35] for h in headers]
    assert trace_ids == [f"{n:032x}" for n in (1, 2, 3)] + [""]
    assert current_causation() is None


async def test_a_scoped_batch_handler_s_units_of_work_may_go_without_a_savepoint(
    engine: AsyncEngine, tables: tuple[Table, Table]
) -> None:
    # savepoint=False: the unit of work's rows and events commit with the
    # consumer's transaction, and no SAVEPOINT is made for it.
    outbox, inbox = tables
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    async def tag_them(
        new_uow: Callable[[], SqlUnitOfWork], events: Sequence[Event], within: Within
    ) -> None:
        async with new_uow() as uow:
            for event in events:
                customer = event.payload.customer  # type: ignore[attr-defined]
                with within(event):
                    await uow.emit(TENANT, customer_events_pb2.CustomerTagged(customer=customer))
            await uow.commit()

    consumer = EventConsumer(
        None,  # type: ignore[arg-type]
        session_factory(engine),
        inbox,
        SUBSCRIPTION,
        None,
        scoped_batch_handler=scoped_batch_in_unit_of_work(
            SqlUnitOfWork, outbox, tag_them, savepoint=False
        ),
    )
    deliveries = [created("customers/1", RUN), created("customers/2", None)]
    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        await consumer.process(deliveries)  # type: ignore[arg-type]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert [d.acked for d in deliveries] == [1, 1]
    assert [(c, run) for _, c, run, _ in await _staged(engine, outbox)] == [
        ("customers/1", RUN.run),
        ("customers/2", ""),
    ]
    assert statements
    assert not [s for s in statements if "SAVEPOINT" in s.upper()]
