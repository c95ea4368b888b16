"""Every event about a customer carries a CustomerSnapshot of the customer as
the change left them, with a version that grows by one per event (deletion
included); bulk jobs build them set-based; rule actions are reported back with
customer.rule_action_completed and pass their causation on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk.common.v1 import lifecycle_stage_pb2
from crosstalk.events.v1 import customer_events_pb2, envelope_pb2, rule_events_pb2
from crosstalk_common.bus.causation import Causation, caused_by
from crosstalk_common.bus.envelope import Event, new_envelope, read_event
from crosstalk_common.bus.use_case_handler import in_unit_of_work
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.consumers import on_rule_action
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.blacklist import Blacklist
from customers.app.bulk_operations import BulkOperationHandler, BulkOperations
from customers.app.jobs import JobRunner, JobService
from customers.app.lifecycle import LifecycleStages
from customers.app.orders import Orders
from customers.app.profiles import CustomerProfiles
from customers.app.score_changes import ScoreAdjustments
from customers.app.tags import TagIds, TagService
from customers.domain.bulk import BulkAction, BulkOperation, BulkTarget
from customers.domain.events import CustomerScored, CustomerTagged
from customers.domain.jobs import JobKind
from customers.domain.model import Customer, LifecycleStage, Money, Order, Tag

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-snapshots"
ADMIN = Visibility(DataScope.ALL, "admin")


class World:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)

        def new_uow() -> CustomersUnitOfWork:
            return CustomersUnitOfWork(self.sessions, outbox)

        self.new_uow = new_uow
        self.profiles = CustomerProfiles(new_uow)
        self.tags = TagService(new_uow)
        self.scores = ScoreAdjustments(new_uow)
        self.stages = LifecycleStages(new_uow)
        self.blacklists = Blacklist(new_uow)
        self.orders = Orders(new_uow)
        self.jobs = JobService(new_uow)

    async def customer(self, name: str) -> str:
        created = await self.profiles.create(
            Customer(id="", tenant_id=TENANT, display_name=name, owner_member_id="ben")
        )
        return created.id

    async def tag(self, name: str) -> str:
        return (await self.tags.create_tag(Tag(id="", tenant_id=TENANT, display_name=name))).id

    async def envelopes(self) -> list[tuple[envelope_pb2.EventEnvelope, Message]]:
        """Every staged event, in the order the relay publishes them."""
        async with self.sessions() as session:
            rows = await session.scalars(
                select(outbox.c.payload).order_by(outbox.c.created_at, outbox.c.id)
            )
            events = [read_event(r) for r in rows]
        return [(e.envelope, e.payload) for e in events]

    async def about(self, customer_id: str) -> list[tuple[str, Any]]:
        """(type, snapshot) of the events about one customer, in order."""
        name = f"customers/{customer_id}"
        return [
            (envelope.type, payload.snapshot)  # type: ignore[attr-defined]
            for envelope, payload in await self.envelopes()
            if getattr(payload, "customer", None) == name
        ]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    url = service_database_urls(("customers",), tmp_path, "snapshots")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    yield World(engine)
    await engine.dispose()


async def test_each_change_carries_the_customer_after_it_with_the_next_version(
    world: World,
) -> None:
    vip = await world.tag("VIP")
    cid = await world.customer("Anna")
    await world.tags.change_customer_tags(TENANT, ADMIN, cid, TagIds([vip]), actor="members/a")
    await world.scores.adjust_score(TENANT, ADMIN, cid, 5, "asked", actor="members/a")
    await world.stages.set_lifecycle_stage(
        TENANT, ADMIN, cid, LifecycleStage.INTENT, "", actor="members/a"
    )
    await world.orders.record_order(
        TENANT,
        ADMIN,
        Order(
            id="",
            tenant_id=TENANT,
            customer_id=cid,
            external_id="A-1",
            store="shop",
            amount=Money("EUR", 12),
            item_count=1,
            order_time=utc_now() - timedelta(hours=1),
        ),
        actor="members/a",
    )
    await world.blacklists.blacklist(TENANT, ADMIN, cid, "fraud", actor="members/a")
    await world.tags.change_customer_tags(
        TENANT, ADMIN, cid, TagIds([vip]), remove=True, actor="members/a"
    )
    await world.profiles.delete(TENANT, ADMIN, cid)

    about = await world.about(cid)
    types = [t for t, _ in about]
    assert types[0] == "customer.created"
    assert types[-1] == "customer.deleted"
    for expected in (
        "customer.tagged",
        "customer.scored",
        "customer.stage_changed",
        "order.recorded",
        "customer.blacklisted",
        "customer.untagged",
    ):
        assert expected in types
    versions = [s.version for _, s in about]
    assert versions == list(range(1, len(about) + 1))  # one more with every event
    snapshot = dict(about)
    assert snapshot["customer.created"].display_name == "Anna"
    assert snapshot["customer.created"].owner == "members/ben"
    assert list(snapshot["customer.created"].tags) == []
    assert list(snapshot["customer.tagged"].tags) == [f"tags/{vip}"]
    assert list(snapshot["customer.tagged"].tag_labels) == ["VIP"]
    assert snapshot["customer.scored"].score == 5
    assert (
        snapshot["customer.stage_changed"].lifecycle_stage
        == lifecycle_stage_pb2.LIFECYCLE_STAGE_INTENT
    )
    assert snapshot["order.recorded"].order_count == 1
    assert snapshot["order.recorded"].order_total.units == 12
    assert snapshot["customer.blacklisted"].blacklisted
    assert not snapshot["customer.blacklisted"].deleted
    assert list(snapshot["customer.untagged"].tags) == []
    gone = snapshot["customer.deleted"]
    assert gone.deleted
    assert gone.display_name == ""


async def test_two_events_about_one_customer_in_one_transaction_get_two_versions(
    world: World,
) -> None:
    cid = await world.customer("Bo")
    other = await world.customer("Cy")
    async with world.new_uow() as uow:
        await uow.emit(TENANT, CustomerTagged(cid, ()))
        await uow.emit_many(
            TENANT, [CustomerScored(cid, 0, 0, "r", "s"), CustomerScored(other, 0, 0, "r", "s")]
        )
        await uow.commit()
    assert [s.version for _, s in await world.about(cid)] == [1, 2, 3]
    assert [s.version for _, s in await world.about(other)] == [1, 2]


async def test_a_bulk_job_builds_its_snapshots_with_a_few_statements_per_batch(
    world: World,
) -> None:
    vip = await world.tag("VIP")
    few = [await world.customer(f"F{i}") for i in range(3)]
    many = [await world.customer(f"M{i}") for i in range(30)]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    async def tag_all(ids: list[str]) -> int:
        bulk = BulkOperations(world.jobs)
        await bulk.start(
            tenant_id=TENANT,
            visibility=ADMIN,
            creator_member_id="admin",
            operation=BulkOperation(BulkAction.ADD_TAGS, tag_ids=(vip,)),
            target=BulkTarget(customer_ids=tuple(ids), condition=None),
            request_id="",
        )
        statements.clear()
        sa_event.listen(world.engine.sync_engine, "before_cursor_execute", count)
        try:
            runner = JobRunner(
                world.new_uow,
                {JobKind.BULK_OPERATION: BulkOperationHandler(world.new_uow, batch_size=100)},
            )
            await runner.run_until_idle()
        finally:
            sa_event.remove(world.engine.sync_engine, "before_cursor_execute", count)
        return len(statements)

    for_few = await tag_all(few)
    for_many = await tag_all(many)
    assert for_many == for_few  # one batch either way: the same statements
    for cid in many:
        ((_, _created), (kind, tagged)) = await world.about(cid)
        assert kind == "customer.tagged"
        assert (tagged.version, list(tagged.tag_labels)) == (2, ["VIP"])


def _rule_event(payload: Message, causation: Causation | None = None) -> Event:
    _, envelope = new_envelope(
        TENANT, payload, occurred_at=utc_now(), trace_context={}, causation=causation
    )
    return Event(envelope=envelope, payload=payload)


async def _deliver(world: World, evt: Event) -> None:
    """As the consumer does: in one transaction, with the event's causation current."""
    handler = in_unit_of_work(CustomersUnitOfWork, outbox, on_rule_action)
    with caused_by(evt.causation):
        async with world.sessions() as session, session.begin():
            await handler(session, evt)


