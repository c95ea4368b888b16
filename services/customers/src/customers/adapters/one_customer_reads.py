"""GetCustomer's read on a pooled connection of its own, with no unit of work.

A unit of work around a read makes an ORM session (and the customers unit of
work's seven repositories) only to run one statement and give the connection
back; the session's execute path, its bind lookup and its close were a fifth
of a GetCustomer's CPU on SQLite (issue 14). Here the statement (the same
``one_customer_sql.one_customer``, with the tenant and the caller's data
scope in its WHERE clause) runs on a connection taken from the engine's pool
for it, and the connection goes back at once. A read outside any
transaction sees what is committed, as the unit of work's first read did.

The statement is compiled once per scope and run on the pooled connection's
driver directly (``crosstalk_common.db.prebuilt_read``), not through a
SQLAlchemy ``Connection``, whose connection, transaction, execution context
and result were most of the read's CPU; checkout, statement and return run
as one synchronous function in one greenlet (``greenlet_spawn``): the async
connection's ``async with`` closed it in a task of its own, shielded, two
more turns of the event loop per call. The connection goes back to the pool
when the call is cancelled too.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from crosstalk_common.db.prebuilt_read import PrebuiltRead
from crosstalk_common.visibility import Visibility
from customers.adapters.one_customer_sql import CUSTOMER, TENANT, one_customer
from customers.adapters.repository import customer_of_one_customer_row
from customers.domain.model import Customer


class OneCustomerReads:
    """``profiles.OneCustomerRead`` over ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        sync_engine = engine.sync_engine

        @lru_cache(maxsize=256)
        def read_for(visibility: Visibility) -> PrebuiltRead:
            return PrebuiltRead(sync_engine, one_customer(visibility))

        self._read_for = read_for

    async def __call__(
        self, tenant_id: str, visibility: Visibility, customer_id: str
    ) -> Customer | None:
        row = await greenlet_spawn(
            self._read_for(visibility).first_row, {TENANT: tenant_id, CUSTOMER: customer_id}
        )
        return None if row is None else customer_of_one_customer_row(row)
