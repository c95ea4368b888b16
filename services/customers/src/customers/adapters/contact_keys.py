"""Keeping customer_contact_keys in step with a customer's emails and phones.

The customer repository calls write_contact_keys whenever it adds or saves
a customer (same transaction); writers that insert customers in bulk call
insert_contact_keys. Rows go away with the customer (ON DELETE CASCADE).
Duplicate suggestions group these rows in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.db.sqlite_one_trip import in_the_loop
from customers.adapters.tables import customer_contact_keys
from customers.domain.duplicates import contact_keys
from customers.domain.model import Customer

_ADD_CONTACT_KEY = in_the_loop(insert(customer_contact_keys))


async def write_contact_keys(session: AsyncSession, customer: Customer) -> None:
    """Replace one customer's keys (after an add or a save)."""
    await session.execute(
        delete(customer_contact_keys).where(customer_contact_keys.c.customer_id == customer.id)
    )
    await insert_contact_keys(session, [customer])


async def insert_contact_keys(session: AsyncSession, batch: Sequence[Customer]) -> None:
    """The keys of customers that have none yet (new ones, e.g. a batch of an import)."""
    rows = [
        {"customer_id": c.id, "tenant_id": c.tenant_id, "kind": kind, "value": value}
        for c in batch
        for kind, value in sorted(contact_keys(c.emails, c.phones))
    ]
    if len(rows) == 1:  # a new customer's one e-mail (ResolveIdentity): in the loop on SQLite
        await session.execute(_ADD_CONTACT_KEY, rows[0])
    elif rows:
        await session.execute(_ADD_CONTACT_KEY, rows)