async def test_rule_actions_are_reported_and_pass_their_causation_on(world: World) -> None:
    cid = await world.customer("Di")
    name = f"customers/{cid}"
    run = "rules/r1/runs/u1"
    caused = Causation(run, 1)
    await _deliver(
        world,
        _rule_event(
            rule_events_pb2.RuleActionTagRequested(
                rule="rules/r1", run=run, customer=name, tag_labels=["vip"], action_index=0
            ),
            caused,
        ),
    )
    score = rule_events_pb2.RuleActionScoreRequested(
        rule="rules/r1", run=run, customer=name, delta=4, reason="hot", action_index=1
    )
    await _deliver(world, _rule_event(score, caused))
    await _deliver(world, _rule_event(score, caused))  # the same action again, a new event
    await _deliver(
        world,
        _rule_event(
            rule_events_pb2.RuleActionScoreRequested(
                rule="rules/r1", run=run, customer=name, delta=5, reason="x" * 600, action_index=2
            )
        ),
    )
    await _deliver(
        world,
        _rule_event(
            rule_events_pb2.RuleActionStageRequested(
                rule="rules/r1",
                run=run,
                customer="customers/gone",
                stage=lifecycle_stage_pb2.LIFECYCLE_STAGE_INTENT,
                action_index=3,
            )
        ),
    )
    assert (await world.profiles.get(TENANT, ADMIN, cid)).score == 4  # once

    envelopes = await world.envelopes()
    reports = [
        (p.action_index, p.action_type, p.outcome, p.result, bool(p.reason))
        for _, p in envelopes
        if isinstance(p, rule_events_pb2.CustomerRuleActionCompleted)
    ]
    outcome = rule_events_pb2
    assert reports == [
        (0, "rule.action.tag", outcome.RULE_ACTION_OUTCOME_SUCCEEDED, name, False),
        (1, "rule.action.score", outcome.RULE_ACTION_OUTCOME_SUCCEEDED, name, False),
        (1, "rule.action.score", outcome.RULE_ACTION_OUTCOME_SUCCEEDED, name, False),
        (2, "rule.action.score", outcome.RULE_ACTION_OUTCOME_FAILED, "", True),
        (3, "rule.action.stage", outcome.RULE_ACTION_OUTCOME_SKIPPED, "", True),
    ]
    completed = [
        p for _, p in envelopes if isinstance(p, rule_events_pb2.CustomerRuleActionCompleted)
    ]
    assert {(p.rule, p.run) for p in completed} == {("rules/r1", run)}
    # What the caused actions emitted carries their causation; the others none.
    by_type = {envelope.type: envelope for envelope, _ in envelopes}
    for caused_type in ("customer.tagged", "customer.scored"):
        assert (by_type[caused_type].causing_run, by_type[caused_type].causation_depth) == (run, 1)
    assert (
        by_type["customer.created"].causing_run,
        by_type["customer.created"].causation_depth,
    ) == ("", 0)
    tagged = next(p for e, p in envelopes if e.type == "customer.tagged")
    assert isinstance(tagged, customer_events_pb2.CustomerTagged)
    assert list(tagged.snapshot.tag_labels) == ["vip"]
