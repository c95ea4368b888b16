"""Time triggers on durable timers, on a migrated database (SQLite and PostgreSQL),
with an injected clock: events go through the real consumer (timers armed and
cancelled in the transaction that consumes them), the poller fires what is due.

- "no agent reply for 24 h" fires once, and not before; an agent reply cancels
  it; a reply the poller learns only from the projection stops it too; the
  next unanswered stretch is a new timer;
- "case open for 3 days" fires once with the case's age; a case closed before
  is cancelled;
- a cron schedule in the rule's zone fires once per occurrence, for every
  customer the condition holds for, in batches;
- killed (SIGKILL) right after claiming or right after committing, a restarted
  poller leaves exactly one run and one rule.action event for the timer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.common.v1 import channel_pb2
from crosstalk.events.v1 import messaging_events_pb2, rule_events_pb2
from crosstalk.messaging.v1 import cases_pb2
from crosstalk.messaging.v1 import resources_pb2 as messaging_resources
from crosstalk_common.bus.consumer import EventConsumer, Subscription
from crosstalk_common.bus.envelope import Event, new_envelope, read_event
from crosstalk_common.bus.use_case_handler import in_unit_of_work
from crosstalk_common.conditions.model import Leaf, Op
from crosstalk_devstack.deliveries import Delivery
from rules.adapters.consumers import CONVERSATIONS, MESSAGES, on_trigger
from rules.adapters.tables import inbox, outbox, rule_runs, rule_timers
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.app.enabled_rules import EnabledRules
from rules.app.running import Engine
from rules.app.timers import TimerArming, TimerPoller
from rules.domain.actions import AddNote, AddTag, Escalate
from rules.domain.evaluation import Outcome
from rules.domain.model import Rule, TimeTrigger, Trigger
from rules.domain.timers import derived_id, no_reply_timer
from services.rules.tests.test_engine_sql import a_rule

NewUow = Callable[[], RulesUnitOfWork]
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def delivery(tenant: str, payload: Message, at: datetime) -> Delivery:
    _, envelope = new_envelope(tenant, payload, occurred_at=at, trace_context={})
    return Delivery.of(envelope)


class World:
    """The consumers, the engine and the poller of one test, on one clock."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock
        enabled = EnabledRules()
        self.engine = Engine(enabled, clock=clock)
        self.handler = in_unit_of_work(
            RulesUnitOfWork, outbox, on_trigger(self.engine, TimerArming(enabled, clock=clock))
        )

    def poller(self, **kw: object) -> TimerPoller:
        def new_uow() -> RulesUnitOfWork:
            return RulesUnitOfWork(self.sessions, outbox)

        return TimerPoller(new_uow, self.engine, clock=self.clock, **kw)  # type: ignore[arg-type]

    async def deliver(
        self, subscription: Subscription, tenant: str, payload: Message, at: datetime
    ) -> None:
        consumer = EventConsumer(None, self.sessions, inbox, subscription, self.handler)  # type: ignore[arg-type]
        await consumer.process([delivery(tenant, payload, at)])  # type: ignore[list-item]


def message(customer: str, at: datetime, last_reply: datetime | None = None) -> Message:
    pb = messaging_events_pb2.MessageReceived(
        message=f"messages/{at.timestamp()}",
        conversation=f"conversations/of-{customer.split('/')[-1]}",
        customer=customer,
        text="where is my parcel?",
        sender=channel_pb2.ChannelIdentity(channel=channel_pb2.CHANNEL_EMAIL, external_id="a@b"),
        status=messaging_resources.CONVERSATION_STATUS_UNREAD,
        follow_ups=1,
        receive_time=ts(at),
    )
    if last_reply is not None:
        pb.last_agent_reply_time.CopyFrom(ts(last_reply))
    return pb


def status_changed(customer: str, to: int, at: datetime) -> Message:
    return messaging_events_pb2.ConversationStatusChanged(
        conversation=f"conversations/of-{customer.split('/')[-1]}",
        customer=customer,
        from_status=messaging_resources.CONVERSATION_STATUS_UNREAD,
        to_status=to,  # type: ignore[arg-type]
        last_agent_reply_time=ts(at),
        change_time=ts(at),
    )


