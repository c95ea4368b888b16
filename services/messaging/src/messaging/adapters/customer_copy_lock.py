"""Keeps a conversation's copy of its customer's owner and department right on
PostgreSQL, where ingest and the customer projection run side by side.

Ingest inserts a conversation with the owner and department of the customer's
snapshot as committed at that moment; the projection consumer, having stored a
newer snapshot, copies it onto the customer's conversations. Under READ
COMMITTED each misses the other's uncommitted row: a snapshot stored while a new
conversation is being inserted never reaches it, and the conversation stays out
of its owner's and department's scope for good.

So both take a transaction-scoped advisory lock per customer first: ingest a
shared one (ingests of one customer do not wait for each other), the consumer an
exclusive one for each customer of its batch, in one order (no deadlock between
two consumers). Whichever comes second waits for the first to commit, and then
sees its row. SQLite needs none of this: its writers take turns.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_SHARED = text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:key, 0))")
_EXCLUSIVE = text(
    "SELECT pg_advisory_xact_lock(h) FROM ("
    "SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(CAST(:keys AS text[])) AS k"
    " ORDER BY h) AS ordered"
)


def _key(tenant_id: str, customer: str) -> str:
    return f"messaging.customer-copy/{tenant_id}/{customer}"


def _on_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def copying_from(session: AsyncSession, tenant_id: str, customer: str) -> None:
    """Before a conversation copies the customer's owner and department (ingest)."""
    if _on_postgresql(session):
        await session.execute(_SHARED, {"key": _key(tenant_id, customer)})


async def copying_to(session: AsyncSession, tenant_id: str, customers: Sequence[str]) -> None:
    """Before new snapshots of these customers are stored and copied (the projection)."""
    if customers and _on_postgresql(session):
        await session.execute(_EXCLUSIVE, {"keys": [_key(tenant_id, c) for c in customers]})
