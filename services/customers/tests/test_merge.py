"""MergeCustomers against a real database: every row of the duplicates moves to the
kept customer in one transaction, sums and profile rules, idempotency, scope."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.bus.envelope import read_event
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.tables import (
    customer_merges,
    customers,
    metadata,
    outbox,
    score_rule_awards,
    timeline,
)
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.custom_fields import CustomFieldService
from customers.app.lifecycle import LifecycleStages
from customers.app.orders import Orders
from customers.app.points import Points
from customers.app.profiles import CustomerProfiles
from customers.app.score_changes import ScoreAdjustments
from customers.app.tags import TagIds, TagService
from customers.bootstrap import compose_servicer
from customers.domain.model import (
    ChannelIdentity,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
    LifecycleStage,
    Money,
    Order,
    Tag,
    TagGroup,
)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-merge"
ALL = Visibility(DataScope.ALL)
ACTOR = "members/admin"
# Every table that points at a customer, and the column that does; not the
# change feed, which keeps a row for a deleted customer to say it is gone, nor
# the snapshot versions, which a deleted customer's last snapshot continues.
_OUTLIVE_THE_CUSTOMER = ("customer_change_log", "customer_snapshot_versions")
CUSTOMER_COLUMNS = {
    name: "target_id" if name == "customer_merges" else "customer_id"
    for name, table in metadata.tables.items()
    if ("customer_id" in table.c or name == "customer_merges") and name not in _OUTLIVE_THE_CUSTOMER
}


def caller(name: str, scope: DataScope) -> auth.Caller:
    return auth.Caller(
        tenant_id=TENANT,
        subject=f"members/{name}",
        permissions=frozenset(),
        data_scope=scope,
        department_id="",
        visible_departments=frozenset(),
        token="",
    )


ADMIN = caller("admin", DataScope.ALL)
ANNA = caller("anna", DataScope.OWN)


@contextmanager
def acting(who: auth.Caller) -> Iterator[None]:
    token = auth._current.set(who)
    try:
        yield
    finally:
        auth._current.reset(token)


class World:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

        def new_uow() -> CustomersUnitOfWork:
            return CustomersUnitOfWork(sessions, outbox)

        self.orders = Orders(new_uow)
        self.points = Points(new_uow)
        self.profiles = CustomerProfiles(new_uow)
        self.scores = ScoreAdjustments(new_uow)
        self.stages = LifecycleStages(new_uow)
        self.tags = TagService(new_uow)
        self.fields = CustomFieldService(new_uow)
        self.rpc: CustomersServicer = compose_servicer(new_uow, PageTokenCodec(b"test-secret"))

    async def customer(self, name: str, owner: str = "anna", **profile: object) -> Customer:
        return await self.profiles.create(
            Customer(
                id="",
                tenant_id=TENANT,
                display_name=name,
                owner_member_id=owner,
                **profile,  # type: ignore[arg-type]
            )
        )

    async def merge(
        self, survivor: str, *merged: str, who: auth.Caller = ADMIN, request_id: str = ""
    ) -> object:
        with acting(who):
            return await self.rpc.MergeCustomers(
                pb.MergeCustomersRequest(
                    customer=f"customers/{survivor}",
                    merged_customers=[f"customers/{m}" for m in merged],
                    request_id=request_id,
                ),
                None,
            )

    async def rows(self, table: str, customer_id: str) -> int:
        t = metadata.tables[table]
        column = t.c[CUSTOMER_COLUMNS[table]]
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count()).select_from(t).where(column == customer_id)
            )
        return int(count or 0)

    async def row_counts(self, *customer_ids: str) -> dict[str, int]:
        return {
            table: sum([await self.rows(table, cid) for cid in customer_ids])
            for table in sorted(CUSTOMER_COLUMNS)
        }

    async def events(self, event_type: str) -> list[bytes]:
        async with self.sessions() as session:
            found = await session.scalars(
                select(outbox.c.payload).where(outbox.c.subject.endswith("." + event_type))
            )
            return list(found)

    async def execute(self, statement: object) -> None:
        async with self.sessions() as session:
            await session.execute(statement)  # type: ignore[call-overload]
            await session.commit()


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "merge")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return World(session_factory(create_engine(url)))


def order(cid: str, external_id: str, units: int, currency: str, hours_ago: int) -> Order:
    return Order(
        id="",
        tenant_id=TENANT,
        customer_id=cid,
        external_id=external_id,
        store="shop",
        amount=Money(currency, units, 0),
        item_count=1,
        order_time=utc_now() - timedelta(hours=hours_ago),
    )


async def fill_history(world: World, cid: str, *, seed: str) -> None:
    """A score change, points, a lifecycle change and an award: one row of each."""
    await world.scores.adjust_score(
        TENANT, ALL, cid, 5, "welcome", actor=ACTOR, request_id="shared-req"
    )
    await world.points.earn_points(
        TENANT, ALL, cid, 30, "welcome", actor=ACTOR, request_id="shared-req"
    )
    await world.stages.set_lifecycle_stage(TENANT, ALL, cid, LifecycleStage.INTENT, "", actor=ACTOR)
    # One award of its own, and one for an event every duplicate was awarded for.
    for event_id in (f"event-{seed}", "event-shared"):
        await world.execute(
            insert(score_rule_awards).values(
                id=str(uuid.uuid4()),
                tenant_id=TENANT,
                rule_id="rule-1",
                customer_id=cid,
                event_id=event_id,
                points=5,
                created_at=utc_now(),
            )
        )


async def test_merge_moves_everything_and_sums(world: World) -> None:
    exclusive = await world.tags.create_group(
        TagGroup(id="", tenant_id=TENANT, display_name="Temperature", exclusive=True)
    )
    hot, cold = [
        await world.tags.create_tag(
            Tag(id="", tenant_id=TENANT, display_name=name, group_id=exclusive.id)
        )
        for name in ("hot", "cold")
    ]
    plain = await world.tags.create_tag(Tag(id="", tenant_id=TENANT, display_name="vip"))
    await world.fields.create(
        CustomFieldDefinition(
            id="", tenant_id=TENANT, key="size", display_name="Size", type=CustomFieldType.TEXT
        )
    )
    await world.fields.create(
        CustomFieldDefinition(
            id="", tenant_id=TENANT, key="color", display_name="Color", type=CustomFieldType.TEXT
        )
    )
    kept = await world.customer(
        "Anna",
        emails=("anna@example.com",),
        phones=("+49 170 1234567",),
        custom_fields={"size": "M"},
        identities=(ChannelIdentity(Channel.EMAIL, "anna@example.com"),),
    )
    dup = await world.customer(
        "Anna B.",
        emails=("ANNA@example.com", "anna.b@example.com"),
        phones=("+49-170-1234567", "030 555 1234"),
        country="DE",
        language="de",
        time_zone="Europe/Berlin",
        custom_fields={"size": "L", "color": "red"},
        identities=(ChannelIdentity(Channel.EBAY, "anna_b", "ebay-de"),),
    )
    third = await world.customer("A. B.", emails=("ab@example.com",))
    await world.tags.change_customer_tags(TENANT, ALL, kept.id, TagIds([hot.id]), actor=ACTOR)
    await world.tags.change_customer_tags(
        TENANT, ALL, dup.id, TagIds([cold.id, plain.id]), actor=ACTOR
    )
    for cid, seed in ((kept.id, "a"), (dup.id, "b"), (third.id, "c")):
        await fill_history(world, cid, seed=seed)
    await world.orders.record_order(TENANT, ALL, order(kept.id, "K-1", 10, "EUR", 5), actor=ACTOR)
    await world.orders.record_order(TENANT, ALL, order(dup.id, "D-1", 20, "EUR", 1), actor=ACTOR)
    await world.orders.record_order(TENANT, ALL, order(dup.id, "D-2", 99, "USD", 3), actor=ACTOR)
    await world.orders.record_order(TENANT, ALL, order(third.id, "T-1", 7, "EUR", 10), actor=ACTOR)
    latest = utc_now() - timedelta(minutes=3)
    await world.execute(
        update(customers).where(customers.c.id == dup.id).values(last_active_at=latest)
    )
    await world.execute(
        update(customers)
        .where(customers.c.id == kept.id)
        .values(last_active_at=latest - timedelta(days=2))
    )

    before = await world.row_counts(kept.id, dup.id, third.id)
    version = (await world.profiles.get(TENANT, ALL, kept.id)).version
    merged = await world.merge(kept.id, dup.id, third.id, request_id="merge-1")

    # Nothing points at the merged customers any more; everything moved.
    assert await world.row_counts(dup.id, third.id) == dict.fromkeys(before, 0)
    after = await world.row_counts(kept.id)
    # Tags: one of the exclusive group (the kept customer's), plus the others'.
    # Awards: the shared rule/event pair is kept once (3 rows became 1).
    # Score changes and points entries all moved (request ids freed where repeated).
    # Timeline: everything moved, plus the customer.merged row.
    # customer_merges: the kept customer is the target of both merges.
    assert after == before | {
        "customer_contact_keys": 5,
        "customer_tags": 2,
        "customer_timeline": before["customer_timeline"] + 1,
        "score_rule_awards": 4,
        "customer_merges": 2,
    }
    result = await world.profiles.get(TENANT, ALL, kept.id)
    assert result.tags == {hot.id, plain.id}
    assert (result.score, result.points_balance) == (15, 90)
    assert result.version == version + 1
    assert merged.etag == result.etag  # type: ignore[attr-defined]
    assert result.emails == ("anna@example.com", "anna.b@example.com", "ab@example.com")
    assert result.phones == ("+49 170 1234567", "030 555 1234")
    assert {i.external_id for i in result.identities} == {"anna@example.com", "anna_b"}
    assert (result.country, result.language, result.time_zone) == ("DE", "de", "Europe/Berlin")
    assert result.custom_fields == {"size": "M", "color": "red"}
    assert result.last_active_at is not None
    assert abs((result.last_active_at - latest).total_seconds()) < 1
    totals = result.order_totals
    assert totals.order_count == 4
    # USD is counted but not added to the EUR value.
    assert totals.order_value == Money("EUR", 37, 0)
    assert totals.last_order_time is not None
    assert utc_now() - totals.last_order_time < timedelta(hours=1, minutes=5)
    for gone in (dup.id, third.id):
        with pytest.raises(NotFound):
            await world.profiles.get(TENANT, ALL, gone)

    events = await world.events("customer.merged")
    assert len(events) == 1
    event = read_event(events[0]).payload
    assert isinstance(event, customer_events_pb2.CustomerMerged)
    assert event.customer == f"customers/{kept.id}"
    assert list(event.merged_customers) == [f"customers/{dup.id}", f"customers/{third.id}"]
    assert event.actor == ACTOR
    async with world.sessions() as session:
        entry = (
            await session.execute(
                select(timeline).where(
                    timeline.c.customer_id == kept.id, timeline.c.type == "customer.merged"
                )
            )
        ).one()
        records = (
            await session.execute(
                select(customer_merges).order_by(customer_merges.c.merged_display_name)
            )
        ).all()
    assert "Anna B." in entry.summary
    assert [(r.merged_id, r.merged_display_name, r.actor, r.request_id) for r in records] == [
        (third.id, "A. B.", ACTOR, "merge-1"),
        (dup.id, "Anna B.", ACTOR, "merge-1"),
    ]

    # The same request again returns the customer and merges nothing.
    again = await world.merge(kept.id, dup.id, third.id, request_id="merge-1")
    assert again.etag == result.etag  # type: ignore[attr-defined]
    assert len(await world.events("customer.merged")) == 1
    assert await world.rows("customer_merges", kept.id) == 2
    # Without it, a merged customer no longer exists.
    with pytest.raises(NotFound):
        await world.merge(kept.id, dup.id, request_id="merge-2")


async def test_earlier_merges_follow_the_customer(world: World) -> None:
    a = await world.customer("A")
    b = await world.customer("B")
    c = await world.customer("C")
    await world.merge(b.id, a.id)
    await world.merge(c.id, b.id)
    assert await world.rows("customer_merges", c.id) == 2


async def test_out_of_scope_or_bad_requests_change_nothing(world: World) -> None:
    annas = await world.customer("Anna", owner="anna", emails=("a@example.com",))
    bens = await world.customer("Ben", owner="ben", emails=("b@example.com",))
    before = await world.row_counts(annas.id, bens.id)

    with pytest.raises(NotFound) as missing:
        await world.merge(annas.id, bens.id, who=ANNA)
    assert missing.value.resource_name == f"customers/{bens.id}"
    with pytest.raises(NotFound):
        await world.merge(bens.id, annas.id, who=ANNA)
    with pytest.raises(NotFound):
        await world.merge(annas.id, "no-such-customer")

    with pytest.raises(InvalidArgument) as itself:
        await world.merge(annas.id, bens.id, annas.id)
    assert [v.field for v in itself.value.violations] == ["merged_customers[1]"]
    with pytest.raises(InvalidArgument) as twice:
        await world.merge(annas.id, bens.id, bens.id)
    assert [v.field for v in twice.value.violations] == ["merged_customers[1]"]
    with pytest.raises(InvalidArgument) as none:
        await world.merge(annas.id)
    assert [v.field for v in none.value.violations] == ["merged_customers"]
    with pytest.raises(InvalidArgument) as many:
        await world.merge(annas.id, *(f"c{i}" for i in range(11)))
    assert [v.field for v in many.value.violations] == ["merged_customers"]
    with acting(ADMIN), pytest.raises(InvalidArgument) as bad_name:
        await world.rpc.MergeCustomers(
            pb.MergeCustomersRequest(customer=f"customers/{annas.id}", merged_customers=["tags/x"]),
            None,
        )
    assert [v.field for v in bad_name.value.violations] == ["merged_customers[0]"]

    assert await world.row_counts(annas.id, bens.id) == before
    assert (await world.profiles.get(TENANT, ALL, bens.id)).version == bens.version
    assert await world.events("customer.merged") == []
