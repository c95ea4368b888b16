"""A consumer's use case runs in a unit of work joined to the consumer's transaction:
what it commits lands with the inbox entry, what it leaves uncommitted is gone,
and a redelivered event does not run it again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import Column, MetaData, String, Table, func, insert, select

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.consumer import EventConsumer, Subscription
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.bus.use_case_handler import batch_in_unit_of_work, in_unit_of_work
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import inbox_table, outbox_table
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from crosstalk_devstack.deliveries import Delivery

metadata = MetaData()
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
notes = Table("notes", metadata, Column("customer", String(100), primary_key=True))

SUBSCRIPTION = Subscription(
    durable="test-notes", producer="customers", event_types=["customer.created"]
)


class NotesUnitOfWork(SqlUnitOfWork):
    async def note(self, customer: str) -> None:
        await self.session.execute(insert(notes).values(customer=customer))


async def note_the_customer(new_uow: Callable[[], NotesUnitOfWork], event: Event) -> None:
    """Notes every created customer and tags it; forgets to commit for 'customers/draft'."""
    payload = event.payload
    assert isinstance(payload, customer_events_pb2.CustomerCreated)
    async with new_uow() as uow:
        await uow.note(payload.customer)
        await uow.emit(
            event.tenant_id, customer_events_pb2.CustomerTagged(customer=payload.customer)
        )
        if payload.customer != "customers/draft":
            await uow.commit()


def noting_the_customers(
    calls: list[list[str]],
) -> Callable[[Callable[[], NotesUnitOfWork], Sequence[Event]], Awaitable[None]]:
    """A batch use case: notes every created customer of a batch in one unit of
    work and tags each; forgets to commit when the batch holds 'customers/draft'.
    Records each call's customers in ``calls``."""

    async def handle(new_uow: Callable[[], NotesUnitOfWork], events: Sequence[Event]) -> None:
        customers = [_created_customer(e) for e in events]
        calls.append(customers)
        async with new_uow() as uow:
            for event, customer in zip(events, customers, strict=True):
                await uow.note(customer)
                tagged = customer_events_pb2.CustomerTagged(customer=customer)
                await uow.emit(event.tenant_id, tagged)
            if "customers/draft" not in customers:
                await uow.commit()

    return handle


def _created_customer(event: Event) -> str:
    payload = event.payload
    assert isinstance(payload, customer_events_pb2.CustomerCreated)
    return payload.customer


def created(customer: str) -> Delivery:
    payload = customer_events_pb2.CustomerCreated(customer=customer)
    _, envelope = new_envelope("t1", payload, occurred_at=utc_now(), trace_context={})
    return Delivery.of(envelope)


def test_the_use_case_commits_with_the_inbox_entry_or_leaves_nothing(db_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = session_factory(engine)
        nudged: list[bool] = []
        consumer = EventConsumer(
            None,  # type: ignore[arg-type]  # process() never touches JetStream
            sessions,
            inbox,
            SUBSCRIPTION,
            in_unit_of_work(NotesUnitOfWork, outbox, note_the_customer),
            after_commit=lambda: nudged.append(True),
        )
        first, draft = created("customers/1"), created("customers/draft")
        again = Delivery(first.data, first.subject)
        await consumer.process([first, draft])  # type: ignore[list-item]
        await consumer.process([again])  # type: ignore[list-item]
        assert (first.acked, draft.acked, again.acked) == (1, 1, 1)
        assert nudged == [True, True]

        async with sessions() as session:
            noted = (await session.execute(select(notes.c.customer))).scalars().all()
            staged = await session.scalar(select(func.count()).select_from(outbox))
            seen = await session.scalar(select(func.count()).select_from(inbox))
        assert noted == ["customers/1"]
        assert staged == 1
        assert seen == 2  # the draft's event is consumed even though its use case kept nothing
        await engine.dispose()

    asyncio.run(scenario())


def test_a_batch_use_case_gets_the_new_events_at_once_and_commits_with_their_inbox_entries(
    db_url: str,
) -> None:
    async def scenario() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = session_factory(engine)
        calls: list[list[str]] = []
        consumer = EventConsumer(
            None,  # type: ignore[arg-type]  # process() never touches JetStream
            sessions,
            inbox,
            SUBSCRIPTION,
            None,
            batch_handler=batch_in_unit_of_work(
                NotesUnitOfWork, outbox, noting_the_customers(calls)
            ),
        )
        first, second = created("customers/1"), created("customers/2")
        await consumer.process([first, second])  # type: ignore[list-item]
        draft, again = created("customers/draft"), Delivery(first.data, first.subject)
        await consumer.process([again, draft])  # type: ignore[list-item]
        assert calls == [["customers/1", "customers/2"], ["customers/draft"]]
        assert (first.acked, second.acked, again.acked, draft.acked) == (1, 1, 1, 1)

        async with sessions() as session:
            noted = (await session.execute(select(notes.c.customer))).scalars().all()
            staged = await session.scalar(select(func.count()).select_from(outbox))
            seen = await session.scalar(select(func.count()).select_from(inbox))
        assert sorted(noted) == ["customers/1", "customers/2"]
        assert staged == 2
        assert seen == 3  # the draft's batch is consumed though its use case kept nothing
        await engine.dispose()

    asyncio.run(scenario())
