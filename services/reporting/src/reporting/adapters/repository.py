"""Reporting's counts and customer owners in SQL, always filtered by tenant."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.db.scope import scope_clause
from crosstalk_common.visibility import Visibility
from reporting.adapters.tables import customer_owners as owners
from reporting.adapters.tables import daily_event_counts as counts
from reporting.domain.counting import CountKey, CustomerRef, Owner


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _adding(insert: Any) -> Any:
    """+count to a key's row, or the row with count when there is none."""
    stmt = insert(counts)
    return stmt.on_conflict_do_update(
        index_elements=[
            counts.c.tenant_id,
            counts.c.event_type,
            counts.c.day,
            counts.c.owner_member_id,
            counts.c.department_id,
        ],
        set_={"count": counts.c.count + stmt.excluded.count},
    )


def _remembering(insert: Any) -> Any:
    """A customer's owner, replacing the one known before."""
    stmt = insert(owners)
    return stmt.on_conflict_do_update(
        index_elements=[owners.c.tenant_id, owners.c.customer],
        set_={
            "owner_member_id": stmt.excluded.owner_member_id,
            "department_id": stmt.excluded.department_id,
        },
    )


# Built once: each is run with the list of rows (executemany), the same text every time.
_ADD_STATEMENTS = {"postgresql": _adding(postgresql.insert), "sqlite": _adding(sqlite.insert)}
_REMEMBER_STATEMENTS = {
    "postgresql": _remembering(postgresql.insert),
    "sqlite": _remembering(sqlite.insert),
}


def _in_key_order(item: tuple[CountKey, int]) -> tuple[str, str, date, str, str]:
    key = item[0]
    return (key.tenant_id, key.event_type, key.day, key.owner.member_id, key.owner.department_id)


def _visible(visibility: Visibility) -> Any:
    return scope_clause(
        visibility, owner=counts.c.owner_member_id, department=counts.c.department_id
    )


class SqlEventCounts:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, counts: Mapping[CountKey, int]) -> None:
        """One upsert run for all the keys (executemany), in key order so two
        transactions adding to the same rows lock them in the same order."""
        if not counts:
            return
        rows = [
            {
                "tenant_id": key.tenant_id,
                "event_type": key.event_type,
                "day": key.day,
                "owner_member_id": key.owner.member_id,
                "department_id": key.owner.department_id,
                "count": n,
            }
            for key, n in sorted(counts.items(), key=_in_key_order)
        ]
        await self._session.execute(_ADD_STATEMENTS[_dialect(self._session)], rows)

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

    async def remember(self, owners: Mapping[CustomerRef, Owner]) -> None:
        if not owners:
            return
        rows = [
            {
                "tenant_id": tenant_id,
                "customer": customer,
                "owner_member_id": owner.member_id,
                "department_id": owner.department_id,
            }
            for (tenant_id, customer), owner in sorted(owners.items())
        ]
        await self._session.execute(_REMEMBER_STATEMENTS[_dialect(self._session)], rows)

    async def owners_of(self, customers: Collection[CustomerRef]) -> dict[CustomerRef, Owner]:
        if not customers:
            return {}
        rows = await self._session.execute(
            select(
                owners.c.tenant_id,
                owners.c.customer,
                owners.c.owner_member_id,
                owners.c.department_id,
            ).where(tuple_(owners.c.tenant_id, owners.c.customer).in_(list(customers)))
        )
        return {(r[0], r[1]): Owner(str(r[2]), str(r[3])) for r in rows}
