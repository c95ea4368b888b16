"""GetCustomer's read on a pooled connection of its own, with no unit of work.

A unit of work around a read makes an ORM session (and the customers unit of
work's seven repositories) only to run one statement and give the connection
back; the session's execute path, its bind lookup and its close were a fifth
of a GetCustomer's CPU on SQLite (issue 14). Here the statement (the same
``one_customer_sql.one_customer``, with the tenant and the caller's data
scope in its WHERE clause) runs on a connection taken from the engine's pool
for it, as Core, and the connection goes back at once. A read outside any
transaction sees what is committed, as the unit of work's first read did.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.visibility import Visibility
from customers.adapters.one_customer_sql import CUSTOMER, TENANT, one_customer
from customers.adapters.repository import customer_of_one_customer_row
from customers.domain.model import Customer


class OneCustomerReads:
    """``profiles.OneCustomerRead`` over ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def __call__(
        self, tenant_id: str, visibility: Visibility, customer_id: str
    ) -> Customer | None:
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    one_customer(visibility), {TENANT: tenant_id, CUSTOMER: customer_id}
                )
            ).first()
        return None if row is None else customer_of_one_customer_row(row)
