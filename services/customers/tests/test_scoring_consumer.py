"""Score rules applied to real events by the consumer's handler, against a real database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.common.v1 import channel_pb2, condition_pb2, money_pb2
from crosstalk.events.v1 import customer_events_pb2, messaging_events_pb2
from crosstalk_common.bus.causation import caused_by
from crosstalk_common.bus.consumer import EventConsumer, Subscription
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.bus.use_case_handler import in_unit_of_work, scoped_batch_in_unit_of_work
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from crosstalk_devstack.deliveries import Delivery
from customers.adapters.score_rule_consumer import (
    on_scorable_event_batches,
    on_scorable_events,
    score_rule_subscriptions,
    scoring_event,
)
from customers.adapters.tables import inbox, outbox, score_rule_awards
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.profiles import CustomerProfiles
from customers.app.score_changes import ScoreAdjustments
from customers.app.score_rules import EnabledScoreRules
from customers.app.scoring import ScoringService
from customers.app.timeline import Timeline
from customers.domain.model import Customer
from customers.domain.scoring import CapPeriod, ScoreRule, ScoreRuleFrequency

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-score-rules"
ADMIN = Visibility(DataScope.ALL)


class World:
    """``batched``: events go to the scoped batch handler bootstrap runs (a batch of
    one per delivery); otherwise to the handler of one event at a time."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, batched: bool) -> None:
        self.sessions = sessions
        self.batched = batched

        def new_uow() -> CustomersUnitOfWork:
            return CustomersUnitOfWork(sessions, outbox)

        self.profiles = CustomerProfiles(new_uow)
        self.scores = ScoreAdjustments(new_uow)
        self.timelines = Timeline(new_uow)
        self.scoring = ScoringService(new_uow)
        self.handler = in_unit_of_work(
            CustomersUnitOfWork, outbox, on_scorable_events(EnabledScoreRules())
        )
        self.batch_handler = scoped_batch_in_unit_of_work(  # as bootstrap makes it
            CustomersUnitOfWork,
            outbox,
            on_scorable_event_batches(EnabledScoreRules()),
            savepoint=False,
        )

    def consumer(self, subscription: Subscription) -> EventConsumer:
        """The consumer bootstrap runs (process() never touches JetStream)."""
        if self.batched:
            return EventConsumer(
                None,  # type: ignore[arg-type]
                self.sessions,
                inbox,
                subscription,
                None,
                scoped_batch_handler=self.batch_handler,
            )
        return EventConsumer(None, self.sessions, inbox, subscription, self.handler)  # type: ignore[arg-type]

    async def customer(self, tenant: str = TENANT) -> str:
        created = await self.profiles.create(Customer(id="", tenant_id=tenant, display_name="Anna"))
        return created.id

    async def rule(self, **overrides: Any) -> ScoreRule:
        fields: dict[str, Any] = {
            "id": "",
            "tenant_id": TENANT,
            "display_name": "Talks to us",
            "event_type": "message.received",
            "points": 2,
            "frequency": ScoreRuleFrequency.REPEATABLE,
        }
        fields.update(overrides)
        return await self.scoring.create_score_rule(ScoreRule(**fields))

    async def deliver(self, *events: Event) -> None:
        """What the consumer does with a batch: the handler in one transaction."""
        async with self.sessions() as session, session.begin():
            if self.batched:
                await self.batch_handler(session, events, lambda e: caused_by(e.causation))
            else:
                for one in events:
                    with caused_by(one.causation):
                        await self.handler(session, one)

    async def score(self, customer_id: str) -> int:
        return (await self.profiles.get(TENANT, ADMIN, customer_id)).score

    async def count(self, query: Any) -> int:
        async with self.sessions() as session:
            return int(await session.scalar(query) or 0)

    async def events(self, event_type: str) -> int:
        return await self.count(
            select(func.count())
            .select_from(outbox)
            .where(outbox.c.subject.endswith("." + event_type))
        )


def event(
    payload: Message, *, at: datetime | None = None, tenant: str = TENANT, event_id: str = ""
) -> Event:
    _, envelope = new_envelope(
        tenant,
        payload,
        occurred_at=at or datetime.now(UTC),
        trace_context={},
        event_id=event_id or str(uuid.uuid4()),
    )
    return Event(envelope, payload)


