"""ResolveIdentity: find or create by channel identity, with the language on creation."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from crosstalk_devstack.sqlite_trips import count_trips
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.identity_resolution import IdentityResolution
from customers.app.ports import IdentityTaken
from customers.app.profiles import CustomerProfiles
from customers.app.search import CustomerSearch
from customers.domain.model import ChannelIdentity, Customer

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-resolve"
ALL = Visibility.everything()


@dataclass(frozen=True)
class UseCases:
    identities: IdentityResolution
    profiles: CustomerProfiles
    search: CustomerSearch


@pytest.fixture
def service(tmp_path: Path) -> UseCases:
    url = service_database_urls(("customers",), tmp_path, "resolve")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    sessions = session_factory(create_engine(url))

    def new_uow() -> CustomersUnitOfWork:
        return CustomersUnitOfWork(sessions, outbox)

    return UseCases(IdentityResolution(new_uow), CustomerProfiles(new_uow), CustomerSearch(new_uow))


async def test_first_contact_creates_with_language_and_later_contacts_find_it(
    service: UseCases,
) -> None:
    buyer = ChannelIdentity(Channel.AMAZON, " A-77 ", "Amazon-DE")
    created, was_created = await service.identities.resolve_identity(
        TENANT, ALL, buyer, "Jonas", "de"
    )
    assert was_created
    assert created.language == "de"
    assert created.identities == (ChannelIdentity(Channel.AMAZON, "A-77", "amazon-de"),)
    found, again = await service.identities.resolve_identity(
        TENANT, ALL, buyer, "Someone else", "fr"
    )
    assert not again
    assert found.id == created.id
    assert found.language == "de"  # a later contact does not rewrite the profile
    other_tenant, created_there = await service.identities.resolve_identity(
        "tenant-2", ALL, buyer, "", ""
    )
    assert created_there
    assert other_tenant.id != created.id


async def test_bad_language_is_refused_and_nothing_is_created(service: UseCases) -> None:
    buyer = ChannelIdentity(Channel.SHOPEE, "s-1", "shopee-vn")
    with pytest.raises(InvalidArgument) as bad:
        await service.identities.resolve_identity(TENANT, ALL, buyer, "Lan", "not a language")
    assert [v.field for v in bad.value.violations] == ["language"]
    assert await service.search.count(TENANT, Visibility.everything(), None) == 0


async def test_a_restricted_caller_resolves_only_inside_its_data_scope(
    service: UseCases,
) -> None:
    now = utc_now()
    for n, (owner, department) in enumerate((("anna", "sales"), ("ben", "support"))):
        await service.profiles.create(
            Customer(
                id="",
                tenant_id=TENANT,
                display_name=f"Buyer {n}",
                identities=(ChannelIdentity(Channel.EMAIL, f"buyer{n}@shop.test"),),
                owner_member_id=owner,
                department_id=department,
                created_at=now,
                updated_at=now,
            )
        )
    sales = Visibility(DataScope.DEPARTMENT, "anna", frozenset({"sales"}))
    anna = Visibility(DataScope.OWN, "anna")
    theirs = ChannelIdentity(Channel.EMAIL, "Buyer1@shop.test")
    for visibility in (sales, anna):
        mine, created = await service.identities.resolve_identity(
            TENANT, visibility, ChannelIdentity(Channel.EMAIL, "buyer0@shop.test"), ""
        )
        assert (mine.display_name, created) == ("Buyer 0", False)
        with pytest.raises(NotFound) as hidden:
            await service.identities.resolve_identity(TENANT, visibility, theirs, "Someone")
        assert "Buyer 1" not in str(hidden.value)
    assert await service.search.count(TENANT, ALL, None) == 2  # no second customer for the identity
    found, created = await service.identities.resolve_identity(TENANT, ALL, theirs, "")
    assert (found.display_name, created) == ("Buyer 1", False)
    # An identity nobody holds is still created, whatever the caller's scope.
    new, created = await service.identities.resolve_identity(
        TENANT, anna, ChannelIdentity(Channel.EMAIL, "new@shop.test"), "New"
    )
    assert created
    assert new.display_name == "New"


@pytest.mark.skipif(
    os.environ.get("CROSSTALK_TEST_DB", "sqlite") != "sqlite", reason="aiosqlite's thread"
)
async def test_resolving_a_held_identity_reads_in_the_event_loop(
    service: UseCases, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Per message from messaging: the owner by identity and the customer, both by key,
    # run in the event loop's thread, no trip to aiosqlite's; answers as before.
    buyer = ChannelIdentity(Channel.AMAZON, "A-1", "amazon-de")
    created, _ = await service.identities.resolve_identity(TENANT, ALL, buyer, "Jonas")
    hidden = Visibility(DataScope.OWN, "nobody")
    trips = count_trips(monkeypatch)
    found, was_created = await service.identities.resolve_identity(TENANT, ALL, buyer, "")
    assert (found.id, was_created) == (created.id, False)
    with pytest.raises(NotFound):  # held by a customer out of scope
        await service.identities.resolve_identity(TENANT, hidden, buyer, "")
    assert [t for t in trips if t == "_run"] == []


async def test_a_first_contact_made_concurrently_creates_one_customer(service: UseCases) -> None:
    # The claims race: each request finds the identity free, one claims it, the
    # others' claims come back empty and they answer the winner's customer.
    buyer = ChannelIdentity(Channel.EMAIL, "race@shop.test")
    answers = await asyncio.gather(
        *(service.identities.resolve_identity(TENANT, ALL, buyer, f"Racer {n}") for n in range(4))
    )
    assert len({customer.id for customer, _ in answers}) == 1
    assert [created for _, created in answers].count(True) == 1
    assert await service.search.count(TENANT, ALL, None) == 1


async def test_a_new_customer_whose_identity_is_held_is_refused_and_leaves_nothing(
    service: UseCases,
) -> None:
    buyer = ChannelIdentity(Channel.AMAZON, "A-9", "amazon-de")
    first, _ = await service.identities.resolve_identity(TENANT, ALL, buyer, "First")
    now = utc_now()
    other = ChannelIdentity(Channel.EMAIL, "second@shop.test")
    for n, identities in enumerate(((other, buyer), (other, other))):  # held; named twice
        async with service.identities.new_uow() as uow:
            with pytest.raises(IdentityTaken):
                await uow.customers.add(
                    Customer(
                        id=f"c-refused-{n}",
                        tenant_id=TENANT,
                        display_name="Second",
                        emails=("second@shop.test",),
                        identities=identities,
                        created_at=now,
                        updated_at=now,
                    )
                )
    assert await service.search.count(TENANT, ALL, None) == 1
    found, created = await service.identities.resolve_identity(TENANT, ALL, buyer, "")
    assert (found.id, created) == (first.id, False)
    # The identity the refused customers named first is still free.
    new, created = await service.identities.resolve_identity(TENANT, ALL, other, "Second")
    assert created
    assert new.id not in {"c-refused-0", "c-refused-1"}
