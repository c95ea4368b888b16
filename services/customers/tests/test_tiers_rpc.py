"""Tiers and tier rules through the servicer, on a real database: CRUD, assessment, recompute."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import select

from crosstalk.common.v1 import condition_pb2, money_pb2
from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import resources_pb2, scoring_pb2
from crosstalk.events.v1 import customer_events_pb2, envelope_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import DataScope
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app import tiers as tiers_module
from customers.app.tiers import TierSweep
from customers.bootstrap import compose_servicer

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
CALLER = auth.Caller(
    tenant_id="tenant-tiers",
    subject="members/admin",
    permissions=frozenset(),
    data_scope=DataScope.ALL,
    department_id="",
    visible_departments=frozenset(),
    token="",
)


class World:
    def __init__(self, url: str) -> None:
        self.sessions = session_factory(create_engine(url))
        self.rpc: CustomersServicer = compose_servicer(
            lambda: CustomersUnitOfWork(self.sessions, outbox), PageTokenCodec(b"test-secret")
        )

    def run(self, scenario: Callable[[], Awaitable[None]]) -> None:
        async def as_caller() -> None:
            token = auth._current.set(CALLER)
            try:
                await scenario()
                await self.recomputed()
            finally:
                auth._current.reset(token)

        asyncio.run(as_caller())

    async def recomputed(self) -> None:
        await self.rpc._scoring.tier_recompute.wait_idle()

    async def customer(self, name: str = "Anna") -> str:
        created = await self.rpc.CreateCustomer(
            pb.CreateCustomerRequest(customer=resources_pb2.Customer(display_name=name)), None
        )
        return created.name

    async def tier(self, display_name: str, rank: int) -> scoring_pb2.Tier:
        return await self.rpc.CreateTier(
            pb.CreateTierRequest(tier=scoring_pb2.Tier(display_name=display_name, rank=rank)),
            None,
        )

    async def tier_rule(
        self, tier: str, condition: condition_pb2.Condition, *, allow_downgrade: bool = True
    ) -> scoring_pb2.TierRule:
        return await self.rpc.CreateTierRule(
            pb.CreateTierRuleRequest(
                tier_rule=scoring_pb2.TierRule(
                    tier=tier, condition=condition, allow_downgrade=allow_downgrade, enabled=True
                )
            ),
            None,
        )

    async def tier_of(self, name: str) -> str:
        return (await self.rpc.GetCustomer(pb.GetCustomerRequest(name=name), None)).tier

    async def adjust(self, name: str, delta: int) -> resources_pb2.Customer:
        return await self.rpc.AdjustScore(
            pb.AdjustScoreRequest(name=name, delta=delta, reason="test"), None
        )

    async def order(self, name: str, external_id: str, units: int) -> None:
        placed = scoring_pb2.Order(
            external_id=external_id,
            amount=money_pb2.Money(currency_code="EUR", units=units),
            item_count=1,
        )
        placed.order_time.FromDatetime(utc_now() - timedelta(minutes=1))
        await self.rpc.RecordOrder(pb.RecordOrderRequest(parent=name, order=placed), None)

    async def tier_changes(self) -> list[tuple[str, str, str, str]]:
        """(customer, from_tier, to_tier, tier_rule) of every customer.tier_changed, in order."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(outbox.c.payload)
                .where(outbox.c.subject.endswith(".customer.tier_changed"))
                .order_by(outbox.c.created_at)
            )
            changes = []
            for (data,) in rows:
                payload = customer_events_pb2.CustomerTierChanged()
                envelope_pb2.EventEnvelope.FromString(data).payload.Unpack(payload)
                changes.append(
                    (payload.customer, payload.from_tier, payload.to_tier, payload.tier_rule)
                )
            return changes


def leaf(field: str, op: int, *values: str) -> condition_pb2.Condition:
    return condition_pb2.Condition(
        leaf=condition_pb2.ConditionLeaf(field=field, operator=op, values=list(values))  # type: ignore[arg-type]
    )


def score_at_least(points: int) -> condition_pb2.Condition:
    return leaf("score", condition_pb2.OPERATOR_GTE, str(points))


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "tiersrpc")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return World(url)


