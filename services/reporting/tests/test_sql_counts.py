"""Reporting's SQL repositories, unit of work and consumer, on a migrated database."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from google.protobuf.message import Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.events.v1 import customer_events_pb2, identity_events_pb2, messaging_events_pb2
from crosstalk_common.bus.consumer import EventConsumer
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.bus.use_case_handler import batch_in_unit_of_work
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.deliveries import Delivery
from reporting.adapters.consumers import on_events, subscriptions
from reporting.adapters.tables import customer_owners, daily_event_counts, inbox, outbox
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.counting import count_events
from reporting.app.metrics import ReportingService
from reporting.domain.counting import NOBODY, CountKey, CustomerRef, Owner
from services.reporting.tests.event_sequences import (
    counted_one_at_a_time,
    random_batches,
    random_events,
)

ANNA = Owner("m-anna", "d-sales")
BEN = Owner("m-ben", "d-support")
EVERYTHING = Visibility(DataScope.ALL)
DAY = date(2026, 3, 4)

NewUow = Callable[[], ReportingUnitOfWork]


async def add(new_uow: NewUow, *keys: CountKey) -> None:
    """+1 per key given (a key given twice, +2), each key in its own call."""
    async with new_uow() as uow:
        for key in keys:
            await uow.counts.add({key: 1})
        await uow.commit()


async def test_counts_add_up_per_key_and_read_back_within_the_scope(
    new_uow: NewUow, tenant: str
) -> None:
    tomorrow = DAY + timedelta(days=1)
    await add(
        new_uow,
        CountKey(tenant, "message.received", DAY, ANNA),
        CountKey(tenant, "message.received", DAY, ANNA),
        CountKey(tenant, "message.received", DAY, BEN),
        CountKey(tenant, "message.received", tomorrow, NOBODY),
        CountKey(tenant, "rule.fired", DAY, ANNA),
        CountKey("another-" + tenant, "message.received", DAY, ANNA),
    )
    anna = Visibility(DataScope.OWN, member_id=ANNA.member_id)
    support = Visibility(DataScope.DEPARTMENT, departments=frozenset({BEN.department_id}))
    async with new_uow() as uow:
        counts = uow.counts
        assert await counts.daily(tenant, EVERYTHING, "message.received", DAY, tomorrow) == [
            (DAY, 3),
            (tomorrow, 1),
        ]
        assert await counts.daily(tenant, EVERYTHING, "message.received", tomorrow, tomorrow) == [
            (tomorrow, 1)
        ]
        assert await counts.daily(tenant, anna, "message.received", DAY, tomorrow) == [(DAY, 2)]
        assert await counts.totals(tenant, EVERYTHING) == {"message.received": 4, "rule.fired": 1}
        assert await counts.totals(tenant, anna) == {"message.received": 2, "rule.fired": 1}
        assert await counts.totals(tenant, support) == {"message.received": 1}
        nobody = Visibility(DataScope.OWN)
        assert await counts.totals(tenant, nobody) == {}


async def test_counts_added_at_once_add_to_those_already_there(
    new_uow: NewUow, tenant: str
) -> None:
    first = CountKey(tenant, "message.received", DAY, ANNA)
    second = CountKey(tenant, "message.received", DAY, NOBODY)
    third = CountKey(tenant, "rule.fired", DAY + timedelta(days=1), BEN)
    async with new_uow() as uow:
        await uow.counts.add({first: 2, second: 1})
        await uow.commit()
    async with new_uow() as uow:
        await uow.counts.add({third: 4, second: 3, first: 5})
        await uow.counts.add({})
        await uow.commit()
    async with new_uow() as uow:
        assert await stored_counts(uow, tenant) == {first: 7, second: 4, third: 4}


async def test_owners_remembered_again_are_replaced_and_read_back_at_once_across_tenants(
    new_uow: NewUow, tenant: str
) -> None:
    other = "another-" + tenant
    async with new_uow() as uow:
        await uow.owners.remember({(tenant, "customers/1"): ANNA, (other, "customers/2"): ANNA})
        await uow.owners.remember({(tenant, "customers/1"): BEN, (tenant, "customers/3"): ANNA})
        await uow.owners.remember({})
        await uow.commit()
    async with new_uow() as uow:
        asked = [(tenant, "customers/1"), (tenant, "customers/2"), (other, "customers/2")]
        assert await uow.owners.owners_of(asked) == {
            (tenant, "customers/1"): BEN,
            (other, "customers/2"): ANNA,
        }
        assert await uow.owners.owners_of([(other, "customers/1")]) == {}
        assert await uow.owners.owners_of([]) == {}


async def test_a_unit_of_work_that_does_not_commit_leaves_nothing(
    new_uow: NewUow, tenant: str
) -> None:
    async with new_uow() as uow:
        await uow.counts.add({CountKey(tenant, "rule.fired", DAY, ANNA): 1})
        await uow.owners.remember({(tenant, "customers/1"): ANNA})
    async with new_uow() as uow:
        assert await uow.counts.totals(tenant, EVERYTHING) == {}
        assert await uow.owners.owners_of([(tenant, "customers/1")]) == {}


async def stored_counts(uow: ReportingUnitOfWork, *tenants: str) -> dict[CountKey, int]:
    c = daily_event_counts.c
    rows = await uow.session.execute(
        select(c.tenant_id, c.event_type, c.day, c.owner_member_id, c.department_id, c.count).where(
            c.tenant_id.in_(tenants)
        )
    )
    return {CountKey(r[0], r[1], r[2], Owner(r[3], r[4])): r[5] for r in rows}


async def stored_owners(uow: ReportingUnitOfWork, *tenants: str) -> dict[CustomerRef, Owner]:
    c = customer_owners.c
    rows = await uow.session.execute(
        select(c.tenant_id, c.customer, c.owner_member_id, c.department_id).where(
            c.tenant_id.in_(tenants)
        )
    )
    return {(r[0], r[1]): Owner(r[2], r[3]) for r in rows}


@pytest.mark.parametrize("seed", range(3))
async def test_events_counted_in_batches_add_up_as_counted_one_at_a_time(
    new_uow: NewUow, tenant: str, seed: int
) -> None:
    rng = random.Random(seed)
    tenants = [tenant, "another-" + tenant]
    events = random_events(rng, tenants, 150)
    for batch in random_batches(rng, events):
        await count_events(new_uow, batch)
    counts, owners = counted_one_at_a_time(events)
    async with new_uow() as uow:
        assert await stored_counts(uow, *tenants) == counts
        assert await stored_owners(uow, *tenants) == owners


def event(tenant: str, payload: Message, at: datetime) -> Event:
    _, envelope = new_envelope(tenant, payload, occurred_at=at, trace_context={})
    return Event(envelope, payload)


def deliveries(*events: Event) -> list[Delivery]:
    return [Delivery.of(e.envelope) for e in events]


def consumer(sessions: async_sessionmaker[AsyncSession], producer: str) -> EventConsumer:
    subscription = next(s for s in subscriptions() if s.producer == producer)
    return EventConsumer(
        None,  # type: ignore[arg-type]  # process() never touches JetStream
        sessions,
        inbox,
        subscription,
        None,
        batch_handler=batch_in_unit_of_work(ReportingUnitOfWork, outbox, on_events),
    )


async def test_the_consumer_counts_each_event_once_under_its_customers_owner(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    at = datetime(2026, 3, 4, 23, 30, tzinfo=UTC)
    created = event(
        tenant,
        customer_events_pb2.CustomerCreated(
            customer="customers/1", owner="members/m-anna", department="departments/d-sales"
        ),
        at,
    )
    from_anna_s = event(tenant, messaging_events_pb2.MessageReceived(customer="customers/1"), at)
    from_stranger = event(tenant, messaging_events_pb2.MessageReceived(), at)
    signed_up = event(tenant, identity_events_pb2.TenantCreated(tenant=f"tenants/{tenant}"), at)

    first = deliveries(created, created)  # the same event twice in one batch
    await consumer(sessions, "customers").process(first)  # type: ignore[arg-type]
    messages = deliveries(from_anna_s, from_stranger)
    again = deliveries(from_anna_s)  # redelivered later
    await consumer(sessions, "messaging").process(messages)  # type: ignore[arg-type]
    await consumer(sessions, "messaging").process(again)  # type: ignore[arg-type]
    await consumer(sessions, "identity").process(deliveries(signed_up))  # type: ignore[arg-type]
    assert [d.acked for d in [*first, *messages, *again]] == [1, 1, 1, 1, 1]

    service = ReportingService(new_uow)
    assert await service.dashboard(tenant, EVERYTHING) == {
        "messages_received": 2,
        "rules_fired": 0,
        "customers_created": 1,
        "customers_tagged": 0,
    }
    anna = Visibility(DataScope.OWN, member_id="m-anna")
    assert await service.dashboard(tenant, anna) == {
        "messages_received": 1,
        "rules_fired": 0,
        "customers_created": 1,
        "customers_tagged": 0,
    }
    async with sessions() as session:
        rows = (
            await session.execute(
                select(
                    daily_event_counts.c.event_type,
                    daily_event_counts.c.day,
                    daily_event_counts.c.owner_member_id,
                    daily_event_counts.c.count,
                )
                .where(daily_event_counts.c.tenant_id == tenant)
                .order_by(daily_event_counts.c.event_type, daily_event_counts.c.owner_member_id)
            )
        ).all()
        outboxed = await session.scalar(select(func.count()).select_from(outbox))
    assert [tuple(r) for r in rows] == [
        ("customer.created", DAY, "m-anna", 1),
        ("message.received", DAY, "", 1),
        ("message.received", DAY, "m-anna", 1),
        ("tenant.created", DAY, "", 1),
    ]
    assert outboxed == 0  # counting publishes nothing
