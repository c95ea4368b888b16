"""Folding events into daily counts, and reading them back."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk_common.bus.envelope import Event
from crosstalk_common.clock import as_utc
from reporting.adapters.tables import daily_event_counts as counts


async def count_event(session: AsyncSession, event: Event) -> None:
    """+1 for the event's type on the day it occurred (runs in the consumer's transaction)."""
    day = as_utc(event.envelope.occurred_time.ToDatetime()).date()
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(counts).values(tenant_id=event.tenant_id, event_type=event.type, day=day, count=1)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[counts.c.tenant_id, counts.c.event_type, counts.c.day],
            set_={"count": counts.c.count + 1},
        )
    )


class SqlReadModels:
    """Reads the counts; each call uses its own short session."""

    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def daily(
        self, tenant_id: str, event_type: str, start: date, end: date
    ) -> list[tuple[date, int]]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(counts.c.day, counts.c.count)
                .where(
                    counts.c.tenant_id == tenant_id,
                    counts.c.event_type == event_type,
                    counts.c.day >= start,
                    counts.c.day <= end,
                )
                .order_by(counts.c.day)
            )
        return [(r.day, int(r.count)) for r in rows]

    async def totals(self, tenant_id: str) -> dict[str, int]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(counts.c.event_type, func.sum(counts.c.count))
                .where(counts.c.tenant_id == tenant_id)
                .group_by(counts.c.event_type)
            )
        return {r[0]: int(r[1]) for r in rows}