def test_tier_and_tier_rule_crud(world: World) -> None:
    async def scenario() -> None:
        rpc = world.rpc
        silver = await world.tier("Silver", 10)
        gold = await world.tier("Gold", 20)
        assert (silver.name.startswith("tiers/"), silver.etag) == (True, 'W/"1"')
        with pytest.raises(AlreadyExists):
            await world.tier("Platinum", 20)
        with pytest.raises(AlreadyExists):
            await world.tier("gold", 30)
        with pytest.raises(InvalidArgument) as bad:
            await rpc.CreateTier(
                pb.CreateTierRequest(tier=scoring_pb2.Tier(display_name=" ", color="red")), None
            )
        assert [v.field for v in bad.value.violations] == ["tier.display_name", "tier.color"]
        page = await rpc.ListTiers(pb.ListTiersRequest(page_size=1), None)
        rest = await rpc.ListTiers(
            pb.ListTiersRequest(page_size=1, page_token=page.next_page_token), None
        )
        assert [t.display_name for t in [*page.tiers, *rest.tiers]] == ["Gold", "Silver"]

        renamed = await rpc.UpdateTier(
            pb.UpdateTierRequest(
                tier=scoring_pb2.Tier(name=silver.name, color="#c0c0c0", etag=silver.etag)
            ),
            None,
        )
        assert (renamed.display_name, renamed.color, renamed.etag) == ("Silver", "#c0c0c0", 'W/"2"')
        with pytest.raises(Aborted):
            await rpc.UpdateTier(
                pb.UpdateTierRequest(tier=scoring_pb2.Tier(name=silver.name, etag=silver.etag)),
                None,
            )
        with pytest.raises(AlreadyExists):
            await rpc.UpdateTier(
                pb.UpdateTierRequest(
                    tier=scoring_pb2.Tier(name=silver.name, rank=20),
                    update_mask=field_mask_pb2.FieldMask(paths=["rank"]),
                ),
                None,
            )

        rule = await world.tier_rule(gold.name, score_at_least(50))
        assert (rule.tier, rule.condition, rule.enabled) == (gold.name, score_at_least(50), True)
        assert (await rpc.GetTierRule(pb.GetTierRuleRequest(name=rule.name), None)) == rule
        listed = await rpc.ListTierRules(pb.ListTierRulesRequest(tier=silver.name), None)
        assert list(listed.tier_rules) == []
        listed = await rpc.ListTierRules(pb.ListTierRulesRequest(tier=gold.name), None)
        assert [r.name for r in listed.tier_rules] == [rule.name]

        with pytest.raises(InvalidArgument) as bad:
            await rpc.CreateTierRule(
                pb.CreateTierRuleRequest(tier_rule=scoring_pb2.TierRule(tier="tiers/nope")), None
            )
        assert [v.field for v in bad.value.violations] == [
            "tier_rule.tier",
            "tier_rule.condition",
        ]
        with pytest.raises(InvalidArgument) as bad:
            await world.tier_rule(gold.name, leaf("emails", condition_pb2.OPERATOR_IS_EMPTY))
        assert [v.field for v in bad.value.violations] == ["tier_rule.condition.leaf.field"]

        with pytest.raises(FailedPrecondition):
            await rpc.DeleteTier(pb.DeleteTierRequest(name=gold.name), None)
        moved = await rpc.UpdateTierRule(
            pb.UpdateTierRuleRequest(
                tier_rule=scoring_pb2.TierRule(name=rule.name, tier=silver.name, etag=rule.etag)
            ),
            None,
        )
        assert (moved.tier, moved.condition) == (silver.name, score_at_least(50))
        with pytest.raises(Aborted):
            await rpc.DeleteTierRule(pb.DeleteTierRuleRequest(name=rule.name, etag=rule.etag), None)
        await rpc.DeleteTier(pb.DeleteTierRequest(name=gold.name), None)
        await rpc.DeleteTierRule(pb.DeleteTierRuleRequest(name=rule.name), None)
        with pytest.raises(NotFound):
            await rpc.GetTierRule(pb.GetTierRuleRequest(name=rule.name), None)
        await rpc.DeleteTier(pb.DeleteTierRequest(name=silver.name), None)
        assert list((await rpc.ListTiers(pb.ListTiersRequest(), None)).tiers) == []

    world.run(scenario)


def test_orders_scores_and_points_move_a_customer_between_tiers(world: World) -> None:
    async def scenario() -> None:
        rpc = world.rpc
        silver = await world.tier("Silver", 10)
        gold = await world.tier("Gold", 20)
        silver_rule = await world.tier_rule(
            silver.name, leaf("order_value", condition_pb2.OPERATOR_GTE, "100")
        )
        gold_rule = await world.tier_rule(
            gold.name,
            condition_pb2.Condition(
                group=condition_pb2.ConditionGroup(
                    operator=condition_pb2.LOGICAL_OPERATOR_AND,
                    conditions=[
                        score_at_least(50),
                        leaf("points_balance", condition_pb2.OPERATOR_GTE, "10"),
                    ],
                )
            ),
        )
        await world.recomputed()
        anna = await world.customer()

        await world.order(anna, "A-1", 60)
        assert await world.tier_of(anna) == ""
        await world.order(anna, "A-2", 60)
        assert await world.tier_of(anna) == silver.name

        scored = await world.adjust(anna, 70)
        assert scored.tier == silver.name  # gold also needs points
        await rpc.EarnPoints(pb.EarnPointsRequest(name=anna, points=15, reason="welcome"), None)
        assert await world.tier_of(anna) == gold.name

        # gold allows a downgrade: back to silver, whose rule still holds
        dropped = await world.adjust(anna, -30)
        assert dropped.tier == silver.name
        assert await world.tier_changes() == [
            (anna, "", silver.name, silver_rule.name),
            (anna, silver.name, gold.name, gold_rule.name),
            (anna, gold.name, silver.name, silver_rule.name),
        ]
        timeline = await rpc.ListTimelineEvents(
            pb.ListTimelineEventsRequest(parent=anna, types=["customer.tier_changed"]), None
        )
        assert [e.summary for e in timeline.timeline_events] == [
            "Tier Gold -> Silver",
            "Tier Silver -> Gold",
            "Tier none -> Silver",
        ]

    world.run(scenario)


