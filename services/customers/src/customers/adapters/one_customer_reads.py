"""GetCustomer's read on a pooled connection of its own, with no unit of work.

A unit of work around a read makes an ORM session (and the customers unit of
work's seven repositories) only to run one statement and give the connection
back; the session's execute path, its bind lookup and its close were a fifth
of a GetCustomer's CPU on SQLite (issue 14). Here the statement (the same
``one_customer_sql.one_customer``, with the tenant and the caller's data
scope in its WHERE clause) runs on a connection taken from the engine's pool
for it, as Core, and the connection goes back at once. A read outside any
transaction sees what is committed, as the unit of work's first read did.

The checkout, the statement and the connection's return run as one
synchronous function in one greenlet (``greenlet_spawn``), not as the async
connection's three: its ``async with`` closes the connection in a task of
its own, shielded (SQLAlchemy's ``_run_to_completion``), a task and two
turns of the event loop per call, and each async step spawns a greenlet.
The connection still goes back to the pool when the call is cancelled: the
cancellation reaches the function where it waits for the driver (never on
SQLite, where the read runs in the loop), and its ``with`` block closes the
connection as a synchronous one would (a connection whose reset fails is
discarded by the pool).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine, Row
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.selectable import Select
from sqlalchemy.util import greenlet_spawn

from crosstalk_common.visibility import Visibility
from customers.adapters.one_customer_sql import CUSTOMER, TENANT, one_customer
from customers.adapters.repository import customer_of_one_customer_row
from customers.domain.model import Customer


class OneCustomerReads:
    """``profiles.OneCustomerRead`` over ``engine``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.sync_engine

    async def __call__(
        self, tenant_id: str, visibility: Visibility, customer_id: str
    ) -> Customer | None:
        row = await greenlet_spawn(
            _first_row,
            self._engine,
            one_customer(visibility),
            {TENANT: tenant_id, CUSTOMER: customer_id},
        )
        return None if row is None else customer_of_one_customer_row(row)


def _first_row(
    engine: Engine, statement: Select[Any], parameters: dict[str, str]
) -> Row[Any] | None:
    """The statement's first row, on a connection checked out for it and given back."""
    with engine.connect() as connection:
        return connection.execute(statement, parameters).first()