def message(customer_id: str, text: str = "hello") -> messaging_events_pb2.MessageReceived:
    return messaging_events_pb2.MessageReceived(
        message="messages/1",
        conversation="conversations/1",
        customer=f"customers/{customer_id}",
        sender=channel_pb2.ChannelIdentity(
            channel=channel_pb2.CHANNEL_AMAZON, external_id="buyer-1", store="amazon-de"
        ),
        text=text,
        language="en",
    )


def order(customer_id: str, units: int) -> customer_events_pb2.OrderRecorded:
    return customer_events_pb2.OrderRecorded(
        order=f"customers/{customer_id}/orders/1",
        customer=f"customers/{customer_id}",
        external_id="A-1",
        store="shop",
        amount=money_pb2.Money(currency_code="EUR", units=units),
        order_count=1,
    )


def keywords(*words: str) -> bytes:
    return condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(
            field="text", operator=condition_pb2.OPERATOR_MATCHES_KEYWORDS, values=list(words)
        )
    ).SerializeToString()


@pytest.fixture(params=["one at a time", "batched"])
def world(tmp_path: Path, request: pytest.FixtureRequest) -> World:
    url = service_database_urls(("customers",), tmp_path, "scoringevents")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return World(session_factory(create_engine(url)), batched=request.param == "batched")


