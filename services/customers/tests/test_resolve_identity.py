"""ResolveIdentity: find or create by channel identity, with the language on creation."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.use_cases import CustomerService
from customers.domain.model import Channel, ChannelIdentity

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-resolve"


@pytest.fixture
def service(tmp_path: Path) -> CustomerService:
    url = service_database_urls(("customers",), tmp_path, "resolve")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    sessions = session_factory(create_engine(url))
    return CustomerService(lambda: CustomersUnitOfWork(sessions, outbox))


async def test_first_contact_creates_with_language_and_later_contacts_find_it(
    service: CustomerService,
) -> None:
    buyer = ChannelIdentity(Channel.AMAZON, " A-77 ", "Amazon-DE")
    created, was_created = await service.resolve_identity(TENANT, buyer, "Jonas", "de")
    assert was_created
    assert created.language == "de"
    assert created.identities == (ChannelIdentity(Channel.AMAZON, "A-77", "amazon-de"),)
    found, again = await service.resolve_identity(TENANT, buyer, "Someone else", "fr")
    assert not again
    assert found.id == created.id
    assert found.language == "de"  # a later contact does not rewrite the profile
    other_tenant, created_there = await service.resolve_identity("tenant-2", buyer, "", "")
    assert created_there
    assert other_tenant.id != created.id


async def test_bad_language_is_refused_and_nothing_is_created(service: CustomerService) -> None:
    buyer = ChannelIdentity(Channel.SHOPEE, "s-1", "shopee-vn")
    with pytest.raises(InvalidArgument) as bad:
        await service.resolve_identity(TENANT, buyer, "Lan", "not a language")
    assert [v.field for v in bad.value.violations] == ["language"]
    assert await service.count(TENANT, Visibility.everything(), None) == 0