def timed(
    tenant: str, trigger: Trigger, timer: TimeTrigger, *actions: object, **kw: object
) -> Rule:
    return a_rule(
        tenant,
        trigger.value,
        kw.pop("condition", None),
        *actions,
        trigger=trigger,
        time_trigger=timer,
        **kw,
    )


async def save(new_uow: NewUow, *rules: Rule) -> None:
    async with new_uow() as uow:
        for rule in rules:
            await uow.rules.add(rule)
        await uow.commit()


async def action_events(
    sessions: async_sessionmaker[AsyncSession], tenant: str
) -> list[tuple[str, Event]]:
    async with sessions() as session:
        rows = (await session.execute(select(outbox.c.id, outbox.c.payload))).all()
    events = [(row_id, read_event(p)) for row_id, p in rows]
    return [
        (row_id, e)
        for row_id, e in events
        if e.tenant_id == tenant and e.type.startswith("rule.action.")
    ]


async def timer_states(
    sessions: async_sessionmaker[AsyncSession], tenant: str
) -> list[tuple[str, str, datetime]]:
    async with sessions() as session:
        rows = await session.execute(
            select(rule_timers.c.subject, rule_timers.c.state, rule_timers.c.due_at)
            .where(rule_timers.c.tenant_id == tenant)
            .order_by(rule_timers.c.due_at, rule_timers.c.subject)
        )
        return [(s, st, d.replace(tzinfo=UTC) if d.tzinfo is None else d) for s, st, d in rows]


NO_REPLY_24H = TimeTrigger(delay_seconds=24 * 3600)


