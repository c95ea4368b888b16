"""Reading one customer (GetCustomer, and every single-customer write): the row with
its identities and tags in one statement, within the tenant and the caller's scope
(SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.domain.channel import Channel
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.one_customer_reads import OneCustomerReads
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.domain.model import ChannelIdentity, Customer

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-read"
ALL = Visibility.everything()


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[Any]]:
    url = service_database_urls(("customers",), tmp_path, "read")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


def _customer(customer_id: str, **fields: Any) -> Customer:
    now = utc_now()
    return Customer(
        id=customer_id,
        tenant_id=TENANT,
        display_name=customer_id,
        created_at=now,
        updated_at=now,
        version=1,
        **fields,
    )


async def _add(sessions: async_sessionmaker[Any], *added: Customer) -> None:
    async with CustomersUnitOfWork(sessions, outbox) as uow:
        for customer in added:
            await uow.customers.add(customer)
            if customer.tags:
                await uow.customers.add_tags(customer.tenant_id, customer.id, customer.tags)
        await uow.commit()


Read = Callable[[str, str, Visibility], Awaitable[Customer | None]]


@pytest.fixture(params=["in a unit of work", "on a connection of its own"])
def read(request: pytest.FixtureRequest, sessions: async_sessionmaker[Any]) -> Read:
    """Every single-customer write reads in its unit of work; GetCustomer reads
    on a connection of its own (OneCustomerReads): the same customer either way."""
    if request.param == "in a unit of work":

        async def in_unit_of_work(
            tenant_id: str, customer_id: str, visibility: Visibility
        ) -> Customer | None:
            async with CustomersUnitOfWork(sessions, outbox) as uow:
                return await uow.customers.get(tenant_id, customer_id, visibility)

        return in_unit_of_work
    reads = OneCustomerReads(sessions.kw["bind"])

    async def on_its_own(
        tenant_id: str, customer_id: str, visibility: Visibility
    ) -> Customer | None:
        return await reads(tenant_id, visibility, customer_id)

    return on_its_own


async def _get(read: Read, customer_id: str, visibility: Visibility = ALL) -> Customer | None:
    return await read(TENANT, customer_id, visibility)


async def test_a_customer_comes_back_with_its_identities_and_tags(
    sessions: async_sessionmaker[Any], read: Read
) -> None:
    identities = (
        ChannelIdentity(Channel.EMAIL, "ada@example.com"),
        ChannelIdentity(Channel.AMAZON, "A-1", "amazon-de"),
        ChannelIdentity(Channel.AMAZON, "A-1", "amazon-fr"),
    )
    full = _customer(
        "c-full",
        emails=("ada@example.com",),
        identities=identities,
        tags=frozenset({"vip", "Ümlaut tag", 'quote " and [bracket]'}),
        owner_member_id="m-1",
        department_id="d-1",
        custom_fields={"size": "L"},
    )
    bare = _customer("c-bare")
    await _add(sessions, full, bare)

    got = await _get(read, "c-full")
    assert got is not None
    ordered = tuple(sorted(identities, key=lambda i: (i.channel.value, i.store, i.external_id)))
    # add_tags moved the version on and the time of the last update.
    assert replace(got, version=1, updated_at=full.updated_at) == replace(full, identities=ordered)
    assert got.tags == full.tags

    empty = await _get(read, "c-bare")
    assert empty is not None
    assert (empty.identities, empty.tags) == ((), frozenset())


async def test_no_customer_outside_the_tenant_or_the_callers_scope(
    sessions: async_sessionmaker[Any], read: Read
) -> None:
    await _add(sessions, _customer("c-1", owner_member_id="m-1", department_id="d-1"))
    assert await _get(read, "c-missing") is None
    assert await read("another-tenant", "c-1", ALL) is None
    for visibility, seen in [
        (Visibility(DataScope.OWN, "m-1"), True),
        (Visibility(DataScope.OWN, "m-2"), False),
        (Visibility(DataScope.DEPARTMENT, "m-2", frozenset({"d-1", "d-2"})), True),
        (Visibility(DataScope.DEPARTMENT, "m-2", frozenset({"d-2"})), False),
        (Visibility(DataScope.DEPARTMENT, "m-2", frozenset()), False),
    ]:
        # Each scope twice: the second finds its statement already built.
        for _ in range(2):
            assert (await _get(read, "c-1", visibility) is not None) is seen, visibility