def test_a_rule_scores_a_real_event_once_even_when_redelivered(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()
        rule = await world.rule(condition_blob=keywords("refund"), points=-3)
        refund = event(message(cid, "I want a REFUND now"))
        await world.deliver(refund)
        assert await world.score(cid) == -3
        history = await world.scores.score_history(TENANT, ADMIN, cid, after=[], limit=5)
        assert [(c.delta, c.source, c.cause_event_id) for c in history] == [
            (-3, f"scoreRules/{rule.id}", refund.event_id)
        ]
        assert await world.events("customer.scored") == 1
        timeline = await world.timelines.timeline(
            TENANT, ADMIN, cid, types=["customer.scored"], start=None, end=None, after=[], limit=5
        )
        assert [t.actor for t in timeline] == [f"scoreRules/{rule.id}"]

        # the same event again (the inbox missed it): the award key refuses a second award
        await world.deliver(refund)
        assert await world.score(cid) == -3
        # a message without the keyword does not match
        await world.deliver(event(message(cid, "thanks!")))
        assert await world.score(cid) == -3
        assert await world.events("customer.scored") == 1

    asyncio.run(scenario())


def test_the_consumer_inbox_turns_a_redelivery_away(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()
        await world.rule(points=4)
        subscription = next(s for s in score_rule_subscriptions() if s.producer == "messaging")
        assert list(subscription.event_types) == ["message.received"]
        consumer = world.consumer(subscription)
        one = event(message(cid))
        first, again = Delivery.of(one.envelope), Delivery.of(one.envelope)
        await consumer.process([first])  # type: ignore[list-item]
        await consumer.process([again])  # type: ignore[list-item]
        assert (first.acked, again.acked) == (1, 1)
        assert await world.score(cid) == 4
        assert await world.count(select(func.count()).select_from(score_rule_awards)) == 1

    asyncio.run(scenario())


def test_once_rules_award_once_and_repeatable_ones_every_time(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()
        await world.rule(
            display_name="First order",
            event_type="order.recorded",
            points=10,
            frequency=ScoreRuleFrequency.ONCE,
        )
        big = condition_pb2.Condition(
            leaf=condition_pb2.ConditionLeaf(
                field="amount", operator=condition_pb2.OPERATOR_GTE, values=["100"]
            )
        ).SerializeToString()
        await world.rule(
            display_name="Big order", event_type="order.recorded", points=5, condition_blob=big
        )
        await world.deliver(event(order(cid, 20)))
        assert await world.score(cid) == 10
        await world.deliver(event(order(cid, 150)))
        assert await world.score(cid) == 15
        await world.deliver(event(order(cid, 300)))
        assert await world.score(cid) == 20
        # a disabled rule does nothing
        other = await world.customer()
        await world.rule(event_type="order.recorded", points=100, enabled=False)
        await world.deliver(event(order(other, 1)))
        assert await world.score(other) == 10

    asyncio.run(scenario())


def test_a_cap_limits_the_points_per_utc_day(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()
        await world.rule(points=4, cap_points=10, cap_period=CapPeriod.DAY)
        monday = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        for minutes in (0, 1, 2, 3):
            await world.deliver(event(message(cid), at=monday + timedelta(minutes=minutes)))
        # 4 + 4 + 2 (cut to what is left of the cap) + 0
        assert await world.score(cid) == 10
        history = await world.scores.score_history(TENANT, ADMIN, cid, after=[], limit=9)
        assert sorted(c.delta for c in history) == [2, 4, 4]
        # the next UTC day starts a new period; late events count in their own day
        await world.deliver(event(message(cid), at=monday + timedelta(days=1)))
        await world.deliver(event(message(cid), at=monday - timedelta(hours=10)))
        assert await world.score(cid) == 18

    asyncio.run(scenario())


def test_events_of_other_tenants_or_unknown_customers_score_nothing(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()
        await world.rule(points=7)
        await world.deliver(event(message(cid), tenant="tenant-other"))
        await world.deliver(event(message("no-such-customer")))
        assert await world.score(cid) == 0
        assert await world.events("customer.scored") == 0
        facts = scoring_event(event(message(cid, "hi")))
        assert facts is not None
        assert facts.facts["channel"] == "amazon"
        assert facts.facts["store"] == "amazon-de"

    asyncio.run(scenario())


def test_rule_changes_are_seen_by_the_next_event_on_every_replica(world: World) -> None:
    # Two replicas of the consumer, each keeping the tenant's enabled rules; the
    # rules change through the repository (ScoringService) in between.
    other_replica = in_unit_of_work(
        CustomersUnitOfWork, outbox, on_scorable_events(EnabledScoreRules())
    )

    async def on_both(customer_id: str) -> int:
        await world.deliver(event(message(customer_id)))
        async with world.sessions() as session, session.begin():
            await other_replica(session, event(message(customer_id)))
        return await world.score(customer_id)

    async def scenario() -> None:
        cid = await world.customer()
        assert await on_both(cid) == 0  # no rules yet: both keep "none"
        assert await on_both(cid) == 0
        rule = await world.rule(points=2)
        assert await on_both(cid) == 4
        rule = await world.scoring.update_score_rule(TENANT, rule.id, {"points": 5}, rule.etag)
        assert await on_both(cid) == 14
        rule = await world.scoring.update_score_rule(TENANT, rule.id, {"enabled": False}, rule.etag)
        assert await on_both(cid) == 14
        rule = await world.scoring.update_score_rule(TENANT, rule.id, {"enabled": True}, rule.etag)
        assert await on_both(cid) == 24
        await world.scoring.delete_score_rule(TENANT, rule.id, rule.etag)
        assert await on_both(cid) == 24
        # another tenant's rule leaves this tenant's kept rules as they are
        await world.rule(tenant_id="tenant-other", points=50)
        assert await on_both(cid) == 24

    asyncio.run(scenario())


def test_a_batch_scores_only_the_events_a_rule_matches_each_as_alone(world: World) -> None:
    # One delivery of many events: two tenants, one with rules; events a rule
    # matches and events none does, interleaved; the same customer twice.
    async def scenario() -> None:
        cid = await world.customer()
        other = await world.customer()
        stranger = await world.customer("tenant-no-rules")
        await world.rule(condition_blob=keywords("refund"), points=-3)
        await world.rule(event_type="order.recorded", points=7)
        await world.deliver(
            event(message(cid, "refund please")),
            event(message(other, "hello")),
            event(message(stranger, "refund"), tenant="tenant-no-rules"),
            event(order(other, 10)),
            event(message(cid, "refund again")),
        )
        assert (await world.score(cid), await world.score(other)) == (-6, 7)
        assert await world.events("customer.scored") == 3
        assert await world.count(select(func.count()).select_from(score_rule_awards)) == 3

    asyncio.run(scenario())
