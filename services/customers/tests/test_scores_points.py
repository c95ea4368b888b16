"""Scores (AdjustScore, history) and the points ledger, against a real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.domain.score import SCORE_LIMIT
from crosstalk_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.mapping import customer_to_pb
from customers.adapters.tables import customers, orders, outbox, points_entries, score_changes
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.orders import Orders
from customers.app.points import Points
from customers.app.profiles import CustomerProfiles
from customers.app.score_changes import ScoreAdjustments
from customers.app.timeline import Timeline
from customers.domain.model import (
    MAX_POINTS_ENTRY,
    POINTS_LIMIT,
    Customer,
    Money,
    Order,
    PointsKind,
)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-score"
OTHER = "tenant-other"
ADMIN = Visibility(DataScope.ALL)
ANNA = Visibility(DataScope.OWN, "anna")
ACTOR = "members/admin"


class World:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.orders = Orders(lambda: CustomersUnitOfWork(sessions, outbox))
        self.points = Points(lambda: CustomersUnitOfWork(sessions, outbox))
        self.profiles = CustomerProfiles(lambda: CustomersUnitOfWork(sessions, outbox))
        self.scores = ScoreAdjustments(lambda: CustomersUnitOfWork(sessions, outbox))
        self.timelines = Timeline(lambda: CustomersUnitOfWork(sessions, outbox))

    async def customer(self, owner: str = "ben") -> str:
        created = await self.profiles.create(
            Customer(id="", tenant_id=TENANT, display_name="Anna", owner_member_id=owner)
        )
        return created.id

    async def count(self, table: object, **where: str) -> int:
        async with self.sessions() as session:
            t = table  # a Table
            query = select(func.count()).select_from(t)  # type: ignore[arg-type]
            for column, value in where.items():
                query = query.where(getattr(t.c, column) == value)  # type: ignore[attr-defined]
            return int(await session.scalar(query) or 0)

    async def events(self, event_type: str) -> int:
        async with self.sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.subject.endswith("." + event_type))
            )
        return int(count or 0)


@pytest.fixture
def world(tmp_path: Path) -> World:
    url = service_database_urls(("customers",), tmp_path, "scores")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    return World(session_factory(create_engine(url)))


def test_adjust_score_history_event_and_timeline(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()
        up = await world.scores.adjust_score(TENANT, ADMIN, cid, 10, " first order ", actor=ACTOR)
        assert up.score == 10
        assert up.version == 2
        down = await world.scores.adjust_score(TENANT, ADMIN, cid, -3, "complaint", actor=ACTOR)
        assert down.score == 7
        assert (await world.profiles.get(TENANT, ADMIN, cid)).score == 7
        history = await world.scores.score_history(TENANT, ADMIN, cid, after=[], limit=10)
        assert [(c.delta, c.score, c.reason, c.source) for c in history] == [
            (-3, 7, "complaint", ACTOR),
            (10, 10, "first order", ACTOR),
        ]
        page = await world.scores.score_history(TENANT, ADMIN, cid, after=[], limit=1)
        rest = await world.scores.score_history(
            TENANT, ADMIN, cid, after=[page[0].created_at.isoformat(), page[0].id], limit=10
        )
        assert [c.delta for c in page + rest] == [-3, 10]
        assert await world.events("customer.scored") == 2
        timeline = await world.timelines.timeline(
            TENANT, ADMIN, cid, types=["customer.scored"], start=None, end=None, after=[], limit=9
        )
        assert len(timeline) == 2
        assert timeline[0].details["score"] == 7

        # a retried request_id changes nothing
        again = await world.scores.adjust_score(
            TENANT, ADMIN, cid, 5, "bonus", actor=ACTOR, request_id="r1"
        )
        retried = await world.scores.adjust_score(
            TENANT, ADMIN, cid, 5, "bonus", actor=ACTOR, request_id="r1"
        )
        assert again.score == retried.score == 12
        assert await world.events("customer.scored") == 3

    asyncio.run(scenario())


def test_adjust_score_rejects_bad_input_and_foreign_customers(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer(owner="ben")
        with pytest.raises(InvalidArgument) as bad:
            await world.scores.adjust_score(TENANT, ADMIN, cid, 0, "x", actor=ACTOR)
        assert [v.field for v in bad.value.violations] == ["delta"]
        with pytest.raises(InvalidArgument) as bad:
            await world.scores.adjust_score(TENANT, ADMIN, cid, 1, "  ", actor=ACTOR)
        assert [v.field for v in bad.value.violations] == ["reason"]
        with pytest.raises(NotFound):
            await world.scores.adjust_score(OTHER, ADMIN, cid, 1, "x", actor=ACTOR)
        with pytest.raises(NotFound):
            await world.scores.adjust_score(TENANT, ANNA, cid, 1, "x", actor=ACTOR)
        with pytest.raises(NotFound):
            await world.scores.score_history(TENANT, ANNA, cid, after=[], limit=10)
        assert (await world.profiles.get(TENANT, ADMIN, cid)).score == 0
        assert await world.count(score_changes) == 0
        assert await world.events("customer.scored") == 0

    asyncio.run(scenario())


def test_a_score_stops_at_its_limit_and_a_balance_below_its_own(world: World) -> None:
    """Huge amounts are refused, and repeated large ones leave the score at the limit
    instead of overflowing PostgreSQL's integer (a 500 before)."""

    async def scenario() -> None:
        cid = await world.customer()
        for delta in (SCORE_LIMIT + 1, -(2**63)):
            with pytest.raises(InvalidArgument) as bad:
                await world.scores.adjust_score(TENANT, ADMIN, cid, delta, "x", actor=ACTOR)
            assert [v.field for v in bad.value.violations] == ["delta"]
        for _ in range(3):
            await world.scores.adjust_score(TENANT, ADMIN, cid, SCORE_LIMIT, "up", actor=ACTOR)
        assert (await world.profiles.get(TENANT, ADMIN, cid)).score == SCORE_LIMIT
        await world.scores.adjust_score(TENANT, ADMIN, cid, -1, "down", actor=ACTOR)
        for _ in range(3):
            await world.scores.adjust_score(TENANT, ADMIN, cid, -SCORE_LIMIT, "down", actor=ACTOR)
        assert (await world.profiles.get(TENANT, ADMIN, cid)).score == -SCORE_LIMIT
        history = await world.scores.score_history(TENANT, ADMIN, cid, after=[], limit=10)
        assert history[0].score == -SCORE_LIMIT

        async with world.sessions() as session, session.begin():  # a balance near the top
            await session.execute(
                update(customers)
                .where(customers.c.id == cid)
                .values(points_balance=POINTS_LIMIT - MAX_POINTS_ENTRY)
            )
        await world.points.earn_points(TENANT, ADMIN, cid, MAX_POINTS_ENTRY, "r", actor=ACTOR)
        with pytest.raises(FailedPrecondition) as full:
            await world.points.earn_points(TENANT, ADMIN, cid, 1, "r", actor=ACTOR)
        assert full.value.violations[0].type == "POINTS_LIMIT"
        assert (await world.profiles.get(TENANT, ADMIN, cid)).points_balance == POINTS_LIMIT

    asyncio.run(scenario())


