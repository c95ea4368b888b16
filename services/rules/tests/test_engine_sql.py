"""The engine on a migrated database (SQLite and PostgreSQL): triggering events
through the consumer, projections, runs with their facts and trace, causation
on the action events, outcomes coming back, counters, the evaluation log and
the tenant's settings."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.common.v1 import channel_pb2, condition_pb2, text_analysis_pb2
from crosstalk.events.v1 import (
    customer_events_pb2,
    envelope_pb2,
    messaging_events_pb2,
    rule_events_pb2,
)
from crosstalk_common.bus.consumer import EventConsumer, Subscription
from crosstalk_common.bus.envelope import Event, new_envelope, read_event
from crosstalk_common.bus.use_case_handler import in_unit_of_work
from crosstalk_common.conditions.model import Group, Leaf, Node, Op
from crosstalk_common.conditions.parse import operator_name
from crosstalk_common.secrets import Kek, Keyring
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.deliveries import Delivery
from crosstalk_devstack.sqlite_trips import count_trips
from rules.adapters.consumers import CONVERSATIONS, CUSTOMERS, MESSAGES, on_trigger
from rules.adapters.tables import inbox, outbox, rule_settings
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.app.enabled_rules import EnabledRules
from rules.app.running import Engine, Occurrence
from rules.app.runs import RunService, purge_evaluation_log
from rules.domain.actions import AddNote, Escalate, SetPriority
from rules.domain.evaluation import Outcome
from rules.domain.model import Rule, Trigger
from rules.domain.runs import ActionStatus, Counter, RunFilter
from rules.domain.settings import RuleSettings

NewUow = Callable[[], RulesUnitOfWork]
VIP = Leaf("customer.tier", Op.EQUALS, ("VIP",))
EVERYONE = Visibility.everything()
NEGATIVE = Leaf("message.sentiment.label", Op.EQUALS, ("negative",))


def condition_pb(node: Node) -> condition_pb2.Condition:
    if isinstance(node, Leaf):
        return condition_pb2.Condition(
            leaf=condition_pb2.ConditionLeaf(
                field=node.field,
                operator=condition_pb2.Operator.Value(operator_name(node.operator)),
                values=[str(v) for v in node.values],
            )
        )
    logical = {"and": 1, "or": 2, "not": 3}[node.op]
    return condition_pb2.Condition(
        group=condition_pb2.ConditionGroup(
            operator=logical,  # type: ignore[arg-type]
            conditions=[condition_pb(c) for c in node.children],
        )
    )


def a_rule(tenant: str, name: str, condition: Node | None, *actions: object, **kw: object) -> Rule:
    now = datetime.now(UTC)
    blob = condition_pb(condition).SerializeToString() if condition is not None else b""
    fields: dict[str, object] = {
        "condition_blob": blob,
        "id": str(uuid.uuid4()),
        "tenant_id": tenant,
        "display_name": name,
        "trigger": Trigger.MESSAGE_RECEIVED,
        "condition": condition,
        "actions": actions,
        "created_at": now,
        "updated_at": now,
    }
    fields.update(kw)
    return Rule(**fields)  # type: ignore[arg-type]


def delivery(tenant: str, payload: Message, *, run: str = "", depth: int = 0) -> Delivery:
    _, envelope = new_envelope(tenant, payload, occurred_at=datetime.now(UTC), trace_context={})
    envelope.causing_run, envelope.causation_depth = run, depth
    return Delivery.of(envelope)


def consumer(
    sessions: async_sessionmaker[AsyncSession], subscription: Subscription
) -> EventConsumer:
    return EventConsumer(
        None,  # type: ignore[arg-type]  # process() never touches JetStream
        sessions,
        inbox,
        subscription,
        in_unit_of_work(RulesUnitOfWork, outbox, on_trigger(Engine(EnabledRules()))),
    )


def angry(customer: str) -> messaging_events_pb2.MessageReceived:
    return messaging_events_pb2.MessageReceived(
        message=f"{customer}/m",
        conversation=f"conversations/of-{customer.split('/')[-1]}",
        customer=customer,
        text="This is unacceptable!",
        sender=channel_pb2.ChannelIdentity(channel=channel_pb2.CHANNEL_EMAIL, external_id="a@b"),
        sentiment=text_analysis_pb2.Sentiment(
            score=-0.8, label=text_analysis_pb2.SENTIMENT_LABEL_NEGATIVE
        ),
        follow_ups=3,
    )


def tier_changed(customer: str, version: int, tier: str) -> customer_events_pb2.CustomerTierChanged:
    return customer_events_pb2.CustomerTierChanged(
        customer=customer,
        to_tier="tiers/x",
        snapshot=customer_events_pb2.CustomerSnapshot(
            version=version, tier=tier, tag_labels=["known"], tags=["tags/1"]
        ),
    )


async def staged(sessions: async_sessionmaker[AsyncSession], tenant: str) -> list[Event]:
    async with sessions() as session:
        rows = (await session.execute(select(outbox.c.payload).order_by(outbox.c.id))).all()
    return [e for e in (read_event(p) for (p,) in rows) if e.tenant_id == tenant]


async def test_a_vip_message_escalates_and_a_normal_one_takes_the_standard_path(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    vip_rule = a_rule(
        tenant,
        "angry VIP",
        Group("and", (VIP, NEGATIVE)),
        SetPriority("urgent"),
        Escalate("angry VIP", group="groups/seniors"),
        AddNote("call back"),
        priority=1,
        stop_processing=True,
    )
    standard = a_rule(tenant, "angry", NEGATIVE, AddNote("standard"), priority=2)
    async with new_uow() as uow:
        await uow.rules.add(vip_rule)
        await uow.rules.add(standard)
        await uow.commit()
    customers, messages = consumer(sessions, CUSTOMERS), consumer(sessions, MESSAGES)
    # The customer projection is fed by the snapshot customer events carry.
    await customers.process([delivery(tenant, tier_changed("customers/v", 2, "VIP"))])  # type: ignore[list-item]
    await customers.process([delivery(tenant, tier_changed("customers/v", 1, "Silver"))])  # type: ignore[list-item]
    await customers.process([delivery(tenant, tier_changed("customers/n", 1, "Silver"))])  # type: ignore[list-item]
    await messages.process([delivery(tenant, angry("customers/v"))])  # type: ignore[list-item]
    await messages.process([delivery(tenant, angry("customers/n"))])  # type: ignore[list-item]

    service = RunService(new_uow)
    vip_runs = await service.page(
        tenant, EVERYONE, RunFilter(customer="customers/v"), after=[], limit=10
    )
    assert [(r.rule_id, r.outcome) for r in vip_runs] == [
        (standard.id, Outcome.SKIPPED_STOPPED),
        (vip_rule.id, Outcome.MATCHED),
    ] or [(r.rule_id, r.outcome) for r in vip_runs] == [
        (vip_rule.id, Outcome.MATCHED),
        (standard.id, Outcome.SKIPPED_STOPPED),
    ]
    fired = next(r for r in vip_runs if r.outcome is Outcome.MATCHED)
    assert fired.facts["customer.tier"] == "VIP"
    assert fired.facts["conversation.follow_ups"] == 3
    assert fired.trace is not None
    assert fired.trace["result"] is True
    assert [a.kind for a in fired.actions] == ["set_priority", "escalate", "add_note"]
    normal = await service.page(
        tenant, EVERYONE, RunFilter(customer="customers/n"), after=[], limit=10
    )
    assert [(r.rule_id, r.outcome) for r in normal] == [(standard.id, Outcome.MATCHED)]

    events = await staged(sessions, tenant)
    by_run = [e for e in events if e.envelope.causing_run == f"rules/{vip_rule.id}/runs/{fired.id}"]
    assert [e.type for e in by_run] == [
        "rule.fired",
        "rule.action.priority",
        "rule.action.escalate",
        "rule.action.note",
    ]
    assert {e.envelope.causation_depth for e in by_run} == {1}
    escalate = by_run[2].payload
    assert isinstance(escalate, rule_events_pb2.RuleActionEscalateRequested)
    assert (escalate.assignee_group, escalate.action_index, escalate.conversation) == (
        "groups/seniors",
        1,
        "conversations/of-v",
    )

    # Outcomes come back from messaging and go on the run.
    completed = rule_events_pb2.RuleActionCompleted(
        rule=f"rules/{vip_rule.id}",
        run=f"rules/{vip_rule.id}/runs/{fired.id}",
        action_index=1,
        action_type="rule.action.escalate",
        outcome=rule_events_pb2.RULE_ACTION_OUTCOME_SUCCEEDED,
        result="members/lead",
    )
    await consumer(sessions, CONVERSATIONS).process([delivery(tenant, completed)])  # type: ignore[list-item]
    stored = await service.get(tenant, EVERYONE, vip_rule.id, fired.id)
    assert [a.status for a in stored.actions] == [
        ActionStatus.REQUESTED,
        ActionStatus.SUCCEEDED,
        ActionStatus.REQUESTED,
    ]
    (stats,) = await service.statistics(
        tenant, EVERYONE, vip_rule.id, start=None, end=None, week=False
    )
    assert (
        stats.counts[Counter.EVALUATED],
        stats.counts[Counter.MATCHED],
        stats.counts[Counter.FIRED],
        stats.counts[Counter.ACTIONS_SUCCEEDED],
    ) == (2, 1, 1, 1)
    assert stats.hit_rate == 0.5


async def test_the_loop_guard_reads_the_envelope(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = a_rule(tenant, "any", None, AddNote("x"))
    async with new_uow() as uow:
        await uow.rules.add(rule)
        await uow.commit()
    messages = consumer(sessions, MESSAGES)
    own = f"rules/{rule.id}/runs/earlier"
    await messages.process([delivery(tenant, angry("customers/a"), run=own, depth=1)])  # type: ignore[list-item]
    await messages.process([delivery(tenant, angry("customers/b"), run="rules/x/runs/y", depth=3)])  # type: ignore[list-item]
    await messages.process([delivery(tenant, angry("customers/c"), run="rules/x/runs/y", depth=2)])  # type: ignore[list-item]
    runs = await RunService(new_uow).page(
        tenant, EVERYONE, RunFilter(rule_id=rule.id), after=[], limit=10
    )
    assert sorted((r.customer, r.outcome, r.causation_depth) for r in runs) == [
        ("customers/a", Outcome.SKIPPED_LOOP_GUARD, 1),
        ("customers/c", Outcome.MATCHED, 2),
    ]
    events = [e for e in await staged(sessions, tenant) if e.type == "rule.action.note"]
    assert [e.envelope.causation_depth for e in events] == [3]


async def test_runs_page_newest_first_and_the_log_keeps_its_retention(
    new_uow: NewUow, tenant: str
) -> None:
    engine = Engine(EnabledRules())
    rule = a_rule(tenant, "any", None, AddNote("x"))
    async with new_uow() as uow:
        await uow.rules.add(rule)
        await uow.commit()
    for i in range(5):
        await engine.run(
            new_uow,
            Occurrence(
                tenant_id=tenant,
                trigger=Trigger.MESSAGE_RECEIVED,
                event_id=f"{tenant}-{i}",
                customer=f"customers/{i}",
                facts={"message.text": "hi"},
                occurred_at=datetime.now(UTC) - timedelta(days=45 - i * 10),
            ),
        )
    service = RunService(new_uow)
    first = await service.page(tenant, EVERYONE, RunFilter(), after=[], limit=3)
    rest = await service.page(
        tenant,
        EVERYONE,
        RunFilter(),
        after=[first[-1].created_at.isoformat(), first[-1].id],
        limit=3,
    )
    everything = [*first, *rest]
    assert len(everything) == 5
    assert [r.created_at for r in everything] == sorted(
        (r.created_at for r in everything), reverse=True
    )
    assert await service.page("another", EVERYONE, RunFilter(), after=[], limit=3) == []

    now = datetime.now(UTC)
    async with new_uow() as uow:
        logged = await uow.evaluation_log.between(
            tenant, now - timedelta(days=50), now, visibility=EVERYONE
        )
    assert [e.customer for e in logged] == [f"customers/{i}" for i in range(5)]
    assert logged[0].facts["message.text"] == "hi"
    assert await purge_evaluation_log(new_uow, [tenant], now=now) == 2  # 45 and 35 days old
    async with new_uow() as uow:
        await uow.settings.save(RuleSettings(tenant, retention=timedelta(days=20)))
        await uow.commit()
    assert await purge_evaluation_log(new_uow, None, now=now) >= 1  # 25 days old, all tenants
    async with new_uow() as uow:
        kept = await uow.evaluation_log.between(
            tenant, now - timedelta(days=50), now, visibility=EVERYONE
        )
    assert [e.customer for e in kept] == ["customers/3", "customers/4"]


async def test_settings_keep_the_webhook_secret_sealed(
    sessions: async_sessionmaker[AsyncSession], tenant: str
) -> None:
    keyring = Keyring.of(Kek.generate("k1"))
    unit = RulesUnitOfWork.with_keyring(keyring)
    async with unit(sessions, outbox) as uow:
        await uow.settings.save(
            RuleSettings(tenant, time_zone="Europe/Berlin", webhook_secret="hush")
        )
        await uow.commit()
    async with unit(sessions, outbox) as uow:
        found = await uow.settings.get(tenant)
    assert found is not None
    assert (found.time_zone, found.webhook_secret) == ("Europe/Berlin", "hush")
    async with sessions() as session:
        stored = await session.scalar(
            select(rule_settings.c.webhook_secret).where(rule_settings.c.tenant_id == tenant)
        )
    assert stored
    assert "hush" not in stored


async def test_a_delivered_event_counts_once(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = a_rule(tenant, "any", None, AddNote("x"))
    async with new_uow() as uow:
        await uow.rules.add(rule)
        await uow.commit()
    messages = consumer(sessions, MESSAGES)
    once = delivery(tenant, angry("customers/a"))
    await messages.process([once])  # type: ignore[list-item]
    await messages.process([Delivery(once.data, once.subject)])  # type: ignore[list-item]
    trigger = envelope_pb2.EventEnvelope.FromString(once.data).event_id
    runs = await RunService(new_uow).page(
        tenant, EVERYONE, RunFilter(trigger_event_id=trigger), after=[], limit=10
    )
    assert len(runs) == 1
    (stats,) = await RunService(new_uow).statistics(
        tenant, EVERYONE, rule.id, start=None, end=None, week=True
    )
    assert stats.counts[Counter.EVALUATED] == 1


@pytest.mark.skipif(
    os.environ.get("CROSSTALK_TEST_DB", "sqlite") != "sqlite", reason="aiosqlite's thread"
)
async def test_an_event_costs_few_trips_to_aiosqlites_thread(
    sessions: async_sessionmaker[AsyncSession],
    new_uow: NewUow,
    tenant: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The engine's statements per event (projections, settings, evaluation log,
    # cooldown lookup, run, counters) run in the event loop: once the consumer's
    # transaction has written its inbox row it holds SQLite's write lock.
    rule = a_rule(tenant, "angry", NEGATIVE, AddNote("x"), cooldown_seconds=60)
    async with new_uow() as uow:
        await uow.rules.add(rule)
        await uow.commit()
    messages = consumer(sessions, MESSAGES)
    await messages.process([delivery(tenant, angry("customers/warm"))])  # type: ignore[list-item]
    trips = count_trips(monkeypatch)
    await messages.process([delivery(tenant, angry("customers/warm"))])  # type: ignore[list-item]
    statements = [t for t in trips if t == "_run"]
    runs = await RunService(new_uow).page(
        tenant, EVERYONE, RunFilter(rule_id=rule.id), after=[], limit=5
    )
    assert sorted(r.outcome for r in runs) == [Outcome.MATCHED, Outcome.SKIPPED_COOLDOWN]
    assert len(statements) <= 5, trips  # 9 with none of the engine's statements marked
