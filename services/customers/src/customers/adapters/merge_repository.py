"""MergeRepository in SQL, always filtered by tenant: moving rows between
customers, and the grouping queries behind duplicate suggestions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, exists, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.db.scope import scope_clause
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from customers.adapters.score_arithmetic import score_plus
from customers.adapters.tables import (
    customer_contact_keys,
    customer_identities,
    customer_merges,
    customer_tags,
    customers,
    lifecycle_changes,
    orders,
    points_entries,
    score_changes,
    score_rule_awards,
    timeline,
)
from customers.domain.duplicates import MAX_GROUP_SIZE, Candidate, ContactKey, MemberProfile
from customers.domain.merging import MergeRecord, OrderSummary
from customers.domain.model import NANOS

keys = customer_contact_keys

# Rows that simply change hands: their customer_id is all that ties them.
_PLAIN_CHILDREN = (customer_identities, lifecycle_changes, timeline, orders)
# Rows unique per customer and request_id: a request_id both customers used
# stays on one row only (the kept customer's, else the first duplicate's).
_REQUEST_CHILDREN = (score_changes, points_entries)


class SqlMergeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- merging --------------------------------------------------------------

    async def target_for_request(self, tenant_id: str, request_id: str) -> str | None:
        found = await self._session.scalar(
            select(customer_merges.c.target_id)
            .where(
                customer_merges.c.tenant_id == tenant_id,
                customer_merges.c.request_id == request_id,
            )
            .limit(1)
        )
        return None if found is None else str(found)

    async def move_rows(self, tenant_id: str, from_ids: list[str], to_id: str) -> None:
        """Every row of the merged customers (identities, history, orders, timeline,
        score rule awards, earlier merges into them) now belongs to ``to_id``."""
        involved = [to_id, *from_ids]
        for t in _REQUEST_CHILDREN:
            await self._free_request_ids(t, tenant_id, involved)
        await self._drop_double_awards(tenant_id, involved)
        for t in (*_PLAIN_CHILDREN, *_REQUEST_CHILDREN, score_rule_awards):
            await self._session.execute(
                update(t)
                .where(t.c.tenant_id == tenant_id, t.c.customer_id.in_(from_ids))
                .values(customer_id=to_id)
            )
        await self._session.execute(
            update(customer_merges)
            .where(
                customer_merges.c.tenant_id == tenant_id,
                customer_merges.c.target_id.in_(from_ids),
            )
            .values(target_id=to_id)
        )

    async def _free_request_ids(self, t: Table, tenant_id: str, involved: list[str]) -> None:
        mine = [t.c.tenant_id == tenant_id, t.c.customer_id.in_(involved)]
        repeated = (
            select(t.c.request_id)
            .where(*mine, t.c.request_id.is_not(None))
            .group_by(t.c.request_id)
            .having(func.count() > 1)
        )
        rows = await self._session.execute(
            select(t.c.id, t.c.customer_id, t.c.request_id).where(
                *mine, t.c.request_id.in_(repeated)
            )
        )
        drop = _all_but_one(((r.request_id, r.customer_id, r.id) for r in rows), involved)
        if drop:
            await self._session.execute(update(t).where(t.c.id.in_(drop)).values(request_id=None))

    async def _drop_double_awards(self, tenant_id: str, involved: list[str]) -> None:
        """An award for the same rule and event on two of them is kept once."""
        t = score_rule_awards
        mine = [t.c.tenant_id == tenant_id, t.c.customer_id.in_(involved)]
        repeated = (
            select(t.c.rule_id, t.c.event_id)
            .where(*mine)
            .group_by(t.c.rule_id, t.c.event_id)
            .having(func.count() > 1)
        )
        rows = await self._session.execute(
            select(t.c.id, t.c.customer_id, t.c.rule_id, t.c.event_id).where(
                *mine, tuple_(t.c.rule_id, t.c.event_id).in_(repeated)
            )
        )
        drop = _all_but_one(
            (((r.rule_id, r.event_id), r.customer_id, r.id) for r in rows), involved
        )
        if drop:
            await self._session.execute(delete(t).where(t.c.id.in_(drop)))

    async def replace_tags(
        self, tenant_id: str, customer_id: str, tags: frozenset[str], *, now: datetime
    ) -> None:
        t = customer_tags
        mine = [t.c.tenant_id == tenant_id, t.c.customer_id == customer_id]
        have = set((await self._session.scalars(select(t.c.tag).where(*mine))).all())
        if have - tags:
            await self._session.execute(delete(t).where(*mine, t.c.tag.in_(sorted(have - tags))))
        if tags - have:
            await self._session.execute(
                insert(t),
                [
                    {
                        "customer_id": customer_id,
                        "tenant_id": tenant_id,
                        "tag": tag,
                        "created_at": now,
                    }
                    for tag in sorted(tags - have)
                ],
            )

    async def add_balances(
        self, tenant_id: str, customer_id: str, *, score: int, points: int
    ) -> None:
        await self._session.execute(
            update(customers)
            .where(customers.c.tenant_id == tenant_id, customers.c.id == customer_id)
            .values(
                score=score_plus(score),
                points_balance=customers.c.points_balance + points,
            )
        )

    async def order_summary(self, tenant_id: str, customer_id: str) -> OrderSummary:
        o = orders
        rows = (
            await self._session.execute(
                select(
                    o.c.currency,
                    func.count().label("n"),
                    func.sum(o.c.amount_units).label("units"),
                    func.sum(o.c.amount_nanos).label("nanos"),
                    func.min(o.c.created_at).label("first"),
                    func.max(o.c.order_time).label("last"),
                )
                .where(o.c.tenant_id == tenant_id, o.c.customer_id == customer_id)
                .group_by(o.c.currency)
            )
        ).all()
        rows = sorted(rows, key=lambda r: (as_utc(r.first), r.currency))
        return OrderSummary(
            count=sum(int(r.n) for r in rows),
            last_order_time=max((as_utc(r.last) for r in rows), default=None),
            value_by_currency={
                r.currency: int(r.units or 0) * NANOS + int(r.nanos or 0) for r in rows
            },
        )

    async def add_records(self, records: list[MergeRecord]) -> None:
        if records:
            await self._session.execute(
                insert(customer_merges),
                [
                    {
                        "id": r.id,
                        "tenant_id": r.tenant_id,
                        "target_id": r.target_id,
                        "merged_id": r.merged_id,
                        "merged_display_name": r.merged_display_name,
                        "actor": r.actor,
                        "request_id": r.request_id or None,
                        "created_at": r.created_at,
                    }
                    for r in records
                ],
            )

    # --- duplicate suggestions ------------------------------------------------

    async def candidates(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        customer_id: str,
        after: list[str],
        limit: int,
    ) -> list[Candidate]:
        """Contact keys held by 2..MAX_GROUP_SIZE customers in scope, in (kind, value)
        order after the cursor, each with those customers."""
        where = [keys.c.tenant_id == tenant_id]
        if customer_id:
            theirs = keys.alias("theirs")
            where.append(
                exists().where(
                    theirs.c.customer_id == customer_id,
                    theirs.c.kind == keys.c.kind,
                    theirs.c.value == keys.c.value,
                )
            )
        if after:
            where.append(past([keys.c.kind, keys.c.value], after))
        shared = (
            await self._session.execute(
                _in_scope(select(keys.c.kind, keys.c.value), visibility)
                .where(*where)
                .group_by(keys.c.kind, keys.c.value)
                .having(func.count().between(2, MAX_GROUP_SIZE))
                .order_by(keys.c.kind, keys.c.value)
                .limit(limit)
            )
        ).all()
        if not shared:
            return []
        wanted = [(r.kind, r.value) for r in shared]
        members: dict[ContactKey, list[str]] = defaultdict(list)
        rows = await self._session.execute(
            _in_scope(select(keys.c.kind, keys.c.value, keys.c.customer_id), visibility).where(
                keys.c.tenant_id == tenant_id, tuple_(keys.c.kind, keys.c.value).in_(wanted)
            )
        )
        for r in rows:
            members[(r.kind, r.value)].append(r.customer_id)
        return [
            Candidate(key, tuple(sorted(members[key]))) for key in wanted if len(members[key]) >= 2
        ]

    async def keys_of(
        self, tenant_id: str, customer_ids: set[str]
    ) -> dict[str, frozenset[ContactKey]]:
        found: dict[str, set[ContactKey]] = defaultdict(set)
        if customer_ids:
            rows = await self._session.execute(
                select(keys.c.customer_id, keys.c.kind, keys.c.value).where(
                    keys.c.tenant_id == tenant_id, keys.c.customer_id.in_(sorted(customer_ids))
                )
            )
            for r in rows:
                found[r.customer_id].add((r.kind, r.value))
        return {customer_id: frozenset(held) for customer_id, held in found.items()}

    async def holders(
        self, tenant_id: str, visibility: Visibility, wanted: set[ContactKey]
    ) -> dict[ContactKey, int]:
        if not wanted:
            return {}
        rows = await self._session.execute(
            _in_scope(select(keys.c.kind, keys.c.value, func.count().label("n")), visibility)
            .where(
                keys.c.tenant_id == tenant_id,
                tuple_(keys.c.kind, keys.c.value).in_(sorted(wanted)),
            )
            .group_by(keys.c.kind, keys.c.value)
        )
        return {(r.kind, r.value): int(r.n) for r in rows}

    async def profiles(self, tenant_id: str, customer_ids: set[str]) -> dict[str, MemberProfile]:
        if not customer_ids:
            return {}
        c = customers.c
        rows = await self._session.execute(
            select(customers).where(c.tenant_id == tenant_id, c.id.in_(sorted(customer_ids)))
        )
        return {
            r.id: MemberProfile(
                customer_id=r.id,
                created_at=as_utc(r.created_at),
                values={
                    name: getattr(r, name)
                    for name in (
                        "emails",
                        "phones",
                        "country",
                        "language",
                        "time_zone",
                        "owner_member_id",
                        "department_id",
                        "lifecycle_stage",
                        "tier_id",
                        "custom_fields",
                        "score",
                        "points_balance",
                        "order_count",
                        "last_active_at",
                    )
                },
            )
            for r in rows
        }


def _in_scope(query: Select[Any], visibility: Visibility) -> Select[Any]:
    """Only keys of customers the caller sees (no join needed for scope ALL)."""
    if visibility.scope is DataScope.ALL:
        return query.select_from(keys)
    visible: ColumnElement[bool] = scope_clause(
        visibility, owner=customers.c.owner_member_id, department=customers.c.department_id
    )
    return query.select_from(keys.join(customers, customers.c.id == keys.c.customer_id)).where(
        visible
    )


def _all_but_one(rows: Iterable[tuple[object, str, str]], involved: list[str]) -> list[str]:
    """Of the rows sharing a key, the ids of all but the one whose customer comes
    first in ``involved`` (the kept customer first)."""
    rank = {customer_id: i for i, customer_id in enumerate(involved)}
    grouped: dict[object, list[tuple[int, str]]] = defaultdict(list)
    for key, customer_id, row_id in rows:
        grouped[key].append((rank[customer_id], row_id))
    return [row_id for group in grouped.values() for _, row_id in sorted(group)[1:]]
