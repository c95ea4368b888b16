"""Reporting's counts and customer owners in SQL, always filtered by tenant."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.db.scope import scope_clause
from crosstalk_common.visibility import Visibility
from reporting.adapters.tables import customer_owners as owners
from reporting.adapters.tables import daily_event_counts as counts
from reporting.domain.counting import NOBODY, CountKey, Owner


def _insert(session: AsyncSession) -> Any:
    """INSERT with ON CONFLICT, in the session's dialect."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _visible(visibility: Visibility) -> Any:
    return scope_clause(
        visibility, owner=counts.c.owner_member_id, department=counts.c.department_id
    )


class SqlEventCounts:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_one(self, key: CountKey) -> None:
        stmt = _insert(self._session)(counts).values(
            tenant_id=key.tenant_id,
            event_type=key.event_type,
            day=key.day,
            owner_member_id=key.owner.member_id,
            department_id=key.owner.department_id,
            count=1,
        )
        await self._session.execute(
            stmt.on_conflict_do_update(
                index_elements=[
                    counts.c.tenant_id,
                    counts.c.event_type,
                    counts.c.day,
                    counts.c.owner_member_id,
                    counts.c.department_id,
                ],
                set_={"count": counts.c.count + 1},
            )
        )

    async def daily(
        self, tenant_id: str, visibility: Visibility, event_type: str, start: date, end: date
    ) -> list[tuple[date, int]]:
        rows = await self._session.execute(
            select(counts.c.day, func.sum(counts.c.count))
            .where(
                counts.c.tenant_id == tenant_id,
                counts.c.event_type == event_type,
                counts.c.day >= start,
                counts.c.day <= end,
                _visible(visibility),
            )
            .group_by(counts.c.day)
            .order_by(counts.c.day)
        )
        return [(r[0], int(r[1])) for r in rows]

    async def totals(self, tenant_id: str, visibility: Visibility) -> dict[str, int]:
        rows = await self._session.execute(
            select(counts.c.event_type, func.sum(counts.c.count))
            .where(counts.c.tenant_id == tenant_id, _visible(visibility))
            .group_by(counts.c.event_type)
        )
        return {r[0]: int(r[1]) for r in rows}


class SqlCustomerOwners:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def remember(self, tenant_id: str, customer: str, owner: Owner) -> None:
        values = {"owner_member_id": owner.member_id, "department_id": owner.department_id}
        stmt = _insert(self._session)(owners).values(
            tenant_id=tenant_id, customer=customer, **values
        )
        await self._session.execute(
            stmt.on_conflict_do_update(
                index_elements=[owners.c.tenant_id, owners.c.customer], set_=values
            )
        )

    async def owner_of(self, tenant_id: str, customer: str) -> Owner:
        row = (
            await self._session.execute(
                select(owners.c.owner_member_id, owners.c.department_id).where(
                    owners.c.tenant_id == tenant_id, owners.c.customer == customer
                )
            )
        ).first()
        return NOBODY if row is None else Owner(str(row[0]), str(row[1]))
