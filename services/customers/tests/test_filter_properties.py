"""Property-based test (hypothesis, issue 19): customer filters agree three ways.

Random customers (attributes, tags, orders, custom fields of every type) of a fresh
tenant per example, and random condition trees over the customer filter's fields
(AND, OR, NOT; every operator with values on both sides of the customers' values):
parsed as ``parse_customer_filter`` reads a request, the SQL filter (page, ids,
count), the filter index and ``evaluate`` on ``customer_facts`` select the same
customers, on SQLite or PostgreSQL (``CROSSTALK_TEST_DB``).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosstalk.common.v1 import condition_pb2 as cpb
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
ALL = Visibility(DataScope.ALL)
NOW = utc_now()
OP = {name.removeprefix("OPERATOR_").lower(): value for name, value in cpb.Operator.items()}
CUSTOM = (
    ("vip_code", CustomFieldType.TEXT, ()),
    ("budget", CustomFieldType.NUMBER, ()),
    ("birthday", CustomFieldType.DATE, ()),
    ("interests", CustomFieldType.MULTI_SELECT, ("shoes", "bags", "toys")),
    ("wholesale", CustomFieldType.BOOLEAN, ()),
    ("source", CustomFieldType.SINGLE_SELECT, ("fair", "ads")),
)
NAMES = ("Anna", "anna b", "Bo", "100%_real", "back\\slash")
COUNTRIES = ("DE", "VN", "ES")
LANGUAGES = ("de", "vi", "en")
TAGS = ("vip", "asked-price", "new")
STAGES = tuple(LifecycleStage)
MEMBERS = ("anna", "ben")
NUMBERS = ("-5", "0", "20", "50", "80", "99.5", "1000.25")


def maybe(strategy: st.SearchStrategy[Any], empty: Any = "") -> st.SearchStrategy[Any]:
    return st.one_of(st.just(empty), strategy)


# -- customers -----------------------------------------------------------------------------
@st.composite
def customers(draw: st.DrawFn) -> list[Customer]:
    out = []
    for _ in range(draw(st.integers(1, 6))):
        custom: dict[str, object] = {}
        if draw(st.booleans()):
            custom["vip_code"] = draw(st.sampled_from(["X1", "x1", "Y2"]))
        if draw(st.booleans()):
            custom["budget"] = draw(st.sampled_from([-5, 0, 99.5, 1200]))
        if draw(st.booleans()):
            custom["birthday"] = draw(st.sampled_from(["1990-05-01", "2001-12-24"]))
        if draw(st.booleans()):
            custom["interests"] = draw(
                st.lists(st.sampled_from(["shoes", "bags", "toys"]), min_size=1, unique=True)
            )
        if draw(st.booleans()):
            custom["wholesale"] = draw(st.booleans())
        if draw(st.booleans()):
            custom["source"] = draw(st.sampled_from(["fair", "ads"]))
        created = NOW - timedelta(hours=draw(st.integers(1, 24 * 60)))
        active = draw(maybe(st.integers(1, 24 * 60), None))
        out.append(
            Customer(
                id=uuid.uuid4().hex,
                tenant_id="",
                display_name=draw(st.sampled_from(NAMES)),
                emails=tuple(draw(st.lists(st.sampled_from(["a@x.com", "b@y.org"]), max_size=2))),
                country=draw(maybe(st.sampled_from(COUNTRIES))),
                language=draw(maybe(st.sampled_from(LANGUAGES))),
                time_zone=draw(maybe(st.just("Europe/Berlin"))),
                tags=draw(st.frozensets(st.sampled_from(TAGS), max_size=3)),
                lifecycle_stage=draw(maybe(st.sampled_from(STAGES), None)),
                tier_id=draw(maybe(st.sampled_from(["gold", "silver"]))),
                score=draw(st.sampled_from([-5, 0, 20, 50, 80])),
                points_balance=draw(st.sampled_from([0, 10, 300])),
                owner_member_id=draw(maybe(st.sampled_from(MEMBERS))),
                department_id=draw(maybe(st.just("sales"))),
                blacklisted=draw(st.booleans()),
                identities=tuple(
                    ChannelIdentity(channel, uuid.uuid4().hex, store)
                    for channel, store in draw(
                        st.lists(
                            st.sampled_from(
                                [(Channel.AMAZON, "amazon-de"), (Channel.SHOPEE, "shopee-vn")]
                            ),
                            max_size=1,
                        )
                    )
                ),
                custom_fields=custom,
                created_at=created,
                updated_at=created,
                last_active_at=None if active is None else NOW - timedelta(hours=active),
            )
        )
    return out


orders = st.one_of(
    st.none(),
    st.builds(
        lambda n, units, days: OrderTotals(
            n, Money("EUR", units, 500_000_000 if units else 0), NOW - timedelta(days=days)
        ),
        st.integers(1, 3),
        st.sampled_from([0, 80, 1000, 1500]),
        st.integers(1, 100),
    ),
)


# -- conditions ----------------------------------------------------------------------------
def _leaf(field: str, op: str, *values: str) -> cpb.Condition:
    return cpb.Condition(
        leaf=cpb.ConditionLeaf(field=field, operator=OP[op], values=list(values))  # type: ignore[arg-type]
    )


TEXT_OPS = ("equals", "not_equals", "contains", "not_contains", "in", "not_in")
ORDERED_OPS = ("gt", "gte", "lt", "lte", "equals", "not_equals", "between", "in", "not_in")


def _when(draw: st.DrawFn) -> str:
    return (NOW - timedelta(hours=draw(st.integers(0, 24 * 70)))).isoformat()


@st.composite
def leaves(draw: st.DrawFn) -> cpb.Condition:
    kind = draw(
        st.sampled_from(
            [
                "text",
                "presence",
                "tags",
                "stage",
                "ref",
                "number",
                "blacklisted",
                "time",
                "custom",
            ]
        )
    )
    if kind == "presence":
        field = draw(
            st.sampled_from(
                [
                    "country",
                    "language",
                    "time_zone",
                    "tags",
                    "lifecycle_stage",
                    "tier",
                    "owner",
                    "department",
                    "order_value",
                    "last_active_time",
                    "last_order_time",
                    "custom_fields.budget",
                    "custom_fields.vip_code",
                    "custom_fields.interests",
                    "custom_fields.source",
                ]
            )
        )
        return _leaf(field, draw(st.sampled_from(["is_empty", "is_not_empty"])))
    if kind == "text":
        field, pool = draw(
            st.sampled_from(
                [
                    ("display_name", (*NAMES, "ANNA", "%", "_", "\\")),
                    ("country", COUNTRIES),
                    ("language", LANGUAGES),
                    ("custom_fields.vip_code", ("X1", "x", "Y2")),
                ]
            )
        )
        op = draw(st.sampled_from(TEXT_OPS))
        many = op in ("in", "not_in")
        return _leaf(
            field, op, *draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3 if many else 1))
        )
    if kind == "tags":
        field, pool = draw(
            st.sampled_from(
                [
                    ("tags", tuple(f"tags/{t}" for t in TAGS)),
                    ("custom_fields.interests", ("shoes", "bags", "toys")),
                ]
            )
        )
        op = draw(st.sampled_from(["has_any_tag", "has_all_tags", "has_no_tag"]))
        return _leaf(field, op, *draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3)))
    if kind == "stage":
        op = draw(st.sampled_from(["equals", "not_equals", "in", "not_in"]))
        names = [s.value for s in STAGES] + ["LIFECYCLE_STAGE_DEAL"]
        count = 3 if op.endswith("in") else 1
        return _leaf(
            "lifecycle_stage",
            op,
            *draw(st.lists(st.sampled_from(names), min_size=1, max_size=count)),
        )
    if kind == "ref":
        field, pool = draw(
            st.sampled_from(
                [
                    ("tier", ("tiers/gold", "tiers/silver")),
                    ("owner", tuple(f"members/{m}" for m in MEMBERS)),
                    ("department", ("departments/sales", "departments/support")),
                    ("custom_fields.source", ("fair", "ads")),
                ]
            )
        )
        op = draw(st.sampled_from(["equals", "not_equals", "in", "not_in"]))
        count = 2 if op.endswith("in") else 1
        return _leaf(field, op, *draw(st.lists(st.sampled_from(pool), min_size=1, max_size=count)))
    if kind == "number":
        field = draw(
            st.sampled_from(
                ["score", "points_balance", "order_count", "order_value", "custom_fields.budget"]
            )
        )
        op = draw(st.sampled_from(ORDERED_OPS))
        count = {"between": 2, "in": 3, "not_in": 3}.get(op, 1)
        values = sorted(
            draw(st.lists(st.sampled_from(NUMBERS), min_size=count, max_size=count)), key=float
        )
        return _leaf(field, op, *values)
    if kind == "blacklisted":
        return _leaf(
            draw(st.sampled_from(["blacklisted", "custom_fields.wholesale"])),
            draw(st.sampled_from(["equals", "not_equals"])),
            draw(st.sampled_from(["true", "false"])),
        )
    if kind == "time":
        field = draw(
            st.sampled_from(
                ["create_time", "last_active_time", "last_order_time", "custom_fields.birthday"]
            )
        )
        op = draw(st.sampled_from(["before", "after", "between", "within_last"]))
        if op == "within_last":
            return _leaf(field, op, draw(st.sampled_from(["P1D", "P7D", "P30D", "PT12H"])))
        if field == "custom_fields.birthday":
            stamps = draw(
                st.lists(
                    st.sampled_from(
                        ["1990-05-01T00:00:00Z", "1995-01-01T00:00:00Z", "2001-12-24T00:00:00Z"]
                    ),
                    min_size=2,
                    max_size=2,
                )
            )
        else:
            stamps = [_when(draw), _when(draw)]
        stamps.sort()
        return _leaf(field, op, *(stamps if op == "between" else stamps[:1]))
    # custom: a multi-select's or a bool's presence, budget vs numbers
    return _leaf("custom_fields.budget", draw(st.sampled_from(["gt", "lte"])), "99.5")


def trees() -> st.SearchStrategy[cpb.Condition]:
    def groups(children: st.SearchStrategy[cpb.Condition]) -> st.SearchStrategy[cpb.Condition]:
        logical = st.sampled_from([cpb.LOGICAL_OPERATOR_AND, cpb.LOGICAL_OPERATOR_OR])
        return st.one_of(
            st.builds(
                lambda op, kids: cpb.Condition(
                    group=cpb.ConditionGroup(operator=op, conditions=kids)
                ),
                logical,
                st.lists(children, min_size=1, max_size=3),
            ),
            children.map(
                lambda kid: cpb.Condition(
                    group=cpb.ConditionGroup(operator=cpb.LOGICAL_OPERATOR_NOT, conditions=[kid])
                )
            ),
        )

    return st.recursive(leaves(), groups, max_leaves=5)


# -- the database --------------------------------------------------------------------------
class Shop:
    def __init__(self, url: str) -> None:
        engine = create_engine(url)
        sessions = session_factory(engine)
        self.new_uow = lambda: CustomersUnitOfWork(sessions, outbox)
        index = FilterIndex(engine)
        self.indexed_uow = lambda: CustomersUnitOfWork(sessions, outbox, filter_index=index)
        self.search = CustomerSearch(self.new_uow)

    async def seed(self, tenant: str, people: list[Customer], totals: list[Any]) -> list[Customer]:
        async with self.new_uow() as uow:
            for key, kind, options in CUSTOM:
                await uow.fields.add(
                    CustomFieldDefinition(
                        id=uuid.uuid4().hex,
                        tenant_id=tenant,
                        key=key,
                        display_name=key,
                        type=kind,
                        options=options,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                )
            for customer, total in zip(people, totals, strict=False):
                customer = replace(customer, tenant_id=tenant)
                await uow.customers.add(customer)
                if customer.tags:
                    await uow.customers.add_tags(tenant, customer.id, customer.tags)
                if total is not None:
                    await uow.customers.save_order_totals(tenant, customer.id, total)
            await uow.commit()
            stored = [await uow.customers.get(tenant, p.id) for p in people]
        return [c for c in stored if c is not None]

    async def three_ways(
        self, tenant: str, condition: cpb.Condition, people: list[Customer]
    ) -> None:
        node = await parse_customer_filter(self.search, tenant, condition)
        assert node is not None
        async with self.new_uow() as uow:
            definitions = await uow.fields.by_key(tenant)
            page = await uow.customers.page(tenant, ALL, condition=node, after=[], limit=100)
            ids = await uow.customers.ids_after(tenant, ALL, node, after_id="", limit=100)
            count = await uow.customers.count(tenant, ALL, node)
        async with self.indexed_uow() as uow:
            indexed = await uow.customers.page(tenant, ALL, condition=node, after=[], limit=100)
            indexed_count = await uow.customers.count(tenant, ALL, node)
        expected = {
            c.id for c in people if evaluate(node, customer_facts(c, definitions), now=utc_now())
        }
        found = {c.id for c in page}
        assert found == expected, node
        assert set(ids) == expected
        assert count == len(expected)
        assert [c.id for c in indexed] == [c.id for c in page]
        assert indexed_count == count


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    url = service_database_urls(
        ("customers",), tmp_path_factory.mktemp("props"), f"props{uuid.uuid4().hex[:6]}"
    )["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return Shop(url)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(people=customers(), totals=st.lists(orders, min_size=6, max_size=6), condition=trees())
async def test_sql_filter_index_and_evaluation_agree(
    shop: Shop, people: list[Customer], totals: list[Any], condition: cpb.Condition
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    stored = await shop.seed(tenant, people, totals)
    try:
        await parse_customer_filter(shop.search, tenant, condition)
    except InvalidArgument as bad:  # refused whole, naming where
        violations = [v.field for v in bad.violations]
    else:
        violations = []
    if violations:
        assert all(f.startswith("condition") for f in violations), violations
        return
    await shop.three_ways(tenant, condition, stored)
