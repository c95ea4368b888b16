"""Points expiry against a real database: earliest-expiring points are spent first,
what expired unspent is booked once, and the tier follows the balance."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.common.v1 import condition_pb2
from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Leaf, Op
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.points import Points
from customers.app.points_expiry import PointsExpiry
from customers.app.profiles import CustomerProfiles
from customers.app.scoring import ScoringService
from customers.app.timeline import Timeline
from customers.domain.model import Customer, PointsKind
from customers.domain.scoring import Tier, TierRule

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-expiry"
ADMIN = Visibility(DataScope.ALL)
ACTOR = "members/admin"


class World:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

        def new_uow() -> CustomersUnitOfWork:
            return CustomersUnitOfWork(sessions, outbox)

        self.new_uow = new_uow
        self.points = Points(new_uow)
        self.profiles = CustomerProfiles(new_uow)
        self.timelines = Timeline(new_uow)
        self.scoring = ScoringService(new_uow)

    async def customer(self, tenant: str = TENANT) -> str:
        created = await self.profiles.create(Customer(id="", tenant_id=tenant, display_name="Anna"))
        return created.id

    async def earn(
        self, cid: str, points: int, expires: datetime | None, tenant: str = TENANT
    ) -> None:
        await self.points.earn_points(
            tenant, ADMIN, cid, points, "bonus", actor=ACTOR, expire_time=expires
        )

    async def spend(self, cid: str, points: int) -> None:
        await self.points.spend_points(TENANT, ADMIN, cid, points, "coupon", actor=ACTOR)

    async def balance(self, cid: str, tenant: str = TENANT) -> int:
        return (await self.profiles.get(tenant, ADMIN, cid)).points_balance

    async def expired(self, cid: str) -> list[int]:
        ledger = await self.points.points_ledger(TENANT, ADMIN, cid, after=[], limit=50)
        return [e.points for e in ledger if e.kind is PointsKind.EXPIRE]

    async def updates(self) -> int:
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.subject.endswith(".customer.updated"))
            )
        return int(count or 0)


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "pointsexpiry")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return World(session_factory(create_engine(url)))


def test_spends_use_the_earliest_expiring_points_and_expiry_books_the_rest_once(
    world: World,
) -> None:
    async def scenario() -> None:
        now = utc_now()
        cid = await world.customer()
        await world.earn(cid, 100, now + timedelta(days=1))
        await world.earn(cid, 50, now + timedelta(days=3))
        await world.earn(cid, 30, None)
        await world.spend(cid, 120)  # all of the first 100, then 20 of the 50
        expiry = PointsExpiry(world.new_uow)

        assert await expiry.expire_due(now + timedelta(days=2)) == []
        assert await world.balance(cid) == 60

        booked = await expiry.expire_due(now + timedelta(days=4))
        assert [(e.kind, e.points, e.balance, e.actor) for e in booked] == [
            (PointsKind.EXPIRE, -30, 30, "system")
        ]
        assert await world.balance(cid) == 30
        assert await world.updates() == 1
        timeline = await world.timelines.timeline(
            TENANT, ADMIN, cid, types=["customer.updated"], start=None, end=None, after=[], limit=5
        )
        assert [t.summary for t in timeline] == ["30 point(s) expired; balance 30"]

        # idempotent: the same pass again, and a fresh process looking at everything
        assert await expiry.expire_due(now + timedelta(days=4)) == []
        assert await PointsExpiry(world.new_uow).expire_due(now + timedelta(days=5)) == []
        assert await world.expired(cid) == [-30]
        assert await world.balance(cid) == 30

    asyncio.run(scenario())


def test_a_spend_only_uses_points_earned_before_it(world: World) -> None:
    async def scenario() -> None:
        now = utc_now()
        cid = await world.customer()
        await world.earn(cid, 50, None)
        await world.spend(cid, 50)  # used the never-expiring 50: nothing else existed
        await world.earn(cid, 100, now + timedelta(days=1))
        booked = await PointsExpiry(world.new_uow).expire_due(now + timedelta(days=2))
        assert [e.points for e in booked] == [-100]
        assert await world.balance(cid) == 0

    asyncio.run(scenario())


def test_every_tenant_is_expired_in_batches(world: World) -> None:
    async def scenario() -> None:
        now = utc_now()
        people = [(TENANT, await world.customer()) for _ in range(2)]
        people.append(("tenant-expiry-2", await world.customer("tenant-expiry-2")))
        for tenant, cid in people:
            await world.earn(cid, 10, now + timedelta(hours=1), tenant=tenant)
        unexpired = await world.customer()
        await world.earn(unexpired, 10, now + timedelta(days=9))
        booked = await PointsExpiry(world.new_uow, batch=1).expire_due(now + timedelta(days=1))
        assert sorted(e.customer_id for e in booked) == sorted(cid for _, cid in people)
        assert [await world.balance(cid, tenant) for tenant, cid in people] == [0, 0, 0]
        assert await world.balance(unexpired) == 10

    asyncio.run(scenario())


def test_expiry_re_assesses_the_tier(world: World) -> None:
    async def scenario() -> None:
        now = utc_now()
        gold = await world.scoring.create_tier(
            Tier(id="", tenant_id=TENANT, display_name="Gold", rank=1)
        )
        await world.scoring.create_tier_rule(
            TierRule(
                id="",
                tenant_id=TENANT,
                tier_id=gold.id,
                condition=Leaf("points_balance", Op.GTE, (100,)),
                condition_blob=condition_pb2.Condition(
                    leaf=condition_pb2.ConditionLeaf(
                        field="points_balance", operator=condition_pb2.OPERATOR_GTE, values=["100"]
                    )
                ).SerializeToString(),
                allow_downgrade=True,
            )
        )
        await world.scoring.tier_recompute.wait_idle()
        cid = await world.customer()
        await world.earn(cid, 120, now + timedelta(days=1))
        assert (await world.profiles.get(TENANT, ADMIN, cid)).tier_id == gold.id
        await PointsExpiry(world.new_uow).expire_due(now + timedelta(days=2))
        assert (await world.profiles.get(TENANT, ADMIN, cid)).tier_id == ""

    asyncio.run(scenario())
