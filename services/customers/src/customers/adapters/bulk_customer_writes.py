"""Set-based writes to many customers at once, for bulk operation jobs.

Each method is one statement (or a few), never one per customer, and
reports only what it actually changed: inserts skip rows that exist,
updates skip customers already in the wanted state. A batch done twice (a
job resumed after a crash) therefore changes nothing the second time.

A batch's customer ids travel as one JSON array parameter
(``adapters/id_lists.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    String,
    Table,
    and_,
    delete,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.db.bulk_insert import insert_rows
from crosstalk_common.db.scope import scope_clause
from crosstalk_common.db.write_gate import begin_writing, turns_asked, writers_waiting
from crosstalk_common.visibility import Visibility
from customers.adapters.id_lists import one_of
from customers.adapters.repository import timeline_row
from customers.adapters.score_arithmetic import score_plus
from customers.adapters.tables import customer_tags, customers, score_changes, timeline
from customers.domain.model import ScoreChange, TimelineEntry


class SqlBulkCustomerWrites:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @property
    def _postgres(self) -> bool:
        return bool(self._session.get_bind().dialect.name == "postgresql")

    async def begin(self) -> None:
        await begin_writing(self._session)

    def turns_asked(self) -> int:
        return turns_asked(self._session)

    def writers_waiting(self) -> int:
        return writers_waiting(self._session)

    def _insert_skipping_existing(self, table: Table) -> Insert:
        """INSERT ... ON CONFLICT DO NOTHING, in the session's SQL dialect."""
        if self._postgres:
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()

    def _among(self, column: ColumnElement[str], ids: Collection[str]) -> ColumnElement[bool]:
        return one_of(self._session.get_bind().dialect, column, ids)

    async def _insert_new(
        self, table: Table, rows: Sequence[dict[str, Any]], *returning: Any
    ) -> list[Any]:
        """Insert the rows that do not exist yet; returns ``returning`` of those inserted."""
        if not rows:
            return []
        statement = self._insert_skipping_existing(table).returning(*returning)
        return list((await self._session.execute(statement, list(rows))).all())

    async def visible_ids(
        self, tenant_id: str, visibility: Visibility, customer_ids: Sequence[str]
    ) -> set[str]:
        if not customer_ids:
            return set()
        found = await self._session.scalars(
            select(customers.c.id).where(
                customers.c.tenant_id == tenant_id,
                self._among(customers.c.id, customer_ids),
                scope_clause(
                    visibility,
                    owner=customers.c.owner_member_id,
                    department=customers.c.department_id,
                ),
            )
        )
        return set(found.all())

    async def add_tags(
        self, tenant_id: str, customer_ids: Sequence[str], tag_ids: Sequence[str], *, now: datetime
    ) -> list[tuple[str, str]]:
        if not customer_ids:
            return []
        c = customer_tags.c
        added: list[tuple[str, str]] = []
        for tag_id in tag_ids:
            # INSERT ... SELECT: one statement per tag, the rows built by the database.
            rows = select(
                customers.c.id,
                customers.c.tenant_id,
                literal(tag_id, String),
                literal(now, customer_tags.c.created_at.type),
            ).where(customers.c.tenant_id == tenant_id, self._among(customers.c.id, customer_ids))
            # In key order: each page of the (customer_id, tag) key and of the
            # customers key it checks is visited once, not once per row.
            rows = rows.order_by(customers.c.id)
            statement = (
                self._insert_skipping_existing(customer_tags)
                .from_select([c.customer_id, c.tenant_id, c.tag, c.created_at], rows)
                .returning(c.customer_id)
            )
            inserted = await self._session.scalars(statement)
            added.extend((customer_id, tag_id) for customer_id in inserted)
        return added

    async def remove_tags(
        self, tenant_id: str, customer_ids: Sequence[str], tag_ids: Collection[str]
    ) -> list[tuple[str, str]]:
        if not customer_ids or not tag_ids:
            return []
        c = customer_tags.c
        removed = await self._session.execute(
            delete(customer_tags)
            .where(
                c.tenant_id == tenant_id,
                self._among(c.customer_id, customer_ids),
                c.tag.in_(sorted(tag_ids)),
            )
            .returning(c.customer_id, c.tag)
        )
        return [(r.customer_id, r.tag) for r in removed]

    async def touch(self, tenant_id: str, customer_ids: Collection[str], *, now: datetime) -> None:
        if customer_ids:
            await self._session.execute(
                update(customers)
                .where(
                    customers.c.tenant_id == tenant_id, self._among(customers.c.id, customer_ids)
                )
                .values(version=customers.c.version + 1, updated_at=now)
            )

    async def adjust_scores(
        self, changes: Sequence[ScoreChange], *, now: datetime
    ) -> dict[str, int]:
        if not changes:
            return {}
        first = changes[0]
        tenant_id, delta, request_id = first.tenant_id, first.delta, first.request_id
        # The history row first: its unique (tenant, customer, request_id) key
        # decides, even between two workers, which customers get the delta.
        rows = [
            {
                "id": ch.id,
                "tenant_id": ch.tenant_id,
                "customer_id": ch.customer_id,
                "delta": ch.delta,
                "score": 0,  # set below, once the customer's score has changed
                "reason": ch.reason,
                "source": ch.source,
                "cause_event_id": ch.cause_event_id,
                "request_id": ch.request_id,
                "created_at": ch.created_at,
            }
            for ch in changes
        ]
        fresh = sorted(
            r.customer_id
            for r in await self._insert_new(score_changes, rows, score_changes.c.customer_id)
        )
        if not fresh:
            return {}
        updated = await self._session.execute(
            update(customers)
            .where(customers.c.tenant_id == tenant_id, self._among(customers.c.id, fresh))
            .values(score=score_plus(delta), version=customers.c.version + 1, updated_at=now)
            .returning(customers.c.id, customers.c.score)
        )
        scores = {r.id: int(r.score) for r in updated}
        s = score_changes.c
        await self._session.execute(
            update(score_changes)
            .where(
                s.tenant_id == tenant_id,
                s.request_id == request_id,
                self._among(s.customer_id, fresh),
            )
            .values(
                score=select(customers.c.score)
                .where(customers.c.id == s.customer_id)
                .scalar_subquery()
            )
        )
        return scores

    async def blacklist(
        self, tenant_id: str, customer_ids: Collection[str], reason: str, *, now: datetime
    ) -> list[str]:
        if not customer_ids:
            return []
        c = customers.c
        changed = await self._session.scalars(
            update(customers)
            .where(
                c.tenant_id == tenant_id,
                self._among(c.id, customer_ids),
                c.blacklisted.is_(False),
            )
            .values(
                blacklisted=True,
                blacklist_reason=reason,
                blacklist_time=now,
                version=c.version + 1,
                updated_at=now,
            )
            .returning(c.id)
        )
        return list(changed.all())

    async def assign_owner(
        self,
        tenant_id: str,
        customer_ids: Collection[str],
        owner_member_id: str,
        department_id: str,
        *,
        now: datetime,
    ) -> dict[str, str]:
        if not customer_ids:
            return {}
        c = customers.c
        values: dict[str, Any] = {
            "owner_member_id": owner_member_id,
            "version": c.version + 1,
            "updated_at": now,
        }
        differs = c.owner_member_id != owner_member_id
        if department_id:
            values["department_id"] = department_id
            differs = or_(differs, c.department_id != department_id)
        changed = await self._session.execute(
            update(customers)
            .where(and_(c.tenant_id == tenant_id, self._among(c.id, customer_ids), differs))
            .values(**values)
            .returning(c.id, c.department_id)
        )
        return {r.id: r.department_id for r in changed}

    async def add_timeline(self, entries: Sequence[TimelineEntry]) -> None:
        """All rows at once (``bulk_insert``); entries sharing one details dict (a
        batch's changes that say the same) have it serialized once."""
        await insert_rows(self._session, timeline, [timeline_row(e) for e in entries])