def test_concurrent_score_adjustments_lose_nothing(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()

        async def bump() -> None:
            for attempt in range(20):
                try:
                    await world.scores.adjust_score(TENANT, ADMIN, cid, 1, "tick", actor=ACTOR)
                    return
                except Exception:  # SQLite may report "database is locked"
                    await asyncio.sleep(0.01 * (attempt + 1))
            raise AssertionError("never succeeded")

        await asyncio.gather(*(bump() for _ in range(5)))
        assert (await world.profiles.get(TENANT, ADMIN, cid)).score == 5
        history = await world.scores.score_history(TENANT, ADMIN, cid, after=[], limit=10)
        assert sorted(c.score for c in history) == [1, 2, 3, 4, 5]

    asyncio.run(scenario())


def test_points_earn_spend_and_ledger(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()
        earned = await world.points.earn_points(
            TENANT,
            ADMIN,
            cid,
            100,
            "welcome",
            actor=ACTOR,
            order_id="o1",
            expire_time=utc_now() + timedelta(days=30),
        )
        assert (earned.kind, earned.points, earned.balance, earned.order) == (
            PointsKind.EARN,
            100,
            100,
            f"customers/{cid}/orders/o1",
        )
        spent = await world.points.spend_points(TENANT, ADMIN, cid, 40, "coupon", actor=ACTOR)
        assert (spent.kind, spent.points, spent.balance) == (PointsKind.SPEND, -40, 60)
        assert (await world.profiles.get(TENANT, ADMIN, cid)).points_balance == 60

        with pytest.raises(FailedPrecondition) as refused:
            await world.points.spend_points(TENANT, ADMIN, cid, 61, "too much", actor=ACTOR)
        assert [v.type for v in refused.value.violations] == ["INSUFFICIENT_POINTS"]
        assert (await world.profiles.get(TENANT, ADMIN, cid)).points_balance == 60
        assert await world.count(points_entries) == 2

        # idempotent retries
        first = await world.points.spend_points(
            TENANT, ADMIN, cid, 10, "gift", actor=ACTOR, request_id="q"
        )
        second = await world.points.spend_points(
            TENANT, ADMIN, cid, 10, "gift", actor=ACTOR, request_id="q"
        )
        assert first == second
        assert (await world.profiles.get(TENANT, ADMIN, cid)).points_balance == 50

        ledger = await world.points.points_ledger(TENANT, ADMIN, cid, after=[], limit=10)
        assert [e.points for e in ledger] == [-10, -40, 100]
        page = await world.points.points_ledger(TENANT, ADMIN, cid, after=[], limit=2)
        rest = await world.points.points_ledger(
            TENANT, ADMIN, cid, after=[page[-1].created_at.isoformat(), page[-1].id], limit=10
        )
        assert [e.points for e in page + rest] == [-10, -40, 100]

    asyncio.run(scenario())


def test_points_reject_bad_input_and_foreign_customers(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer(owner="ben")
        cases = [
            ({"points": 0}, "points"),
            ({"points": -5}, "points"),
            ({"points": MAX_POINTS_ENTRY + 1}, "points"),
            ({"reason": ""}, "reason"),
            ({"expire_time": utc_now() - timedelta(seconds=1)}, "expire_time"),
        ]
        for change, field in cases:
            args: dict[str, object] = {"points": 5, "reason": "r"} | change
            with pytest.raises(InvalidArgument) as bad:
                await world.points.earn_points(
                    TENANT,
                    ADMIN,
                    cid,
                    args.pop("points"),  # type: ignore[arg-type]
                    args.pop("reason"),  # type: ignore[arg-type]
                    actor=ACTOR,
                    **args,  # type: ignore[arg-type]
                )
            assert [v.field for v in bad.value.violations] == [field]
        with pytest.raises(NotFound):
            await world.points.earn_points(OTHER, ADMIN, cid, 5, "r", actor=ACTOR)
        with pytest.raises(NotFound):
            await world.points.spend_points(TENANT, ANNA, cid, 5, "r", actor=ACTOR)
        with pytest.raises(NotFound):
            await world.points.points_ledger(TENANT, ANNA, cid, after=[], limit=10)
        assert await world.count(points_entries) == 0

    asyncio.run(scenario())


def test_concurrent_spends_never_overdraw(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()
        await world.points.earn_points(TENANT, ADMIN, cid, 30, "start", actor=ACTOR)
        outcomes: list[str] = []

        async def spend() -> None:
            for attempt in range(20):
                try:
                    await world.points.spend_points(TENANT, ADMIN, cid, 10, "buy", actor=ACTOR)
                    outcomes.append("ok")
                    return
                except FailedPrecondition:
                    outcomes.append("refused")
                    return
                except Exception:  # SQLite may report "database is locked"
                    await asyncio.sleep(0.01 * (attempt + 1))
            raise AssertionError("never finished")

        await asyncio.gather(*(spend() for _ in range(5)))
        assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 2
        assert (await world.profiles.get(TENANT, ADMIN, cid)).points_balance == 0

    asyncio.run(scenario())


def _order(cid: str, external_id: str, units: int, currency: str = "EUR", **kw: object) -> Order:
    fields: dict[str, object] = {
        "id": "",
        "tenant_id": TENANT,
        "customer_id": cid,
        "external_id": external_id,
        "store": "amazon-de",
        "amount": Money(currency, units, 500_000_000),
        "item_count": 2,
        "order_time": utc_now() - timedelta(hours=1),
    } | kw
    return Order(**fields)  # type: ignore[arg-type]


def test_record_order_updates_totals_event_and_timeline(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()
        first = await world.orders.record_order(
            TENANT, ADMIN, _order(cid, " A-1 ", 10), actor=ACTOR
        )
        assert first.external_id == "A-1"
        await world.orders.record_order(TENANT, ADMIN, _order(cid, "A-2", 20), actor=ACTOR)
        # another currency is counted, not added to order_value
        await world.orders.record_order(
            TENANT, ADMIN, _order(cid, "A-3", 99, currency="usd", store="ebay"), actor=ACTOR
        )
        customer = await world.profiles.get(TENANT, ADMIN, cid)
        assert customer.order_totals.order_count == 3
        assert customer.order_totals.order_value == Money("EUR", 31, 0)
        pb = customer_to_pb(customer)
        assert (pb.order_count, pb.order_value.currency_code, pb.order_value.units) == (
            3,
            "EUR",
            31,
        )
        assert pb.HasField("last_order_time")

        # recorded again (a channel retrying): the first order back, nothing added
        again = await world.orders.record_order(TENANT, ADMIN, _order(cid, "A-1", 5), actor=ACTOR)
        assert (again.id, again.amount) == (first.id, first.amount)
        assert (await world.profiles.get(TENANT, ADMIN, cid)).order_totals.order_count == 3
        # the same store order claimed for another customer is a conflict
        other = await world.customer()
        with pytest.raises(AlreadyExists):
            await world.orders.record_order(TENANT, ADMIN, _order(other, "A-1", 5), actor=ACTOR)
        # same id in another store is another order
        await world.orders.record_order(
            TENANT, ADMIN, _order(cid, "A-1", 1, store="shopee"), actor=ACTOR
        )
        assert (await world.profiles.get(TENANT, ADMIN, cid)).order_totals.order_count == 4
        assert await world.events("order.recorded") == 4
        timeline = await world.timelines.timeline(
            TENANT, ADMIN, cid, types=["order.recorded"], start=None, end=None, after=[], limit=9
        )
        assert len(timeline) == 4

        listed = await world.orders.orders(
            TENANT, ADMIN, cid, start=None, end=None, after=[], limit=10
        )
        assert len(listed) == 4
        page = await world.orders.orders(
            TENANT, ADMIN, cid, start=None, end=None, after=[], limit=3
        )
        last = page[-1]
        rest = await world.orders.orders(
            TENANT,
            ADMIN,
            cid,
            start=None,
            end=None,
            after=[last.order_time.isoformat(), last.id],
            limit=10,
        )
        assert {o.id for o in page + rest} == {o.id for o in listed}

    asyncio.run(scenario())


def test_record_order_rejects_bad_input_and_respects_scope(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer(owner="ben")
        mine = await world.customer(owner="anna")
        cases = [
            (_order(cid, "", 1), "order.external_id"),
            (_order(cid, "x", 1, currency="EURO"), "order.amount.currency_code"),
            (_order(cid, "x", 1, currency="ABC"), "order.amount.currency_code"),
            (_order(cid, "x", 1, amount=Money("EUR", -1, 0)), "order.amount"),
            (_order(cid, "x", 1, amount=Money("EUR", 1, -5)), "order.amount.nanos"),
            (_order(cid, "x", 1, amount=Money("EUR", 2**63 - 1, 0)), "order.amount.units"),
            (_order(cid, "x", 1, item_count=-1), "order.item_count"),
            (_order(cid, "x", 1, order_time=utc_now() + timedelta(days=1)), "order.order_time"),
            (_order(cid, "x", 1, order_time=datetime(1, 1, 1, tzinfo=UTC)), "order.order_time"),
        ]
        for order, field in cases:
            with pytest.raises(InvalidArgument) as bad:
                await world.orders.record_order(TENANT, ADMIN, order, actor=ACTOR)
            assert [v.field for v in bad.value.violations] == [field]
        with pytest.raises(NotFound):
            await world.orders.record_order(OTHER, ADMIN, _order(cid, "x", 1), actor=ACTOR)
        with pytest.raises(NotFound):
            await world.orders.record_order(TENANT, ANNA, _order(cid, "x", 1), actor=ACTOR)
        assert await world.count(orders) == 0
        assert (await world.profiles.get(TENANT, ADMIN, cid)).order_totals.order_count == 0

        await world.orders.record_order(TENANT, ADMIN, _order(cid, "b-1", 1), actor=ACTOR)
        await world.orders.record_order(TENANT, ANNA, _order(mine, "a-1", 1), actor=ACTOR)
        # "customers/-": every order the caller may see
        seen = await world.orders.orders(TENANT, ANNA, "", start=None, end=None, after=[], limit=10)
        assert [o.external_id for o in seen] == ["a-1"]
        everything = await world.orders.orders(
            TENANT, ADMIN, "", start=None, end=None, after=[], limit=10
        )
        assert len(everything) == 2
        assert (
            await world.orders.orders(OTHER, ADMIN, "", start=None, end=None, after=[], limit=10)
            == []
        )
        with pytest.raises(NotFound):
            await world.orders.orders(TENANT, ANNA, cid, start=None, end=None, after=[], limit=10)

    asyncio.run(scenario())


def test_concurrent_orders_add_up(world: World) -> None:
    async def scenario() -> None:
        cid = await world.customer()

        async def record(i: int) -> None:
            for attempt in range(20):
                try:
                    await world.orders.record_order(
                        TENANT, ADMIN, _order(cid, f"c-{i}", 1), actor=ACTOR
                    )
                    return
                except Exception:  # SQLite may report "database is locked"
                    await asyncio.sleep(0.01 * (attempt + 1))
            raise AssertionError("never succeeded")

        await asyncio.gather(*(record(i) for i in range(5)))
        totals = (await world.profiles.get(TENANT, ADMIN, cid)).order_totals
        assert totals.order_count == 5
        assert totals.order_value == Money("EUR", 7, 500_000_000)

    asyncio.run(scenario())
