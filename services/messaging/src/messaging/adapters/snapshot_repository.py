"""The customer projection in SQL: one row per customer, its tags in a table of their own
(for the inbox's tag filter), and its owner and department copied onto its conversations
(for the data scope).

A consumer applies a batch of customer events at once: one read of what is held for all
its customers, one upsert of the newer snapshots, the tags rewritten only for customers
whose tags changed. The statements are built once with bound parameters (compiled once);
the ones touching a handful of rows by key run in the event loop on SQLite
(``in_the_loop``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.db.sqlite_one_trip import in_the_loop
from messaging.adapters.customer_copy_lock import copying_to
from messaging.adapters.tables import conversations, customer_snapshot_tags, customer_snapshots
from messaging.domain.conversation_projections import CustomerSnapshot

S = customer_snapshots.c
T = customer_snapshot_tags.c
C = conversations.c

# Each snapshot row with its tags (NULL when it has none), by customer then tag.
_HELD = in_the_loop(
    select(customer_snapshots, T.tag)
    .select_from(
        customer_snapshots.outerjoin(
            customer_snapshot_tags, and_(T.tenant_id == S.tenant_id, T.customer == S.customer)
        )
    )
    .where(
        S.tenant_id == bindparam("tenant_id"),
        S.customer.in_(bindparam("customers", expanding=True)),
    )
    .order_by(S.customer, T.tag)
)
_FIELDS = (
    "version",
    "display_name",
    "owner_member_id",
    "department_id",
    "tier",
    "tag_labels",
    "language",
    "blacklisted",
    "deleted",
    "updated_at",
)


def _upsert(module: Any) -> Any:
    statement = module.insert(customer_snapshots)
    return in_the_loop(
        statement.on_conflict_do_update(
            index_elements=[S.tenant_id, S.customer],
            set_={name: statement.excluded[name] for name in _FIELDS},
        )
    )


_UPSERTS = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}
_DROP_TAGS = in_the_loop(
    delete(customer_snapshot_tags).where(
        T.tenant_id == bindparam("tenant_id"),
        T.customer.in_(bindparam("customers", expanding=True)),
    )
)
_ADD_TAGS = in_the_loop(insert(customer_snapshot_tags))
# Writes only the conversations whose copy differs (none, mostly: no row rewritten).
_COPY_OWNER = in_the_loop(
    update(conversations)
    .where(
        C.tenant_id == bindparam("b_tenant"),
        C.customer == bindparam("b_customer"),
        or_(
            C.owner_member_id != bindparam("b_owner"), C.department_id != bindparam("b_department")
        ),
    )
    .values(owner_member_id=bindparam("b_owner"), department_id=bindparam("b_department"))
)


class SqlCustomerSnapshots:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._upsert = _UPSERTS[session.get_bind().dialect.name]

    async def get(self, tenant_id: str, customer: str) -> CustomerSnapshot | None:
        return (await self.get_many(tenant_id, [customer])).get(customer)

    async def get_many(
        self, tenant_id: str, customers: Sequence[str]
    ) -> dict[str, CustomerSnapshot]:
        if not customers:
            return {}
        rows = await self._session.execute(
            _HELD, {"tenant_id": tenant_id, "customers": list(customers)}
        )
        tags: dict[str, list[str]] = {}
        found: dict[str, Any] = {}
        for row in rows:
            found.setdefault(row.customer, row)
            held = tags.setdefault(row.customer, [])
            if row.tag is not None:
                held.append(row.tag)
        return {customer: _snapshot(row, tags[customer]) for customer, row in found.items()}

    async def put_many(
        self,
        tenant_id: str,
        snapshots: Sequence[CustomerSnapshot],
        held: Mapping[str, CustomerSnapshot],
        at: datetime,
    ) -> None:
        if not snapshots:
            return
        await copying_to(self._session, tenant_id, [s.customer for s in snapshots])
        await self._session.execute(self._upsert, [_row(tenant_id, s, at) for s in snapshots])
        retagged = [s for s in snapshots if _tags_changed(s, held.get(s.customer))]
        if retagged:
            await self._session.execute(
                _DROP_TAGS, {"tenant_id": tenant_id, "customers": [s.customer for s in retagged]}
            )
            new_tags = [
                {"tenant_id": tenant_id, "customer": s.customer, "tag": tag}
                for s in retagged
                for tag in sorted(set(s.tags))
            ]
            if new_tags:
                await self._session.execute(_ADD_TAGS, new_tags)
        await self._session.execute(
            _COPY_OWNER,
            [
                {
                    "b_tenant": tenant_id,
                    "b_customer": s.customer,
                    "b_owner": s.owner_member_id,
                    "b_department": s.department_id,
                }
                for s in snapshots
            ],
        )


def _tags_changed(snapshot: CustomerSnapshot, held: CustomerSnapshot | None) -> bool:
    """Whether the tag rows must be rewritten (one row per distinct tag)."""
    return set(snapshot.tags) != set(held.tags if held is not None else ())


def _row(tenant_id: str, snapshot: CustomerSnapshot, at: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "customer": snapshot.customer,
        "version": snapshot.version,
        "display_name": snapshot.display_name[:200],
        "owner_member_id": snapshot.owner_member_id,
        "department_id": snapshot.department_id,
        "tier": snapshot.tier[:100],
        "tag_labels": list(snapshot.tag_labels),
        "language": snapshot.language[:35],
        "blacklisted": snapshot.blacklisted,
        "deleted": snapshot.deleted,
        "updated_at": at,
    }


def _snapshot(row: Any, tags: Sequence[str]) -> CustomerSnapshot:
    return CustomerSnapshot(
        customer=row.customer,
        version=row.version,
        display_name=row.display_name,
        owner_member_id=row.owner_member_id,
        department_id=row.department_id,
        tier=row.tier,
        tags=tuple(tags),
        tag_labels=tuple(row.tag_labels),
        language=row.language,
        blacklisted=row.blacklisted,
        deleted=row.deleted,
    )
