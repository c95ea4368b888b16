"""The filter index follows every committed write (the change log of migrations 0007, 0008)
and never shows an uncommitted one; a large tenant loads in the background while
SQL answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Group, Leaf, Node, Op
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.domain.channel import Channel
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.change_log_pruning import ChangeLogPruner
from customers.adapters.filter_index.index import FilterIndex
from customers.adapters.filter_index.loading import read_feed
from customers.adapters.tables import customer_change_log, outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.domain.model import (
    ChannelIdentity,
    Customer,
    CustomFieldDefinition,
    CustomFieldType,
)

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-index"
OTHER = "tenant-index-other"
ALL = Visibility(DataScope.ALL)
NOW = utc_now()
VIP = Leaf("tags", Op.HAS_ANY_TAG, ("vip",))
HIGH = Leaf("score", Op.GTE, (50,))
VIP_OR_HIGH = Group("or", (VIP, HIGH))


def _customer(n: int, tenant: str = TENANT, **changes: object) -> Customer:
    base = Customer(
        id=f"{tenant[-5:]}-{n:03d}",
        tenant_id=tenant,
        display_name=f"Customer {n}",
        created_at=NOW - timedelta(days=100 - n),
        updated_at=NOW,
        owner_member_id="anna" if n % 2 else "ben",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class Setup:
    def __init__(self, url: str, background_from: int = 50_000) -> None:
        self.engine = create_engine(url)
        self.sessions = session_factory(self.engine)
        self.index = FilterIndex(self.engine, background_from=background_from)

    def plain(self) -> CustomersUnitOfWork:
        return CustomersUnitOfWork(self.sessions, outbox)

    def indexed(self) -> CustomersUnitOfWork:
        return CustomersUnitOfWork(self.sessions, outbox, filter_index=self.index)

    async def both(self, node: Node, visibility: Visibility = ALL) -> set[str]:
        """What the index says, checked against SQL."""
        async with self.plain() as uow:
            expected = await uow.customers.page(
                TENANT, visibility, condition=node, after=[], limit=1000
            )
        async with self.indexed() as uow:
            page = await uow.customers.page(
                TENANT, visibility, condition=node, after=[], limit=1000
            )
            count = await uow.customers.count(TENANT, visibility, node)
        assert [c.id for c in page] == [c.id for c in expected]
        assert count == len(expected)
        return {c.id for c in page}


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    url = service_database_urls(("customers",), tmp_path, "index")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    s = Setup(url)
    async with s.plain() as uow:
        for n in range(1, 21):
            await uow.customers.add(_customer(n, score=n * 5))
            await uow.customers.add(_customer(n, OTHER, score=100))
        await uow.customers.add_tags(TENANT, _customer(3).id, frozenset({"vip"}))
        await uow.commit()
    yield s
    await s.engine.dispose()


async def test_every_kind_of_write_reaches_the_index(setup: Setup) -> None:
    first = {_customer(n).id for n in (3, *range(10, 21))}
    assert await setup.both(VIP_OR_HIGH) == first
    assert setup.index.loaded(TENANT) == 20

    async with setup.plain() as uow:
        await uow.customers.add(_customer(21, score=90))  # created
        await uow.customers.add_tags(TENANT, _customer(1).id, frozenset({"vip"}))  # tagged
        await uow.customers.remove_tags(TENANT, _customer(3).id, frozenset({"vip"}))  # untagged
        await uow.customers.add_to_score(TENANT, _customer(10).id, -40, now=NOW)  # scored
        assert await uow.customers.delete(TENANT, _customer(20).id, ALL)  # deleted
        await uow.commit()
    second = (first | {_customer(21).id, _customer(1).id}) - {_customer(n).id for n in (3, 10, 20)}
    assert await setup.both(VIP_OR_HIGH) == second

    recent = Leaf("last_active_time", Op.WITHIN_LAST, (timedelta(hours=1),))
    assert await setup.both(recent) == set()
    async with setup.plain() as uow:  # activity changes no version, still seen
        active = {(TENANT, _customer(5).id): utc_now()}
        assert await uow.customers.mark_active(active) == set(active)
        customer = await uow.customers.get(TENANT, _customer(6).id)
        assert customer is not None
        amazon = ChannelIdentity(Channel.AMAZON, "A-6", "amazon-de")
        saved = replace(customer, identities=(amazon,), country="DE")
        assert await uow.customers.save(saved, expected_version=customer.version)
        await uow.commit()
    assert await setup.both(recent) == {_customer(5).id}
    on_amazon = Group(
        "and", (Leaf("channel", Op.IN, ("amazon",)), Leaf("store", Op.EQUALS, ("Amazon-DE",)))
    )
    assert await setup.both(on_amazon) == {_customer(6).id}
    assert await setup.both(Leaf("country", Op.EQUALS, ("DE",))) == {_customer(6).id}

    anna = Visibility(DataScope.OWN, "anna")
    assert await setup.both(VIP_OR_HIGH, anna) == {cid for cid in second if int(cid[-3:]) % 2}


async def test_an_uncommitted_write_shows_only_once_committed(setup: Setup) -> None:
    assert await setup.both(VIP) == {_customer(3).id}
    writer = setup.plain()
    async with writer as uow:
        await uow.customers.add_tags(TENANT, _customer(4).id, frozenset({"vip"}))
        await uow.session.flush()
        # Not committed: neither SQL elsewhere nor the index see it.
        assert await setup.both(VIP) == {_customer(3).id}
        await uow.commit()
    assert await setup.both(VIP) == {_customer(3).id, _customer(4).id}


async def test_a_rolled_back_write_never_shows(setup: Setup) -> None:
    async with setup.plain() as uow:
        await uow.customers.add_tags(TENANT, _customer(7).id, frozenset({"vip"}))
        await uow.session.flush()
        assert await setup.both(VIP) == {_customer(3).id}
        # leaves without commit: rolled back
    assert await setup.both(VIP) == {_customer(3).id}


async def test_a_large_tenant_loads_in_the_background_while_sql_answers(
    setup: Setup,
) -> None:
    background = FilterIndex(setup.engine, background_from=10)
    async with CustomersUnitOfWork(setup.sessions, outbox, filter_index=background) as uow:
        # Answered by SQL while the table loads.
        assert await uow.customers.count(TENANT, ALL, VIP_OR_HIGH) == 12
    table = await background.ready(TENANT)
    assert table.size == 20
    async with CustomersUnitOfWork(setup.sessions, outbox, filter_index=background) as uow:
        assert await uow.customers.count(TENANT, ALL, VIP_OR_HIGH) == 12
    assert background.loaded(TENANT) == 20


async def test_pages_follow_the_cursor_in_create_time_order(setup: Setup) -> None:
    everyone = Leaf("score", Op.GTE, (0,))
    pages: list[list[str]] = []
    for uow_of in (setup.plain, setup.indexed):
        seen: list[str] = []
        after: list[str] = []
        while True:
            async with uow_of() as uow:
                page = await uow.customers.page(
                    TENANT, ALL, condition=everyone, after=after, limit=6
                )
            if not page:
                break
            seen += [c.id for c in page]
            last = page[-1]
            assert last.created_at is not None
            after = [last.created_at.isoformat(), last.id]
        pages.append(seen)
    assert pages[0] == pages[1]
    assert len(pages[1]) == 20


async def test_a_customer_created_out_of_order_is_put_in_page_order(setup: Setup) -> None:
    everyone = Leaf("score", Op.GTE, (0,))
    assert len(await setup.both(everyone)) == 20
    async with setup.plain() as uow:  # sorts before every loaded customer
        await uow.customers.add(
            _customer(0, score=60, created_at=NOW - timedelta(days=500), tags=frozenset())
        )
        await uow.customers.add_tags(TENANT, _customer(0).id, frozenset({"vip"}))
        await uow.commit()
    for uow_of in (setup.plain, setup.indexed):
        async with uow_of() as uow:
            page = await uow.customers.page(TENANT, ALL, condition=VIP_OR_HIGH, after=[], limit=3)
        assert [c.id for c in page] == [_customer(n).id for n in (0, 3, 10)]
    assert await setup.both(VIP) == {_customer(0).id, _customer(3).id}


async def test_many_writes_are_taken_in_the_background_while_sql_answers(setup: Setup) -> None:
    patient = FilterIndex(setup.engine, catch_up_at_once=3)
    indexed = lambda: CustomersUnitOfWork(setup.sessions, outbox, filter_index=patient)  # noqa: E731
    async with indexed() as uow:
        assert await uow.customers.count(TENANT, ALL, VIP) == 1
    async with setup.plain() as uow:
        for n in range(1, 6):
            await uow.customers.add_tags(TENANT, _customer(n).id, frozenset({"vip"}))
        await uow.commit()
    async with indexed() as uow:  # five writes: SQL answers, right, while the index catches up
        assert await uow.customers.count(TENANT, ALL, VIP) == 5
    await patient.ready(TENANT)
    assert patient.loaded(TENANT) == 20
    async with indexed() as uow:
        assert await uow.customers.count(TENANT, ALL, VIP) == 5


async def test_a_new_custom_field_reaches_the_index(setup: Setup) -> None:
    assert await setup.both(VIP) == {_customer(3).id}
    async with setup.plain() as uow:
        await uow.fields.add(
            CustomFieldDefinition(
                id="f-budget",
                tenant_id=TENANT,
                key="budget",
                display_name="Budget",
                type=CustomFieldType.NUMBER,
                created_at=NOW,
                updated_at=NOW,
            )
        )
        customer = await uow.customers.get(TENANT, _customer(8).id)
        assert customer is not None
        saved = replace(customer, custom_fields={"budget": 1500})
        assert await uow.customers.save(saved, expected_version=customer.version)
        await uow.commit()
    rich = Leaf("custom_fields.budget", Op.GT, (1000,))
    assert await setup.both(rich) == {_customer(8).id}
    assert setup.index.loaded(TENANT) == 20


async def _log_rows(setup: Setup) -> list[tuple[int, str]]:
    async with setup.engine.connect() as conn:
        rows = await conn.execute(
            select(customer_change_log.c.seq, customer_change_log.c.customer_id).order_by(
                customer_change_log.c.seq
            )
        )
        return [(int(seq), cid) for seq, cid in rows]


async def test_pruning_deletes_old_log_rows_and_the_index_reloads_what_it_missed(
    setup: Setup,
) -> None:
    pruner = ChangeLogPruner(setup.engine)
    assert await pruner.prune_once() == 0  # nothing is a day old yet
    assert await setup.both(VIP) == {_customer(3).id}
    async with setup.plain() as uow:  # written, then pruned before the index reads it
        await uow.customers.add_tags(TENANT, _customer(8).id, frozenset({"vip"}))
        await uow.commit()
    before = await _log_rows(setup)
    assert (await pruner.prune_once(utc_now() + timedelta(days=2))) > 0
    after = await _log_rows(setup)
    # SQLite's seq is the rowid: its newest row stays, so numbers never restart.
    assert after == ([] if setup.engine.dialect.name == "postgresql" else before[-1:])
    assert await setup.both(VIP) == {_customer(3).id, _customer(8).id}

    async with setup.plain() as uow:  # and the log goes on, past what was deleted
        await uow.customers.add_tags(TENANT, _customer(9).id, frozenset({"vip"}))
        await uow.commit()
    newest = await _log_rows(setup)
    assert newest[-1][1] == _customer(9).id
    assert newest[-1][0] > before[-1][0]
    assert await setup.both(VIP) == {_customer(n).id for n in (3, 8, 9)}


async def test_each_write_appends_to_the_log(setup: Setup) -> None:
    before = len(await _log_rows(setup))
    async with setup.plain() as uow:
        await uow.customers.add_tags(TENANT, _customer(8).id, frozenset({"vip", "lead"}))
        await uow.customers.add_to_score(TENANT, _customer(8).id, 5, now=NOW)
        await uow.commit()
    written = (await _log_rows(setup))[before:]
    assert {cid for _, cid in written} == {_customer(8).id}
    assert len(written) >= 2  # the tags and the score: appended, not merged


async def test_customers_whose_log_rows_vanish_mid_catch_up_are_not_taken_for_deleted(
    setup: Setup,
) -> None:
    assert await setup.both(VIP) == {_customer(3).id}
    async with setup.plain() as uow:
        await uow.customers.add_tags(TENANT, _customer(8).id, frozenset({"vip"}))
        await uow.commit()
    index, state = setup.index, setup.index._tenants[TENANT]
    table = state.table
    assert table is not None
    async with setup.engine.connect() as conn:
        feed = await read_feed(conn, TENANT, state.mark)
    assert _customer(8).id in feed.changed  # PostgreSQL may list earlier ones again
    async with setup.engine.begin() as conn:  # pruned between the two reads
        await conn.execute(delete(customer_change_log))
    async with setup.engine.connect() as conn:
        assert not await index._catch_up(conn, TENANT, state, table, feed)
    assert table.size == 20  # nobody removed: the caller loads the tenant afresh
