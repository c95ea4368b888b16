"""Per-tenant revision counters: a table of (tenant_id primary key, revision).

A service that keeps something derived from a tenant's rows (compiled matchers,
enabled rules) bumps the tenant's revision in the transaction of every change
to those rows, and reads it (one SELECT by key, in the event loop on SQLite)
before using what it kept: an equal revision means the rows are unchanged,
whichever replica changed them.
"""

from __future__ import annotations

from sqlalchemy import Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.db.sqlite_one_trip import in_the_loop


class TenantRevisions:
    """The statements of one revision table; the read (run per use) is built once."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._read = in_the_loop(
            select(table.c.revision).where(table.c.tenant_id == bindparam("tenant_id"))
        )

    async def bump(self, session: AsyncSession, tenant_id: str) -> None:
        """A new revision for the tenant, committed with the change that makes it."""
        table = self._table
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(tenant_id=tenant_id, revision=1)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.tenant_id], set_={"revision": table.c.revision + 1}
            )
        )

    async def read(self, session: AsyncSession, tenant_id: str) -> int:
        """The tenant's revision, 0 before any change."""
        found = await session.scalar(self._read, {"tenant_id": tenant_id})
        return int(found or 0)
