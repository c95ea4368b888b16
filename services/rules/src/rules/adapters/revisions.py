"""The tenant's rule revision as one unit of work sees it.

Every write of a rule (and of the tenant's rule settings) bumps the revision in
its transaction; the engine reads it before using the rules and settings it
keeps (app/enabled_rules.py). A consumer's unit of work applies a whole fetched
batch, so the revision is read once per tenant and unit of work rather than
once per event (issue 14), and forgotten as soon as this unit of work bumps it:
a rule disabled by an earlier event of the batch is seen by the next one.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.db.revisions import TenantRevisions
from rules.adapters.tables import rule_revisions

_REVISIONS = TenantRevisions(rule_revisions)


class RuleRevisions:
    """Shared by a unit of work's repositories that read or bump the revision."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._known: dict[str, int] = {}

    async def read(self, tenant_id: str) -> int:
        known = self._known.get(tenant_id)
        if known is None:
            known = self._known[tenant_id] = await _REVISIONS.read(self._session, tenant_id)
        return known

    async def bump(self, tenant_id: str) -> None:
        """A new revision for the tenant, committed with the change that makes it."""
        self._known.pop(tenant_id, None)
        await _REVISIONS.bump(self._session, tenant_id)
