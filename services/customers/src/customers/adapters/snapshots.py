"""The CustomerSnapshot of every event a transaction stages about a customer.

Set-based, once per unit of work (or import batch) and tenant, after its
writes: one statement bumps the snapshot versions of all the customers the
events are about (by the number of events about each, in id order so two
transactions lock the rows in the same order), three read the customers
with their identities and tags (``SqlCustomerRepository.many``), one the
display names of their tags and one those of their tiers. So a bulk job's
slice of a thousand customers costs six statements, not six thousand.

Each event gets the customer as the transaction leaves them and its own
version: a customer with two events in the transaction gets versions v+1
and v+2, both with the final state (no one can see the state in between).
A customer whose row is gone (deleted) gets a deleted snapshot.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from customers.adapters.id_lists import one_of
from customers.adapters.repository import SqlCustomerRepository
from customers.adapters.tables import tags, tiers
from customers.domain.events import CustomerEvent, CustomerSnapshot

E = TypeVar("E")

_BUMP_POSTGRESQL = text(
    "INSERT INTO customer_snapshot_versions (customer_id, tenant_id, version) "
    "SELECT p->>0, :tenant_id, (p->>1)::bigint FROM json_array_elements(CAST(:pairs AS json)) p "
    "ON CONFLICT (customer_id) DO UPDATE "
    "SET version = customer_snapshot_versions.version + excluded.version "
    "RETURNING customer_id, version"
)
# WHERE true: SQLite reads "SELECT ... FROM f(x) ON CONFLICT" as a join's ON otherwise.
_BUMP_SQLITE = text(
    "INSERT INTO customer_snapshot_versions (customer_id, tenant_id, version) "
    "SELECT json_extract(value, '$[0]'), :tenant_id, json_extract(value, '$[1]') "
    "FROM json_each(:pairs) WHERE true "
    "ON CONFLICT (customer_id) DO UPDATE "
    "SET version = customer_snapshot_versions.version + excluded.version "
    "RETURNING customer_id, version"
)


async def _bump_versions(
    session: AsyncSession, tenant_id: str, counts: Counter[str]
) -> dict[str, int]:
    """Each customer's version after adding its count; the new versions."""
    pairs = json.dumps([[cid, counts[cid]] for cid in sorted(counts)])
    postgres = session.get_bind().dialect.name == "postgresql"
    statement = _BUMP_POSTGRESQL if postgres else _BUMP_SQLITE
    rows = await session.execute(statement, {"tenant_id": tenant_id, "pairs": pairs})
    return {str(r.customer_id): int(r.version) for r in rows}


async def with_snapshots(
    session: AsyncSession,
    customers: SqlCustomerRepository,
    tenant_id: str,
    events: Sequence[E],
) -> list[E]:
    """``events`` (of one tenant, in staging order), each CustomerEvent about a
    customer with its snapshot set; anything else as it is."""
    counts: Counter[str] = Counter(
        e.subject_id for e in events if isinstance(e, CustomerEvent) and e.subject_id
    )
    if not counts:
        return list(events)
    latest = await _bump_versions(session, tenant_id, counts)
    found = {c.id: c for c in await customers.many(tenant_id, list(counts))}
    dialect = session.get_bind().dialect
    tag_ids = {t for c in found.values() for t in c.tags}
    tag_labels: dict[str, str] = {}
    if tag_ids:
        rows = await session.execute(
            select(tags.c.id, tags.c.display_name).where(
                tags.c.tenant_id == tenant_id, one_of(dialect, tags.c.id, tag_ids)
            )
        )
        tag_labels = {str(r.id): str(r.display_name) for r in rows}
    tier_ids = {c.tier_id for c in found.values() if c.tier_id}
    tier_labels: dict[str, str] = {}
    if tier_ids:
        rows = await session.execute(
            select(tiers.c.id, tiers.c.display_name).where(
                tiers.c.tenant_id == tenant_id, one_of(dialect, tiers.c.id, tier_ids)
            )
        )
        tier_labels = {str(r.id): str(r.display_name) for r in rows}
    # The first event about a customer gets the lowest of its new versions.
    next_version = {cid: latest[cid] - n + 1 for cid, n in counts.items()}
    out: list[E] = []
    for event in events:
        if not isinstance(event, CustomerEvent) or not event.subject_id:
            out.append(event)
            continue
        cid = event.subject_id
        version = next_version[cid]
        next_version[cid] = version + 1
        customer = found.get(cid)
        snapshot = CustomerSnapshot(
            version=version,
            customer=customer,
            tag_labels={t: tag_labels.get(t, "") for t in customer.tags} if customer else {},
            tier_label=tier_labels.get(customer.tier_id, "") if customer else "",
        )
        out.append(replace(event, snapshot=snapshot))
    return out