async def test_no_agent_reply_for_24_hours_fires_once_and_not_before(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = timed(tenant, Trigger.NO_REPLY_TIMEOUT, NO_REPLY_24H, Escalate("no reply for 24 h"))
    await save(new_uow, rule)
    clock = Clock(T0)
    world = World(sessions, clock)
    await world.deliver(MESSAGES, tenant, message("customers/a", T0), T0)
    # A second message in the same unanswered stretch does not move the due time.
    clock.now = T0 + timedelta(hours=5)
    await world.deliver(MESSAGES, tenant, message("customers/a", clock.now), clock.now)
    assert await timer_states(sessions, tenant) == [("conversations/of-a", "pending", T0 + DAY)]

    poller = world.poller()
    clock.now = T0 + DAY - timedelta(seconds=1)
    assert (await poller.fire_due()).claimed == 0
    assert await action_events(sessions, tenant) == []

    clock.now = T0 + DAY
    result = await poller.fire_due()
    assert (result.claimed, result.fired) == (1, 1)
    [run] = result.runs
    assert run.trigger is Trigger.NO_REPLY_TIMEOUT
    assert run.outcome is Outcome.MATCHED
    assert run.conversation == "conversations/of-a"
    events = await action_events(sessions, tenant)
    assert [e.type for _, e in events] == ["rule.action.escalate"]
    [(row_id, escalate)] = events
    assert row_id == escalate.event_id  # the outbox key is the Nats-Msg-Id
    assert escalate.envelope.causing_run == f"rules/{rule.id}/runs/{run.id}"
    assert isinstance(escalate.payload, rule_events_pb2.RuleActionEscalateRequested)
    assert escalate.payload.conversation == "conversations/of-a"

    # Later passes, and the same stretch's messages, fire nothing more.
    clock.now = T0 + 3 * DAY
    await world.deliver(MESSAGES, tenant, message("customers/a", clock.now), clock.now)
    assert (await poller.fire_due()).claimed == 0
    assert len(await action_events(sessions, tenant)) == 1
    assert await timer_states(sessions, tenant) == [("conversations/of-a", "fired", T0 + DAY)]
    async with sessions() as session:
        runs = (
            await session.execute(select(rule_runs.c.id).where(rule_runs.c.tenant_id == tenant))
        ).all()
    assert runs == [(run.id,)]


async def test_an_agent_reply_cancels_the_wait_and_the_next_stretch_is_a_new_timer(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = timed(tenant, Trigger.NO_REPLY_TIMEOUT, NO_REPLY_24H, AddNote("follow up"))
    await save(new_uow, rule)
    clock = Clock(T0)
    world = World(sessions, clock)
    poller = world.poller()
    await world.deliver(MESSAGES, tenant, message("customers/b", T0), T0)
    replied = T0 + timedelta(hours=2)
    clock.now = replied
    await world.deliver(
        CONVERSATIONS,
        tenant,
        status_changed("customers/b", messaging_resources.CONVERSATION_STATUS_REPLIED, replied),
        replied,
    )
    assert await timer_states(sessions, tenant) == [("conversations/of-b", "cancelled", T0 + DAY)]
    clock.now = T0 + 2 * DAY
    assert (await poller.fire_due()).claimed == 0
    assert await action_events(sessions, tenant) == []

    # The customer writes again: a new stretch (since the reply), a new timer.
    again = T0 + 2 * DAY
    await world.deliver(MESSAGES, tenant, message("customers/b", again, replied), again)
    clock.now = again + DAY
    result = await poller.fire_due()
    assert (result.claimed, result.fired) == (1, 1)
    assert [e.type for _, e in await action_events(sessions, tenant)] == ["rule.action.note"]


async def test_a_reply_known_only_from_the_projection_stops_the_timer_when_due(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = timed(tenant, Trigger.NO_REPLY_TIMEOUT, NO_REPLY_24H, AddNote("follow up"))
    await save(new_uow, rule)
    clock = Clock(T0)
    world = World(sessions, clock)
    await world.deliver(MESSAGES, tenant, message("customers/c", T0), T0)
    # An assignment event (not a cancel) brings the conversation's newer facts:
    # an agent replied meanwhile (as the projection now says).
    async with new_uow() as uow:
        await uow.projections.merge_conversation(
            tenant,
            "conversations/of-c",
            "customers/c",
            {"conversation.last_agent_reply_time": (T0 + timedelta(hours=1)).isoformat()},
            T0 + timedelta(hours=1),
        )
        await uow.commit()
    clock.now = T0 + DAY
    result = await world.poller().fire_due()
    assert (result.claimed, result.fired, result.cancelled) == (1, 0, 1)
    assert await action_events(sessions, tenant) == []


async def test_a_disabled_rule_does_not_fire_its_timers(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = timed(tenant, Trigger.NO_REPLY_TIMEOUT, NO_REPLY_24H, AddNote("follow up"))
    await save(new_uow, rule)
    clock = Clock(T0)
    world = World(sessions, clock)
    await world.deliver(MESSAGES, tenant, message("customers/d", T0), T0)
    async with new_uow() as uow:
        stored = await uow.rules.get(tenant, rule.id)
        assert stored is not None
        ok = await uow.rule_versions.save(
            Rule(**{**stored.__dict__, "enabled": False, "version": 2}),
            expected_version=1,
            author="",
        )
        assert ok
        await uow.commit()
    clock.now = T0 + DAY
    result = await world.poller().fire_due()
    assert (result.fired, result.cancelled) == (0, 1)


def case_opened(case: str, customer: str, at: datetime, case_type: int) -> Message:
    return messaging_events_pb2.CaseOpened(
        case=case,
        customer=customer,
        conversation=f"conversations/of-{customer.split('/')[-1]}",
        case_type=case_type,  # type: ignore[arg-type]
        open_time=ts(at),
    )


async def test_a_case_open_for_three_days_fires_once_and_a_closed_one_is_cancelled(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = timed(
        tenant,
        Trigger.CASE_OPEN_TIMEOUT,
        TimeTrigger(delay_seconds=3 * 24 * 3600),
        AddNote("case open for 3 days"),
        condition=Leaf("case.type", Op.EQUALS, ("refund",)),
    )
    await save(new_uow, rule)
    clock = Clock(T0)
    world = World(sessions, clock)
    refund, closed = "cases/r1", "cases/r2"
    await world.deliver(
        CONVERSATIONS,
        tenant,
        case_opened(refund, "customers/e", T0, cases_pb2.CASE_TYPE_REFUND),
        T0,
    )
    await world.deliver(
        CONVERSATIONS,
        tenant,
        case_opened(closed, "customers/f", T0, cases_pb2.CASE_TYPE_REFUND),
        T0,
    )
    clock.now = T0 + DAY
    await world.deliver(
        CONVERSATIONS,
        tenant,
        messaging_events_pb2.CaseTransitioned(
            case=closed,
            customer="customers/f",
            case_type=cases_pb2.CASE_TYPE_REFUND,
            from_state=cases_pb2.CASE_STATE_OPEN,
            to_state=cases_pb2.CASE_STATE_CANCELLED,
            open_time=ts(T0),
        ),
        clock.now,
    )
    poller = world.poller()
    clock.now = T0 + 3 * DAY - timedelta(minutes=1)
    assert (await poller.fire_due()).claimed == 0
    clock.now = T0 + 3 * DAY + timedelta(hours=6)
    result = await poller.fire_due()
    assert (result.claimed, result.fired, result.cancelled) == (1, 1, 0)
    [run] = result.runs
    assert run.outcome is Outcome.MATCHED
    assert run.customer == "customers/e"
    assert run.facts["case.type"] == "refund"
    assert run.facts["case.age_hours"] == pytest.approx(78.0)
    assert [e.type for _, e in await action_events(sessions, tenant)] == ["rule.action.note"]
    assert (await poller.fire_due()).claimed == 0
    states = {s: st for s, st, _ in await timer_states(sessions, tenant)}
    assert states == {refund: "fired", closed: "cancelled"}


async def test_a_cron_schedule_fires_once_per_occurrence_for_every_matching_customer(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    # Mondays 09:00 in Madrid (UTC+1 in December): 08:00 UTC.
    rule = timed(
        tenant,
        Trigger.SCHEDULE,
        TimeTrigger(cron="0 9 * * 1", time_zone="Europe/Madrid"),
        AddTag(("weekly-vip",)),
        condition=Leaf("customer.tier", Op.EQUALS, ("VIP",)),
    )
    await save(new_uow, rule)
    async with new_uow() as uow:
        for i in range(7):
            tier = "VIP" if i % 2 == 0 else "Silver"
            await uow.projections.save_customer(
                tenant, f"customers/s{i}", 1, {"customer.tier": tier}
            )
        await uow.commit()
    monday_9 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    clock = Clock(monday_9 - timedelta(hours=2))
    world = World(sessions, clock)
    poller = world.poller(batch_size=10, schedule_batch=3)
    assert await poller.arm_schedules() == 1
    assert await poller.arm_schedules() == 0  # the occurrence is armed once
    assert await timer_states(sessions, tenant) == [("schedule", "pending", monday_9)]
    clock.now = monday_9 - timedelta(seconds=1)
    assert (await poller.fire_due()).claimed == 0

    clock.now = monday_9
    passes = []
    while (result := await poller.fire_due()).claimed:
        passes.append((result.customers, result.fired, result.resumed))
    # 7 customers, 3 per transaction: the occurrence goes on over three passes.
    assert passes == [(3, 0, 1), (3, 0, 1), (1, 1, 0)]
    tagged = [
        e.payload.customer
        for _, e in await action_events(sessions, tenant)
        if isinstance(e.payload, rule_events_pb2.RuleActionTagRequested)
    ]
    assert sorted(tagged) == ["customers/s0", "customers/s2", "customers/s4", "customers/s6"]

    # The next occurrence is a week later, fired once too.
    assert await poller.arm_schedules() == 1
    clock.now = monday_9 + timedelta(days=7)
    while (await poller.fire_due()).claimed:
        pass
    assert await poller.arm_schedules() == 1
    while (await poller.fire_due()).claimed:
        pass
    events = await action_events(sessions, tenant)
    assert len(events) == 8
    assert len({row_id for row_id, _ in events}) == 8
    states = await timer_states(sessions, tenant)
    assert [(st, due) for _, st, due in states] == [
        ("fired", monday_9),
        ("fired", monday_9 + timedelta(days=7)),
        ("pending", monday_9 + timedelta(days=14)),
    ]


# --- killed mid-wait -------------------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime

    from crosstalk_common.db.engine import create_engine, session_factory
    from rules.adapters.tables import outbox
    from rules.adapters.timer_repository import crash_hook_from_env
    from rules.adapters.unit_of_work import RulesUnitOfWork
    from rules.app.enabled_rules import EnabledRules
    from rules.app.running import Engine
    from rules.app.timers import TimerPoller

    async def main() -> None:
        url, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
        engine = create_engine(url)
        sessions = session_factory(engine)
        clock = lambda: now
        poller = TimerPoller(
            lambda: RulesUnitOfWork(sessions, outbox),
            Engine(EnabledRules(), clock=clock),
            clock=clock,
            checkpoint=crash_hook_from_env(),
        )
        result = await poller.fire_due()
        print(result.claimed, result.fired)
        await engine.dispose()

    asyncio.run(main())
    """
)


def run_poller(
    database_url: str, now: datetime, crash_at: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RULES_TIMERS_CRASH_AT": crash_at}
    return subprocess.run(
        [sys.executable, "-c", _CHILD, database_url, now.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )


async def test_a_poller_killed_after_claiming_or_after_committing_fires_exactly_once(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str, database_url: str
) -> None:
    rule = timed(tenant, Trigger.NO_REPLY_TIMEOUT, NO_REPLY_24H, Escalate("no reply"))
    await save(new_uow, rule)
    world = World(sessions, Clock(T0))
    await world.deliver(MESSAGES, tenant, message("customers/k", T0), T0)
    [(_, _, due)] = await timer_states(sessions, tenant)
    past_due = due + timedelta(minutes=5)

    # Killed right after it claimed the timer, before committing: nothing happened.
    killed = run_poller(database_url, past_due, crash_at="claimed")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [st for _, st, _ in await timer_states(sessions, tenant)] == ["pending"]
    assert await action_events(sessions, tenant) == []

    # Restarted, and killed right after its commit: fired, once.
    killed = run_poller(database_url, past_due, crash_at="committed")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert [st for _, st, _ in await timer_states(sessions, tenant)] == ["fired"]

    # Restarted again: nothing left to fire.
    again = run_poller(database_url, past_due + DAY)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["0", "0"]

    events = await action_events(sessions, tenant)
    assert [e.type for _, e in events] == ["rule.action.escalate"]
    async with sessions() as session:
        runs = (
            await session.execute(
                select(rule_runs.c.id, rule_runs.c.outcome).where(rule_runs.c.tenant_id == tenant)
            )
        ).all()
    assert len(runs) == 1
    run_id = runs[0].id
    assert events[0][1].envelope.causing_run == f"rules/{rule.id}/runs/{run_id}"
    # Both ids are derived from the timer's key, so any second firing would collide.
    key = f"{tenant}/{rule.id}/1/conversations/of-k/never"
    assert events[0][0] == derived_id("event", f"timer:{key}:", "1")


async def test_two_pollers_at_once_fire_every_timer_once(
    sessions: async_sessionmaker[AsyncSession], new_uow: NewUow, tenant: str
) -> None:
    rule = timed(tenant, Trigger.NO_REPLY_TIMEOUT, NO_REPLY_24H, AddNote("follow up"))
    await save(new_uow, rule)
    clock = Clock(T0)
    async with new_uow() as uow:
        await uow.timers.arm(
            [
                no_reply_timer(
                    rule,
                    conversation=f"conversations/p{i}",
                    customer=f"customers/p{i}",
                    last_agent_reply=None,
                    waiting_since=T0 - timedelta(minutes=i),
                )
                for i in range(120)
            ]
        )
        await uow.commit()
    clock.now = T0 + DAY
    world = World(sessions, clock)
    one, two = world.poller(batch_size=10), world.poller(batch_size=10)

    async def drain(poller: TimerPoller) -> int:
        fired = 0
        while (result := await poller.fire_due()).claimed:
            fired += result.fired
        return fired

    counts = await asyncio.gather(drain(one), drain(two))
    assert sum(counts) == 120
    events = await action_events(sessions, tenant)
    assert len(events) == 120
    assert len({e.payload.conversation for _, e in events}) == 120  # type: ignore[attr-defined]
    assert {st for _, st, _ in await timer_states(sessions, tenant)} == {"fired"}
