"""Customer filters over every attribute: SQL (search, count, ids), the filter index
and the in-memory evaluation of the same condition agree, inside tenant and data scope."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from crosstalk.common.v1 import condition_pb2 as cpb
from crosstalk.common.v1.channel_pb2 import Channel as ChannelPb
from crosstalk.common.v1.lifecycle_stage_pb2 import LifecycleStage as LifecycleStagePb
from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.evaluate import evaluate
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.filter_index.index import FilterIndex
from customers.adapters.filtering import parse_customer_filter
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.search import CustomerSearch
from customers.domain.facts import customer_facts
from customers.domain.model import (
    ChannelIdentity,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    LifecycleStage,
    Money,
    OrderTotals,
)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-filter"
OTHER = "tenant-filter-other"
ALL = Visibility(DataScope.ALL)
NOW = utc_now()

OP = {name.removeprefix("OPERATOR_").lower(): value for name, value in cpb.Operator.items()}


def leaf(field: str, op: str, *values: str) -> cpb.Condition:
    return cpb.Condition(
        leaf=cpb.ConditionLeaf(field=field, operator=OP[op], values=list(values))  # type: ignore[arg-type]
    )


def group(op: str, *children: cpb.Condition) -> cpb.Condition:
    logical = {"and": cpb.LOGICAL_OPERATOR_AND, "or": cpb.LOGICAL_OPERATOR_OR}[op]
    return cpb.Condition(group=cpb.ConditionGroup(operator=logical, conditions=list(children)))


def _customer(n: int, **changes: Any) -> Customer:
    base = Customer(
        id=f"c{n:02d}",
        tenant_id=TENANT,
        display_name=f"Customer {n}",
        created_at=NOW - timedelta(days=n),
        updated_at=NOW - timedelta(days=n),
    )
    return replace(base, **changes)


def _world() -> list[Customer]:
    euro = Money("EUR", 0, 0)
    return [
        _customer(
            1,
            emails=("anna@example.com",),
            country="DE",
            language="de",
            time_zone="Europe/Berlin",
            tags=frozenset({"vip", "asked-price"}),
            lifecycle_stage=LifecycleStage.DEAL,
            tier_id="gold",
            score=80,
            points_balance=300,
            owner_member_id="anna",
            department_id="sales",
            identities=(ChannelIdentity(Channel.AMAZON, "A1", "amazon-de"),),
            custom_fields={
                "vip_code": "X1",
                "budget": 1200,
                "birthday": "1990-05-01",
                "interests": ["shoes", "bags"],
                "wholesale": True,
                "source": "fair",
            },
            last_active_at=NOW - timedelta(hours=2),
        ),
        _customer(
            2,
            emails=("bo@example.org", "bo2@example.org"),
            phones=("+84 90 123",),
            country="VN",
            language="vi",
            tags=frozenset({"asked-price"}),
            lifecycle_stage=LifecycleStage.INTENT,
            score=20,
            owner_member_id="ben",
            identities=(ChannelIdentity(Channel.SHOPEE, "s-9", "shopee-vn"),),
            custom_fields={"budget": 99.5, "interests": ["bags"], "wholesale": False},
            last_active_at=NOW - timedelta(days=40),
        ),
        _customer(
            3,
            country="ES",
            language="es",
            blacklisted=True,
            blacklist_reason="spam",
            score=-5,
            owner_member_id="anna",
            identities=(ChannelIdentity(Channel.EMAIL, "c3@example.es"),),
            custom_fields={"source": "ads", "birthday": "2001-12-24"},
        ),
        _customer(4, display_name="100%_real", tier_id="silver", score=50, points_balance=10),
        _customer(
            5,
            language="en",
            lifecycle_stage=LifecycleStage.DORMANT,
            owner_member_id="ben",
            department_id="support",
        ),
    ], euro


ORDERS = {
    "c01": OrderTotals(3, Money("EUR", 1500, 500_000_000), NOW - timedelta(days=3)),
    "c02": OrderTotals(1, Money("EUR", 80, 0), NOW - timedelta(days=100)),
}


class World:
    def __init__(self, url: str) -> None:
        engine = create_engine(url)
        sessions = session_factory(engine)
        self.new_uow = lambda: CustomersUnitOfWork(sessions, outbox)
        index = FilterIndex(engine)
        self.indexed_uow = lambda: CustomersUnitOfWork(sessions, outbox, filter_index=index)
        self.search = CustomerSearch(self.new_uow)
        self.customers: list[Customer] = []

    async def seed(self) -> None:
        people, _ = _world()
        async with self.new_uow() as uow:
            for key, kind, options in (
                ("vip_code", CustomFieldType.TEXT, ()),
                ("budget", CustomFieldType.NUMBER, ()),
                ("birthday", CustomFieldType.DATE, ()),
                ("interests", CustomFieldType.MULTI_SELECT, ("shoes", "bags", "toys")),
                ("wholesale", CustomFieldType.BOOLEAN, ()),
                ("source", CustomFieldType.SINGLE_SELECT, ("fair", "ads")),
            ):
                await uow.fields.add(
                    CustomFieldDefinition(
                        id=f"f-{key}",
                        tenant_id=TENANT,
                        key=key,
                        display_name=key,
                        type=kind,
                        options=options,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
            for customer in people:
                await uow.customers.add(customer)
                if customer.tags:
                    await uow.customers.add_tags(TENANT, customer.id, customer.tags)
                totals = ORDERS.get(customer.id)
                if totals:
                    await uow.customers.save_order_totals(TENANT, customer.id, totals)
            # A look-alike in another tenant matches every condition below that c01 matches.
            await uow.customers.add(replace(people[0], id="x01", tenant_id=OTHER, identities=()))
            await uow.commit()
            self.customers = [
                c for c in [await uow.customers.get(TENANT, p.id) for p in people] if c
            ]

    async def matching(self, condition: cpb.Condition, visibility: Visibility = ALL) -> set[str]:
        node = await parse_customer_filter(self.search, TENANT, condition)
        async with self.new_uow() as uow:
            page = await uow.customers.page(TENANT, visibility, condition=node, after=[], limit=100)
            ids = await uow.customers.ids_after(TENANT, visibility, node, after_id="", limit=100)
            count = await uow.customers.count(TENANT, visibility, node)
        found = {c.id for c in page}
        assert found == set(ids)
        assert count == len(found)
        async with self.indexed_uow() as uow:  # the same answers from memory
            indexed_page = await uow.customers.page(
                TENANT, visibility, condition=node, after=[], limit=100
            )
            assert [c.id for c in indexed_page] == [c.id for c in page]
            assert await uow.customers.count(TENANT, visibility, node) == count
        return found

    async def evaluated(self, condition: cpb.Condition) -> set[str]:
        node = await parse_customer_filter(self.search, TENANT, condition)
        assert node is not None
        async with self.new_uow() as uow:
            definitions = await uow.fields.by_key(TENANT)
        return {
            c.id
            for c in self.customers
            if evaluate(node, customer_facts(c, definitions), now=utc_now())
        }


@pytest.fixture
async def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "filter")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    w = World(url)
    await w.seed()
    return w


SINGLE_VALUED = [
    leaf("display_name", "contains", "%_"),
    leaf("display_name", "equals", "Customer 2"),
    leaf("country", "in", "DE", "VN"),
    leaf("country", "is_empty"),
    leaf("language", "not_equals", "de"),
    leaf("time_zone", "is_not_empty"),
    leaf("tags", "has_any_tag", "tags/vip"),
    leaf("tags", "has_all_tags", "tags/vip", "tags/asked-price"),
    leaf("tags", "has_no_tag", "tags/asked-price"),
    leaf("tags", "is_empty"),
    leaf("lifecycle_stage", "in", "deal", "intent"),
    leaf("lifecycle_stage", "is_empty"),
    leaf("lifecycle_stage", "in", "LIFECYCLE_STAGE_DEAL", "LIFECYCLE_STAGE_INTENT"),
    leaf("lifecycle_stage", "not_equals", "LIFECYCLE_STAGE_DORMANT"),
    leaf("tier", "equals", "tiers/gold"),
    leaf("tier", "not_in", "tiers/gold"),
    leaf("tier", "is_empty"),
    leaf("score", "between", "0", "60"),
    leaf("score", "lt", "0"),
    leaf("points_balance", "gte", "10"),
    leaf("order_count", "gt", "0"),
    leaf("order_value", "gte", "1000.25"),
    leaf("order_value", "lt", "1000"),
    leaf("order_value", "is_empty"),
    leaf("last_order_time", "within_last", "P30D"),
    leaf("owner", "equals", "members/anna"),
    leaf("owner", "is_empty"),
    leaf("department", "not_equals", "departments/sales"),
    leaf("blacklisted", "equals", "true"),
    leaf("create_time", "after", (NOW - timedelta(days=2, hours=12)).isoformat()),
    leaf("last_active_time", "within_last", "P7D"),
    leaf("last_active_time", "is_empty"),
    leaf("custom_fields.vip_code", "equals", "X1"),
    leaf("custom_fields.budget", "gt", "100"),
    leaf("custom_fields.budget", "is_empty"),
    leaf("custom_fields.birthday", "before", "1995-01-01T00:00:00Z"),
    leaf("custom_fields.interests", "has_any_tag", "bags"),
    leaf("custom_fields.interests", "has_all_tags", "bags", "shoes"),
    leaf("custom_fields.interests", "has_no_tag", "shoes"),
    leaf("custom_fields.wholesale", "equals", "false"),
    leaf("custom_fields.source", "in", "ads"),
    group(
        "or",
        group("and", leaf("country", "equals", "DE"), leaf("score", "gte", "50")),
        group("and", leaf("tier", "equals", "tiers/silver"), leaf("tags", "is_empty")),
    ),
]


@pytest.mark.parametrize("n", range(len(SINGLE_VALUED)))
async def test_sql_filter_agrees_with_in_memory_evaluation(world: World, n: int) -> None:
    condition = SINGLE_VALUED[n]
    expected = await world.evaluated(condition)
    assert await world.matching(condition) == expected


async def test_the_conditions_above_select_something_and_not_everything(world: World) -> None:
    sizes = [len(await world.evaluated(c)) for c in SINGLE_VALUED]
    assert sum(1 for s in sizes if 0 < s < len(world.customers)) >= len(SINGLE_VALUED) - 3


async def test_multi_valued_fields(world: World) -> None:
    assert await world.matching(leaf("emails", "equals", "bo2@example.org")) == {"c02"}
    assert await world.matching(leaf("emails", "contains", "EXAMPLE.COM")) == {"c01"}
    assert await world.matching(leaf("emails", "is_empty")) == {"c03", "c04", "c05"}
    assert await world.matching(leaf("phones", "contains", "90 1")) == {"c02"}
    assert await world.matching(leaf("channel", "in", "amazon", "shopee")) == {"c01", "c02"}
    assert await world.matching(leaf("channel", "not_equals", "email")) == {
        "c01",
        "c02",
        "c04",
        "c05",
    }
    assert await world.matching(leaf("store", "equals", "Amazon-DE")) == {"c01"}
    assert await world.matching(leaf("store", "contains", "shopee")) == {"c02"}
    assert await world.matching(leaf("store", "is_empty")) == {"c03", "c04", "c05"}


async def test_enum_fields_take_the_api_enum_names_as_well_as_the_short_values(
    world: World,
) -> None:
    # Customer JSON shows "LIFECYCLE_STAGE_DEAL" and "CHANNEL_AMAZON": a filter
    # naming them selects what "deal" and "amazon" select, in SQL and in the index.
    for name, stage in (("LIFECYCLE_STAGE_DEAL", "deal"), ("LIFECYCLE_STAGE_DORMANT", "dormant")):
        by_name = await world.matching(leaf("lifecycle_stage", "equals", name))
        assert by_name == await world.matching(leaf("lifecycle_stage", "equals", stage))
        assert by_name == await world.evaluated(leaf("lifecycle_stage", "equals", name))
        assert len(by_name) == 1
    mixed = leaf("lifecycle_stage", "in", "LIFECYCLE_STAGE_DEAL", "intent")
    assert await world.matching(mixed) == {"c01", "c02"}
    assert await world.matching(leaf("channel", "in", "CHANNEL_AMAZON", "CHANNEL_SHOPEE")) == {
        "c01",
        "c02",
    }
    assert await world.matching(leaf("channel", "not_in", "CHANNEL_EMAIL")) == {
        "c01",
        "c02",
        "c04",
        "c05",
    }
    # Every name the API can return is accepted (UNSPECIFIED is never returned).
    for enum, field in ((LifecycleStagePb, "lifecycle_stage"), (ChannelPb, "channel")):
        names = [n for n, _ in enum.items() if not n.endswith("_UNSPECIFIED")]
        assert await parse_customer_filter(world.search, TENANT, leaf(field, "in", *names))
    with pytest.raises(InvalidArgument) as unknown:
        await parse_customer_filter(
            world.search, TENANT, leaf("lifecycle_stage", "equals", "LIFECYCLE_STAGE_WON")
        )
    assert "LIFECYCLE_STAGE_DEAL" in unknown.value.violations[0].description


async def test_scope_and_tenant_bound_every_filter(world: World) -> None:
    anna = Visibility(DataScope.OWN, "anna")
    assert await world.matching(leaf("score", "gt", "-100"), anna) == {"c01", "c03"}
    assert await world.search.count(OTHER, ALL, None) == 1
    assert await world.search.count(TENANT, ALL, None) == 5


async def test_bad_filters_name_the_condition_position(world: World) -> None:
    with pytest.raises(InvalidArgument) as bad_field:
        await parse_customer_filter(
            world.search,
            TENANT,
            group("and", leaf("score", "gt", "1"), leaf("shoe_size", "equals", "42")),
        )
    assert [v.field for v in bad_field.value.violations] == [
        "condition.group.conditions[1].leaf.field"
    ]
    with pytest.raises(InvalidArgument) as bad_op:
        await parse_customer_filter(world.search, TENANT, leaf("tags", "gt", "1"))
    assert bad_op.value.violations[0].field == "condition.leaf.operator"
    with pytest.raises(InvalidArgument) as bad_value:
        await parse_customer_filter(
            world.search, TENANT, leaf("custom_fields.source", "equals", "tv")
        )
    assert bad_value.value.violations[0].field.startswith("condition.leaf.values")


async def test_condition_limit_is_ten_unless_the_tenant_raises_it(world: World) -> None:
    eleven = group("or", *(leaf("score", "equals", str(n)) for n in range(11)))
    with pytest.raises(InvalidArgument) as too_many:
        await parse_customer_filter(world.search, TENANT, eleven)
    assert too_many.value.violations[0].field == "condition"
    assert "at most 10 conditions" in too_many.value.violations[0].description
    async with world.new_uow() as uow:
        await uow.customers.save_max_filter_conditions(TENANT, 20)
        await uow.commit()
    assert await world.matching(eleven) == {"c05"}  # the only score in 0..10
    with pytest.raises(InvalidArgument):  # the other tenant keeps the default
        await parse_customer_filter(world.search, OTHER, eleven)
