"""The rules repository, unit of work and message consumer, on a migrated database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.common.v1 import channel_pb2, condition_pb2
from crosstalk.events.v1 import envelope_pb2, messaging_events_pb2, rule_events_pb2
from crosstalk.rules.v1 import resources_pb2
from crosstalk_common.bus.consumer import EventConsumer
from crosstalk_common.bus.envelope import Event, new_envelope, read_event
from crosstalk_common.bus.use_case_handler import in_unit_of_work
from crosstalk_devstack.deliveries import Delivery
from rules.adapters.consumers import MESSAGES, on_trigger
from rules.adapters.mapping import rule_from_pb
from rules.adapters.tables import inbox, outbox, rule_runs
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.app.enabled_rules import EnabledRules
from rules.app.ports import RuleFilter
from rules.app.running import Engine
from rules.domain.model import Rule, Trigger
from services.rules.tests.management_fakes import management

NewUow = Callable[[], RulesUnitOfWork]


def draft(tenant: str, name: str, channel: str = "CHANNEL_EMAIL", *, enabled: bool = True) -> Rule:
    proto = resources_pb2.Rule(
        display_name=name,
        trigger=resources_pb2.TRIGGER_MESSAGE_RECEIVED,
        condition=condition_pb2.Condition(
            leaf=condition_pb2.ConditionLeaf(
                field="channel", operator=condition_pb2.OPERATOR_EQUALS, values=[channel]
            )
        ),
        actions=[resources_pb2.Action(add_tag=resources_pb2.AddTagAction(tags=["vip"]))],
        enabled=enabled,
    )
    return rule_from_pb(tenant, proto)


async def test_rules_come_back_as_stored_in_pages_and_only_enabled_ones_run(
    new_uow: NewUow, tenant: str
) -> None:
    service = management(new_uow)
    made = [(await service.create(draft(tenant, f"rule {i}"), author="m")).rule for i in range(5)]
    off = (await service.create(draft(tenant, "off", enabled=False), author="m")).rule
    await service.create(draft("another-" + tenant, "theirs"), author="m")

    found = await service.get(tenant, made[0].id)
    assert found == made[0]
    first = await service.page(tenant, RuleFilter(), after=[], limit=4)
    last = first[-1]
    assert last.created_at is not None
    keys = [str(last.priority), last.created_at.isoformat(), last.id]
    rest = await service.page(tenant, RuleFilter(), after=keys, limit=4)
    in_order = sorted([*made, off], key=lambda r: (r.created_at or datetime.min, r.id))
    assert [r.id for r in [*first, *rest]] == [r.id for r in in_order]
    async with new_uow() as uow:
        enabled = await uow.rules.enabled_for(tenant, Trigger.MESSAGE_RECEIVED)
    assert sorted(r.id for r in enabled) == sorted(r.id for r in made)


def received(tenant: str, customer: str, channel: int) -> Delivery:
    payload = messaging_events_pb2.MessageReceived(
        customer=customer,
        text="where is my parcel?",
        sender=channel_pb2.ChannelIdentity(channel=channel, external_id="a@b.test"),  # type: ignore[arg-type]
    )
    _, envelope = new_envelope(tenant, payload, occurred_at=datetime.now(UTC), trace_context={})
    return Delivery.of(envelope)


async def staged_events(sessions: async_sessionmaker[AsyncSession], tenant: str) -> list[Event]:
    async with sessions() as session:
        rows = (await session.execute(select(outbox.c.payload).order_by(outbox.c.created_at))).all()
    events = [read_event(payload) for (payload,) in rows]
    return [e for e in events if e.tenant_id == tenant]


async def test_a_message_fires_its_rules_once_however_often_it_is_delivered(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = (await management(new_uow).create(draft(tenant, "email buyers"), author="m")).rule
    consumer = EventConsumer(
        None,  # type: ignore[arg-type]  # process() never touches JetStream
        sessions,
        inbox,
        MESSAGES,
        in_unit_of_work(RulesUnitOfWork, outbox, on_trigger(Engine(EnabledRules()))),
    )
    email = received(tenant, "customers/c1", channel_pb2.CHANNEL_EMAIL)
    again = Delivery(email.data, email.subject)
    phone = received(tenant, "customers/c2", channel_pb2.CHANNEL_PHONE)
    await consumer.process([email, phone])  # type: ignore[list-item]
    await consumer.process([again])  # type: ignore[list-item]
    assert (email.acked, phone.acked, again.acked) == (1, 1, 1)

    trigger = envelope_pb2.EventEnvelope.FromString(email.data).event_id
    async with sessions() as session:
        runs = (
            await session.execute(
                select(
                    rule_runs.c.rule_id, rule_runs.c.customer, rule_runs.c.trigger_event_id
                ).where(rule_runs.c.tenant_id == tenant)
            )
        ).all()
    assert [tuple(r) for r in runs] == [(rule.id, "customers/c1", trigger)]
    events = await staged_events(sessions, tenant)
    assert [e.type for e in events] == ["rule.fired", "rule.action.tag"]
    fired, tag = events[0].payload, events[1].payload
    assert isinstance(fired, rule_events_pb2.RuleFired)
    assert isinstance(tag, rule_events_pb2.RuleActionTagRequested)
    assert (fired.rule, fired.customer, fired.trigger_event_id) == (
        f"rules/{rule.id}",
        "customers/c1",
        trigger,
    )
    assert (list(tag.tag_labels), tag.run) == (["vip"], fired.run)


async def test_each_replica_sees_rules_created_through_another_on_the_next_event(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    # Two replicas of the consumer, each keeping the tenant's rules between events.
    replicas = [
        EventConsumer(
            None,  # type: ignore[arg-type]  # process() never touches JetStream
            sessions,
            inbox,
            MESSAGES,
            in_unit_of_work(RulesUnitOfWork, outbox, on_trigger(Engine(EnabledRules()))),
        )
        for _ in range(2)
    ]
    service = management(new_uow)

    async def fired_by_each(customer: str, channel: int) -> list[set[str]]:
        fired = []
        for i, replica in enumerate(replicas):
            delivery = received(tenant, f"{customer}-{i}", channel)
            await replica.process([delivery])  # type: ignore[list-item]
            trigger = envelope_pb2.EventEnvelope.FromString(delivery.data).event_id
            async with sessions() as session:
                rows = await session.execute(
                    select(rule_runs.c.rule_id).where(rule_runs.c.trigger_event_id == trigger)
                )
                fired.append({rule_id for (rule_id,) in rows})
        return fired

    assert await fired_by_each("customers/a", channel_pb2.CHANNEL_EMAIL) == [set(), set()]
    email = (await service.create(draft(tenant, "email buyers"), author="m")).rule
    assert await fired_by_each("customers/b", channel_pb2.CHANNEL_EMAIL) == [{email.id}] * 2
    phone = (await service.create(draft(tenant, "phone buyers", "CHANNEL_PHONE"), author="m")).rule
    assert await fired_by_each("customers/c", channel_pb2.CHANNEL_PHONE) == [{phone.id}] * 2
    await service.create(draft(tenant, "off", "CHANNEL_PHONE", enabled=False), author="m")
    await service.create(draft("another-" + tenant, "theirs", "CHANNEL_PHONE"), author="m")
    assert await fired_by_each("customers/d", channel_pb2.CHANNEL_PHONE) == [{phone.id}] * 2
    assert await fired_by_each("customers/e", channel_pb2.CHANNEL_EMAIL) == [{email.id}] * 2
