"""A fetched batch of triggering events applied in one unit of work (SQLite and
PostgreSQL): every event still gets its own run, facts and causation; counters
are added once per rule for the batch; a rule disabled by an earlier event of
the batch no longer fires for a later one; saved settings reach the next event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from google.protobuf.message import Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.common.v1 import priority_pb2
from crosstalk.events.v1 import (
    customer_events_pb2,
    envelope_pb2,
    messaging_events_pb2,
    rule_events_pb2,
)
from crosstalk_common.bus.consumer import EventConsumer, Subscription
from crosstalk_common.bus.use_case_handler import scoped_batch_in_unit_of_work
from crosstalk_common.db.write_gate import begin_writing
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.deliveries import Delivery
from rules.adapters.consumers import CUSTOMERS, MESSAGES, on_triggers
from rules.adapters.tables import (
    conversation_projections,
    evaluation_log,
    inbox,
    outbox,
    rule_hourly_stats,
    rules,
)
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.app.enabled_rules import EnabledRules
from rules.app.running import Engine
from rules.app.runs import RunService
from rules.domain.actions import AddNote, AdjustScore
from rules.domain.evaluation import Outcome
from rules.domain.model import Rule, Trigger
from rules.domain.runs import ActionResult, ActionStatus, Counter, RunFilter
from rules.domain.settings import RuleSettings
from services.rules.tests.engine_fakes import fired_run
from services.rules.tests.test_engine_sql import (
    a_rule,
    angry,
    delivery,
    staged,
    tier_changed,
)

NewUow = Callable[[], RulesUnitOfWork]
EVERYONE = Visibility.everything()


def batch_consumer(
    sessions: async_sessionmaker[AsyncSession], subscription: Subscription
) -> EventConsumer:
    return EventConsumer(
        None,  # type: ignore[arg-type]  # process() never touches JetStream
        sessions,
        inbox,
        subscription,
        None,
        scoped_batch_handler=scoped_batch_in_unit_of_work(
            RulesUnitOfWork, outbox, on_triggers(Engine(EnabledRules())), savepoint=False
        ),
    )


async def add_rule(new_uow: NewUow, rule: Rule) -> None:
    async with new_uow() as uow:
        await uow.rules.add(rule)
        await uow.commit()


def event_id(one: Delivery) -> str:
    return envelope_pb2.EventEnvelope.FromString(one.data).event_id


async def test_a_batch_runs_each_event_and_counts_once_per_rule(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = a_rule(tenant, "any", None, AddNote("x"))
    await add_rule(new_uow, rule)
    customers = [f"customers/b{i}" for i in range(3)]
    batch = [delivery(tenant, angry(c)) for c in customers]
    await batch_consumer(sessions, MESSAGES).process(batch)  # type: ignore[arg-type]

    assert [d.acked for d in batch] == [1, 1, 1]
    runs = await RunService(new_uow).page(
        tenant, EVERYONE, RunFilter(rule_id=rule.id), after=[], limit=10
    )
    assert sorted((r.customer, r.outcome, r.trigger_event_id) for r in runs) == sorted(
        (c, Outcome.MATCHED, event_id(d)) for c, d in zip(customers, batch, strict=True)
    )
    notes = [e for e in await staged(sessions, tenant) if e.type == "rule.action.note"]
    assert sorted(e.envelope.causing_run for e in notes) == sorted(
        f"rules/{rule.id}/runs/{r.id}" for r in runs
    )
    async with sessions() as session:
        stats = (
            await session.execute(
                select(rule_hourly_stats.c.evaluated, rule_hourly_stats.c.fired).where(
                    rule_hourly_stats.c.tenant_id == tenant
                )
            )
        ).all()
        logged = await session.scalar(
            select(func.count()).where(evaluation_log.c.tenant_id == tenant)
        )
    assert [tuple(s) for s in stats] == [(3, 3)]  # one row, added to once
    assert logged == 3


def updated(customer: str) -> customer_events_pb2.CustomerUpdated:
    return customer_events_pb2.CustomerUpdated(customer=customer, changed_fields=["country"])


def failed(run: str) -> rule_events_pb2.CustomerRuleActionCompleted:
    return rule_events_pb2.CustomerRuleActionCompleted(
        run=run, action_index=0, outcome=rule_events_pb2.RULE_ACTION_OUTCOME_FAILED, reason="no"
    )


async def test_a_rule_disabled_in_a_batch_does_not_fire_later_in_it(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    # Five failed outcomes in a row disable the rule (auto_disable.DEFAULT_FAILURES).
    rule = a_rule(tenant, "score", None, AdjustScore(1), trigger=Trigger.CUSTOMER_UPDATED)
    await add_rule(new_uow, rule)
    consumer = batch_consumer(sessions, CUSTOMERS)
    await consumer.process([delivery(tenant, updated(f"customers/u{i}")) for i in range(5)])  # type: ignore[arg-type]
    runs = await RunService(new_uow).page(
        tenant, EVERYONE, RunFilter(rule_id=rule.id), after=[], limit=10
    )
    assert len(runs) == 5

    outcomes: list[Message] = [failed(f"rules/{rule.id}/runs/{r.id}") for r in runs]
    # The batch reads the rules (for "early") before they change.
    payloads = [updated("customers/early"), *outcomes, updated("customers/late")]
    batch = [delivery(tenant, p) for p in payloads]
    await consumer.process(batch)  # type: ignore[arg-type]

    async with new_uow() as uow:
        stored = await uow.rules.get(tenant, rule.id)
    assert stored is not None
    assert not stored.enabled
    late = await RunService(new_uow).page(
        tenant, EVERYONE, RunFilter(customer="customers/late"), after=[], limit=10
    )
    assert late == []
    early = await RunService(new_uow).page(
        tenant, EVERYONE, RunFilter(customer="customers/early"), after=[], limit=10
    )
    assert [r.outcome for r in early] == [Outcome.MATCHED]
    (stats,) = await RunService(new_uow).statistics(
        tenant, EVERYONE, rule.id, start=None, end=None, week=True
    )
    assert stats.counts[Counter.ACTIONS_FAILED] == 5
    assert stats.counts[Counter.FIRED] == 6


async def test_saved_settings_reach_the_next_event(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = a_rule(tenant, "any", None, AddNote("x"))
    await add_rule(new_uow, rule)
    consumer = batch_consumer(sessions, MESSAGES)
    await consumer.process([delivery(tenant, angry("customers/before"))])  # type: ignore[list-item]
    await RunService(new_uow).save_settings(RuleSettings(tenant, time_zone="Asia/Kathmandu"))
    await consumer.process([delivery(tenant, angry("customers/after"))])  # type: ignore[list-item]

    hours = {}
    for customer, zone in (("customers/before", "UTC"), ("customers/after", "Asia/Kathmandu")):
        (run,) = await RunService(new_uow).page(
            tenant, EVERYONE, RunFilter(customer=customer), after=[], limit=1
        )
        now = datetime.fromisoformat(run.facts["time.now"])
        hours[customer] = (run.facts["time.hour"], now.astimezone(ZoneInfo(zone)).hour)
    assert hours["customers/before"][0] == hours["customers/before"][1]
    assert hours["customers/after"][0] == hours["customers/after"][1]


def said(customer: str, conversation: str, follow_ups: int) -> Message:
    message = angry(customer)
    message.conversation, message.follow_ups = conversation, follow_ups
    return message


def outcome(
    run: str, status: rule_events_pb2.RuleActionOutcome.ValueType
) -> rule_events_pb2.CustomerRuleActionCompleted:
    return rule_events_pb2.CustomerRuleActionCompleted(
        run=run, action_index=0, outcome=status, reason="no" if status == FAILED else ""
    )


SUCCEEDED = rule_events_pb2.RULE_ACTION_OUTCOME_SUCCEEDED
FAILED = rule_events_pb2.RULE_ACTION_OUTCOME_FAILED


async def what_came_of_it(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str, rule: Rule
) -> tuple[list[Any], list[Any], int | None, list[tuple[Counter, int]]]:
    """Runs (facts but the clock's, action results), projections, failures, counters."""
    runs = await RunService(new_uow).page(
        tenant, EVERYONE, RunFilter(rule_id=rule.id), after=[], limit=20
    )
    seen = sorted(
        (
            sorted((k, repr(v)) for k, v in r.facts.items() if not k.startswith("time.")),
            [(a.status, a.error) for a in r.actions],
        )
        for r in runs
    )
    async with sessions() as session:
        conversations = sorted(
            (row.conversation, sorted(row.facts.items()))
            for row in await session.execute(
                select(conversation_projections).where(
                    conversation_projections.c.tenant_id == tenant
                )
            )
        )
        failures = await session.scalar(
            select(rules.c.consecutive_failures).where(rules.c.id == rule.id)
        )
    (stats,) = await RunService(new_uow).statistics(
        tenant, EVERYONE, rule.id, start=None, end=None, week=True
    )
    return seen, conversations, failures, sorted(stats.counts.items())


async def test_a_batch_reads_its_runs_and_projections_at_once_as_one_at_a_time_would(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow
) -> None:
    # A batch reads the runs of its completed actions and the customers and
    # conversations its events need at once; each event must still see what the
    # events before it in the batch did (a conversation merged twice, a run's
    # outcome followed by another of the same action, a projection-only event).
    came_of_it: list[tuple[list[Any], list[Any], int | None, list[tuple[Counter, int]]]] = []
    for together in (False, True):
        tenant = f"tenant-{uuid.uuid4().hex[:10]}"
        rule = a_rule(tenant, "any", None, AddNote("x"))
        await add_rule(new_uow, rule)
        customers = batch_consumer(sessions, CUSTOMERS)
        messages = batch_consumer(sessions, MESSAGES)
        await customers.process([delivery(tenant, tier_changed("customers/c1", 3, "VIP"))])  # type: ignore[list-item]
        raised = messaging_events_pb2.ConversationPriorityChanged(
            conversation="conversations/1",
            customer="customers/c1",
            to_priority=priority_pb2.PRIORITY_HIGH,
        )
        payloads: list[Message] = [
            said("customers/c1", "conversations/1", 1),
            said("customers/c2", "conversations/2", 1),
            said("customers/c1", "conversations/1", 2),
            said("customers/c1", "conversations/1", 3),
            raised,
        ]
        await process(messages, [delivery(tenant, p) for p in payloads], together)
        runs = await RunService(new_uow).page(
            tenant, EVERYONE, RunFilter(rule_id=rule.id), after=[], limit=10
        )
        by_turn = sorted(
            runs, key=lambda r: (r.customer, r.facts["conversation.follow_ups"])
        )  # c1 1, 2, 3; c2 1
        names = [f"rules/{rule.id}/runs/{r.id}" for r in by_turn]
        outcomes = [
            outcome(names[0], SUCCEEDED),
            outcome(names[1], FAILED),
            outcome(names[1], SUCCEEDED),  # the same action again: not counted twice
            outcome(names[2], FAILED),
            outcome(names[3], FAILED),
            outcome("rules/x/runs/none", FAILED),
        ]
        await process(customers, [delivery(tenant, p) for p in outcomes], together)
        came_of_it.append(await what_came_of_it(sessions, new_uow, tenant, rule))
    one_at_a_time, batched = came_of_it
    assert batched == one_at_a_time
    seen, conversations, failures, counts = batched
    assert failures == 3  # the second outcome of a failed action changes nothing
    assert dict(counts)[Counter.ACTIONS_FAILED] == 3
    assert dict(counts)[Counter.ACTIONS_SUCCEEDED] == 1
    assert [dict(facts)["conversation.follow_ups"] for facts, _ in seen] == ["1", "1", "2", "3"]
    assert [dict(facts).get("customer.tier") for facts, _ in seen] == [
        "'VIP'",
        None,
        "'VIP'",
        "'VIP'",
    ]
    ((first, facts), (second, _)) = conversations
    assert (first, second) == ("conversations/1", "conversations/2")
    assert dict(facts)["conversation.follow_ups"] == 3
    assert dict(facts)["conversation.priority"] == "high"


async def process(consumer: EventConsumer, batch: list[Delivery], together: bool) -> None:
    if together:
        await consumer.process(batch)  # type: ignore[arg-type]
        return
    for one in batch:
        await consumer.process([one])  # type: ignore[list-item]
    assert [d.acked for d in batch] == [1] * len(batch)


async def test_two_outcomes_of_one_run_recorded_side_by_side_both_stay(
    new_uow: NewUow, tenant: str
) -> None:
    """The outcomes of one run's actions come from different services, to consumers
    that run side by side. The second to read the run waits for the first to
    commit, so it records its outcome on top of the first's instead of undoing
    it (on SQLite writers take turns anyway)."""
    at = datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("UTC"))
    run = fired_run(
        tenant,
        str(uuid.uuid4()),
        (
            ActionResult(0, "set_priority", "rule.action.set_priority_requested"),
            ActionResult(1, "add_tag", "rule.action.add_tag_requested"),
        ),
        created_at=at,
        customer="customers/c-1",
    )
    async with new_uow() as uow:
        await uow.runs.add_many([run])
        await uow.commit()

    first_read = asyncio.Event()
    first_may_commit = asyncio.Event()

    async def record(index: int, *, first: bool) -> None:
        async with new_uow() as uow:
            await begin_writing(uow.session)  # as a consumer's inbox claim does first
            await uow.runs.preload(tenant, [run.id])
            stored = await uow.runs.get(tenant, run.id)
            assert stored is not None
            done, _ = stored.with_outcome(index, ActionStatus.SUCCEEDED, error="", result="", at=at)
            await uow.runs.save_actions(done)
            if first:
                first_read.set()
                await first_may_commit.wait()
            await uow.commit()

    first = asyncio.create_task(record(0, first=True))
    await first_read.wait()
    second = asyncio.create_task(record(1, first=False))
    await asyncio.sleep(0.2)  # the second reads now, or waits for the first's lock
    first_may_commit.set()
    await asyncio.gather(first, second)

    async with new_uow() as uow:
        stored = await uow.runs.get(tenant, run.id)
    assert stored is not None
    assert [a.status for a in stored.actions] == [ActionStatus.SUCCEEDED] * 2