def test_a_tier_without_downgrade_is_kept_until_its_rule_allows_it(world: World) -> None:
    async def scenario() -> None:
        rpc = world.rpc
        gold = await world.tier("Gold", 20)
        rule = await world.tier_rule(gold.name, score_at_least(50), allow_downgrade=False)
        await world.recomputed()
        anna = await world.customer()
        assert (await world.adjust(anna, 60)).tier == gold.name
        assert (await world.adjust(anna, -30)).tier == gold.name
        assert len(await world.tier_changes()) == 1

        await rpc.UpdateTierRule(
            pb.UpdateTierRuleRequest(
                tier_rule=scoring_pb2.TierRule(name=rule.name, allow_downgrade=True),
                update_mask=field_mask_pb2.FieldMask(paths=["allow_downgrade"]),
            ),
            None,
        )
        await world.recomputed()
        assert await world.tier_of(anna) == ""
        assert (await world.tier_changes())[-1] == (anna, gold.name, "", "")

    world.run(scenario)


def test_a_new_tier_rule_recomputes_the_whole_tenant_in_the_background(
    world: World, monkeypatch: Any
) -> None:
    monkeypatch.setattr(tiers_module, "RECOMPUTE_BATCH", 2)  # several batches

    async def scenario() -> None:
        rpc = world.rpc
        people = [await world.customer(f"Customer {i}") for i in range(5)]
        for person, score in zip(people, (10, 60, 80, 50, 0), strict=True):
            if score:
                await world.adjust(person, score)
        gold = await world.tier("Gold", 20)
        rule = await world.tier_rule(gold.name, score_at_least(50))
        await world.recomputed()
        assert [await world.tier_of(p) for p in people] == [
            "",
            gold.name,
            gold.name,
            gold.name,
            "",
        ]
        assert sorted(c[0] for c in await world.tier_changes()) == sorted(people[1:4])
        with pytest.raises(FailedPrecondition) as held:
            await rpc.DeleteTier(pb.DeleteTierRequest(name=gold.name), None)
        assert [v.type for v in held.value.violations] == ["TIER_IN_USE"]
        assert "3 customer(s)" in held.value.message

        await rpc.DeleteTierRule(pb.DeleteTierRuleRequest(name=rule.name), None)
        await world.recomputed()
        assert [await world.tier_of(p) for p in people] == [""] * 5
        await rpc.DeleteTier(pb.DeleteTierRequest(name=gold.name), None)

    world.run(scenario)


def test_the_sweep_moves_customers_whose_recency_rule_time_has_changed(world: World) -> None:
    async def scenario() -> None:
        recent, idle = await world.customer("Recent buyer"), await world.customer("Never bought")
        await world.order(recent, "o-1", 120)
        active = await world.tier("Active", 10)
        ordered_lately = leaf("last_order_time", condition_pb2.OPERATOR_WITHIN_LAST, "P30D")
        await world.tier_rule(active.name, ordered_lately)
        await world.recomputed()
        assert [await world.tier_of(c) for c in (recent, idle)] == [active.name, ""]

        def uow() -> CustomersUnitOfWork:
            return CustomersUnitOfWork(world.sessions, outbox)

        # A sweep today changes nothing; 31 days on, the order is too old.
        assert await TierSweep(uow).sweep() == 0
        later = TierSweep(uow, clock=lambda: utc_now() + timedelta(days=31))
        assert await later.sweep() == 1
        assert [await world.tier_of(c) for c in (recent, idle)] == ["", ""]
        # No rule holds any more: the change names none.
        assert (await world.tier_changes())[-1] == (recent, active.name, "", "")

        # A set stop ends the worker before its first sweep.
        stop = asyncio.Event()
        stop.set()
        await asyncio.wait_for(later.run(stop), 5)

    world.run(scenario)
