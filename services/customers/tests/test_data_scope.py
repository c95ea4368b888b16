"""A role's data scope is part of every customer query: all, department, own."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.errors import NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.one_customer_reads import OneCustomerReads
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.profiles import CustomerProfiles
from customers.app.search import CustomerSearch
from customers.domain.model import Customer

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
TENANT = "tenant-scope"

ADMIN = Visibility(DataScope.ALL)
SALES_LEAD = Visibility(DataScope.DEPARTMENT, "lead", frozenset({"sales", "sales-de"}))
ANNA = Visibility(DataScope.OWN, "anna")
NOBODY = Visibility(DataScope.DEPARTMENT, "lonely", frozenset())


@dataclass(frozen=True)
class UseCases:
    profiles: CustomerProfiles
    search: CustomerSearch


@pytest.fixture
def service(tmp_path: Path) -> UseCases:
    url = service_database_urls(("customers",), tmp_path, "scope")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    sessions = session_factory(engine)

    def new_uow() -> CustomersUnitOfWork:
        return CustomersUnitOfWork(sessions, outbox)

    # GetCustomer reads as the service does: on a connection of its own.
    return UseCases(CustomerProfiles(new_uow, OneCustomerReads(engine)), CustomerSearch(new_uow))


async def _seed(service: UseCases) -> dict[str, str]:
    owners = {
        "anna's": ("anna", "sales-de"),
        "ben's": ("ben", "sales"),
        "carla's": ("carla", "support"),
    }
    ids = {}
    for label, (owner, department) in owners.items():
        created = await service.profiles.create(
            Customer(
                id="",
                tenant_id=TENANT,
                display_name=label,
                owner_member_id=owner,
                department_id=department,
            )
        )
        ids[label] = created.id
    return ids


async def _visible(service: UseCases, visibility: Visibility) -> set[str]:
    page = await service.search.page(TENANT, visibility, condition=None, after=[], limit=50)
    return {c.display_name for c in page}


def test_lists_show_only_what_the_scope_allows(service: UseCases) -> None:
    async def scenario() -> None:
        await _seed(service)
        assert await _visible(service, ADMIN) == {"anna's", "ben's", "carla's"}
        assert await _visible(service, SALES_LEAD) == {"anna's", "ben's"}
        assert await _visible(service, ANNA) == {"anna's"}
        assert await _visible(service, NOBODY) == set()

    asyncio.run(scenario())


def test_out_of_scope_records_do_not_exist_for_the_caller(service: UseCases) -> None:
    async def scenario() -> None:
        ids = await _seed(service)
        carla = ids["carla's"]
        assert (await service.profiles.get(TENANT, ADMIN, carla)).display_name == "carla's"
        with pytest.raises(NotFound):
            await service.profiles.get(TENANT, ANNA, carla)
        with pytest.raises(NotFound):
            await service.profiles.update(TENANT, SALES_LEAD, carla, {"display_name": "x"}, "")
        with pytest.raises(NotFound):
            await service.profiles.delete(TENANT, ANNA, carla)
        # nothing changed
        assert (await service.profiles.get(TENANT, ADMIN, carla)).display_name == "carla's"
        await service.profiles.delete(TENANT, ANNA, ids["anna's"])  # her own: allowed
        assert await _visible(service, ADMIN) == {"ben's", "carla's"}

    asyncio.run(scenario())
