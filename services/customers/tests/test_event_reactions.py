"""Events customers reacts to, applied by their handlers inside a consumer-style
transaction: rule actions, messages from customers, tenant limits."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.message import Message
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.common.v1 import lifecycle_stage_pb2
from crosstalk.events.v1 import identity_events_pb2, messaging_events_pb2, rule_events_pb2
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.bus.use_case_handler import batch_in_unit_of_work, in_unit_of_work
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.consumers import on_messages, on_rule_action, on_tenant_settings
from customers.adapters.tables import outbox, timeline
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.profiles import CustomerProfiles
from customers.app.score_changes import ScoreAdjustments
from customers.app.search import CustomerSearch
from customers.app.timeline import Timeline
from customers.domain.model import Customer, LifecycleStage

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-reactions"
ALL = Visibility(DataScope.ALL)


def event(payload: Message, *, at_offset: timedelta = timedelta()) -> Event:
    _, envelope = new_envelope(TENANT, payload, occurred_at=utc_now() + at_offset, trace_context={})
    return Event(envelope=envelope, payload=payload)


class World:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.profiles = CustomerProfiles(lambda: CustomersUnitOfWork(sessions, outbox))
        self.scores = ScoreAdjustments(lambda: CustomersUnitOfWork(sessions, outbox))
        self.search = CustomerSearch(lambda: CustomersUnitOfWork(sessions, outbox))
        self.timelines = Timeline(lambda: CustomersUnitOfWork(sessions, outbox))

    async def deliver(self, handler: object, evt: Event | list[Event]) -> None:
        """One event to a handler, or a batch (a list) to a batch handler."""
        async with self.sessions() as session, session.begin():
            await handler(session, evt)  # type: ignore[operator]

    async def outbox_types(self) -> list[str]:
        async with self.sessions() as session:
            subjects = (await session.scalars(select(outbox.c.subject))).all()
        return [s.split(".", 2)[-1] for s in subjects]


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "reactions")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return World(session_factory(create_engine(url)))


async def test_rule_actions_tag_untag_score_and_stage(world: World) -> None:
    created = await world.profiles.create(Customer(id="", tenant_id=TENANT, display_name="Li"))
    name = f"customers/{created.id}"
    handler = in_unit_of_work(CustomersUnitOfWork, outbox, on_rule_action)
    await world.deliver(
        handler,
        event(
            rule_events_pb2.RuleActionTagRequested(
                rule="rules/r1", customer=name, tag_labels=["refund", "vip"]
            )
        ),
    )
    tagged = await world.profiles.get(TENANT, ALL, created.id)
    assert len(tagged.tags) == 2
    await world.deliver(
        handler,
        event(
            rule_events_pb2.RuleActionUntagRequested(
                rule="rules/r2", customer=name, tag_labels=["vip", "unknown"]
            )
        ),
    )
    await world.deliver(
        handler,
        event(
            rule_events_pb2.RuleActionScoreRequested(
                rule="rules/r3", customer=name, delta=7, reason="asked price"
            )
        ),
    )
    await world.deliver(
        handler,
        event(
            rule_events_pb2.RuleActionStageRequested(
                rule="rules/r4", customer=name, stage=lifecycle_stage_pb2.LIFECYCLE_STAGE_INTENT
            )
        ),
    )
    after = await world.profiles.get(TENANT, ALL, created.id)
    assert len(after.tags) == 1
    assert after.score == 7
    assert after.lifecycle_stage is LifecycleStage.INTENT
    history = await world.scores.score_history(TENANT, ALL, created.id, after=[], limit=5)
    assert history[0].source == "rules/r3"
    types = await world.outbox_types()
    for expected in (
        "customer.tagged",
        "customer.untagged",
        "customer.scored",
        "customer.stage_changed",
    ):
        assert expected in types


async def test_a_refused_rule_action_changes_nothing_and_does_not_poison_the_batch(
    world: World,
) -> None:
    created = await world.profiles.create(Customer(id="", tenant_id=TENANT, display_name="Li"))
    before = await world.outbox_types()
    handler = in_unit_of_work(CustomersUnitOfWork, outbox, on_rule_action)
    too_long = rule_events_pb2.RuleActionScoreRequested(
        rule="rules/r", customer=f"customers/{created.id}", delta=5, reason="x" * 600
    )
    await world.deliver(handler, event(too_long))
    gone = rule_events_pb2.RuleActionScoreRequested(
        rule="rules/r", customer="customers/nope", delta=1
    )
    await world.deliver(handler, event(gone))
    assert (await world.profiles.get(TENANT, ALL, created.id)).score == 0
    # nothing but the reports that the actions failed / were skipped
    assert await world.outbox_types() == [
        *before,
        "customer.rule_action_completed",
        "customer.rule_action_completed",
    ]


async def test_message_received_marks_activity_and_joins_the_timeline_once(world: World) -> None:
    created = await world.profiles.create(Customer(id="", tenant_id=TENANT, display_name="Li"))
    handler = batch_in_unit_of_work(CustomersUnitOfWork, outbox, on_messages)
    received = messaging_events_pb2.MessageReceived(
        message="conversations/c1/messages/m1",
        conversation="conversations/c1",
        customer=f"customers/{created.id}",
        text="Ich möchte eine Rückerstattung",
        language="de",
        translated_text="I want a refund",
    )
    first = event(received)
    await world.deliver(handler, [first])
    older = event(received, at_offset=timedelta(days=-1))
    await world.deliver(handler, [older])
    customer = await world.profiles.get(TENANT, ALL, created.id)
    assert customer.last_active_at is not None
    assert abs(
        customer.last_active_at
        - first.envelope.occurred_time.ToDatetime().replace(tzinfo=customer.last_active_at.tzinfo)
    ) < timedelta(seconds=1)
    assert customer.version == created.version  # activity is not a profile edit
    entries = await world.timelines.timeline(
        TENANT,
        ALL,
        created.id,
        types=["message.received"],
        start=None,
        end=None,
        after=[],
        limit=10,
    )
    assert [e.summary for e in entries] == ["Message: I want a refund"] * 2
    assert entries[0].resource == "conversations/c1/messages/m1"
    async with world.sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(timeline))
    assert rows == 3  # created + two messages


async def test_messages_received_in_one_batch_leave_what_they_leave_one_at_a_time(
    world: World,
) -> None:
    """Each customer active as of their latest message, whatever the order; every
    message on its customer's timeline; a customer gone, a message about nobody
    and a bad customer name pass over."""

    async def customer(name: str) -> str:
        created = await world.profiles.create(Customer(id="", tenant_id=TENANT, display_name=name))
        return created.id

    now = utc_now().replace(microsecond=0)

    def messages(anna: str, ben: str) -> list[Event]:
        def received(customer: str, text: str, days: int) -> Event:
            payload = messaging_events_pb2.MessageReceived(
                message=f"conversations/c/messages/{text}", customer=customer, text=text
            )
            at = now + timedelta(days=days)
            _, envelope = new_envelope(TENANT, payload, occurred_at=at, trace_context={})
            return Event(envelope=envelope, payload=payload)

        return [
            received(f"customers/{anna}", "late", 0),
            received(f"customers/{ben}", "only", -3),
            received(f"customers/{anna}", "early", -2),
            received("customers/gone", "lost", 0),
            received("", "nobody's", 0),
            received("tags/not-a-customer", "misnamed", 0),
        ]

    async def left(customer_id: str) -> tuple[object, list[tuple[str, str]]]:
        got = await world.profiles.get(TENANT, ALL, customer_id)
        entries = await world.timelines.timeline(
            TENANT,
            ALL,
            customer_id,
            types=["message.received"],
            start=None,
            end=None,
            after=[],
            limit=10,
        )
        return got.last_active_at, [(e.summary, e.resource.rsplit("/", 1)[1]) for e in entries]

    batched = (await customer("Anna"), await customer("Ben"))
    batch = messages(*batched)
    await world.deliver(batch_in_unit_of_work(CustomersUnitOfWork, outbox, on_messages), batch)
    one_by_one = (await customer("Anna"), await customer("Ben"))
    for one in messages(*one_by_one):
        await world.deliver(batch_in_unit_of_work(CustomersUnitOfWork, outbox, on_messages), [one])

    for in_batch, alone in zip(batched, one_by_one, strict=True):
        assert await left(in_batch) == await left(alone)
    assert await left(batched[0]) == (now, [("Message: late", "late"), ("Message: early", "early")])
    assert await left(batched[1]) == (now - timedelta(days=3), [("Message: only", "only")])


async def test_tenant_settings_change_raises_the_filter_limit(world: World) -> None:
    handler = in_unit_of_work(CustomersUnitOfWork, outbox, on_tenant_settings)
    assert (await world.search.filter_fields(TENANT))[1] == 10
    await world.deliver(
        handler,
        event(
            identity_events_pb2.TenantSettingsChanged(
                tenant=f"tenants/{TENANT}", max_filter_conditions=25
            )
        ),
    )
    assert (await world.search.filter_fields(TENANT))[1] == 25
    await world.deliver(
        handler,
        event(
            identity_events_pb2.TenantSettingsChanged(
                tenant=f"tenants/{TENANT}", max_filter_conditions=12
            )
        ),
    )
    assert (await world.search.filter_fields(TENANT))[1] == 12
