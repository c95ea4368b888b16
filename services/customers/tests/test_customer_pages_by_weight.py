"""A page of large customers is cut by weight, so it fits the gateway's buffer (ADR 0016)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crosstalk.customers.v1 import customers_service_pb2 as pb
from crosstalk.customers.v1 import resources_pb2
from crosstalk_common.api.pagination import PAGE_BYTES_BUDGET, PageTokenCodec
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_common.grpc import auth
from crosstalk_common.permissions import DataScope
from crosstalk_devstack.databases import service_database_urls
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.tables import outbox
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.bootstrap import compose_servicer

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
ADMIN = auth.Caller(
    tenant_id="tenant-heavy-pages",
    subject="members/admin",
    permissions=frozenset(),
    data_scope=DataScope.ALL,
    department_id="",
    visible_departments=frozenset(),
    token="",
)
CUSTOMERS = 160


@pytest.fixture
async def servicer(tmp_path: Path) -> AsyncIterator[CustomersServicer]:
    url = service_database_urls(("customers",), tmp_path, "heavypages")["customers"]
    upgrade_to_head(MIGRATIONS, url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    token = auth._current.set(ADMIN)
    try:
        yield compose_servicer(
            lambda: CustomersUnitOfWork(sessions, outbox), PageTokenCodec(b"test-secret")
        )
    finally:
        auth._current.reset(token)
        await engine.dispose()


def heavy(n: int) -> resources_pb2.Customer:
    """About 18 KB: 20 e-mail addresses of 254 characters, 50 identities of 250."""
    emails = [f"{n:04d}.{i:02d}." + "m" * 235 + "@example.com" for i in range(20)]
    identities = [
        {"channel": "CHANNEL_AMAZON", "external_id": f"{n:04d}-{i:02d}-" + "b" * 242}
        for i in range(50)
    ]
    return resources_pb2.Customer(display_name=f"Heavy {n}", emails=emails, identities=identities)


async def test_a_page_of_heavy_customers_stays_within_the_budget(
    servicer: CustomersServicer,
) -> None:
    for n in range(CUSTOMERS):
        await servicer.CreateCustomer(pb.CreateCustomerRequest(customer=heavy(n)), None)
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await servicer.ListCustomers(
            pb.ListCustomersRequest(page_size=200, page_token=token), None
        )
        pages += 1
        assert page.ByteSize() <= PAGE_BYTES_BUDGET + 64 * 1024
        seen += [c.name for c in page.customers]
        token = page.next_page_token
        if not token:
            break
    # 160 customers of ~18 KB are ~2.9 MB: more than one page, none lost or repeated.
    assert pages >= 2
    assert len(seen) == len(set(seen)) == CUSTOMERS
