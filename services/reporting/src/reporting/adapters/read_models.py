"""Folding events into daily counts, and reading them back within a caller's scope."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.envelope import Event
from crosstalk_common.clock import as_utc
from crosstalk_common.db.scope import scope_clause
from crosstalk_common.visibility import Visibility
from reporting.adapters.tables import customer_owners as owners
from reporting.adapters.tables import daily_event_counts as counts


def _insert(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _customer_of(event: Event) -> str:
    """The customer an event is about, when its payload names one."""
    if "customer" not in event.payload.DESCRIPTOR.fields_by_name:
        return ""
    return str(getattr(event.payload, "customer"))  # noqa: B009 - a proto field


async def _remember_owner(session: AsyncSession, event: Event) -> None:
    created = event.payload
    assert isinstance(created, customer_events_pb2.CustomerCreated)
    values = {
        "owner_member_id": created.owner.removeprefix("members/"),
        "department_id": created.department.removeprefix("departments/"),
    }
    stmt = _insert(session)(owners).values(
        tenant_id=event.tenant_id, customer=created.customer, **values
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[owners.c.tenant_id, owners.c.customer], set_=values
        )
    )


async def _owner_of(session: AsyncSession, tenant_id: str, customer: str) -> tuple[str, str]:
    if not customer:
        return "", ""
    row = (
        await session.execute(
            select(owners.c.owner_member_id, owners.c.department_id).where(
                owners.c.tenant_id == tenant_id, owners.c.customer == customer
            )
        )
    ).first()
    return ("", "") if row is None else (str(row[0]), str(row[1]))


async def count_event(session: AsyncSession, event: Event) -> None:
    """+1 for the event's type on its day, under the owner and department of its
    customer as known when it is folded (runs in the consumer's transaction)."""
    if event.type == "customer.created":
        await _remember_owner(session, event)
    owner, department = await _owner_of(session, event.tenant_id, _customer_of(event))
    day = as_utc(event.envelope.occurred_time.ToDatetime()).date()
    stmt = _insert(session)(counts).values(
        tenant_id=event.tenant_id,
        event_type=event.type,
        day=day,
        owner_member_id=owner,
        department_id=department,
        count=1,
    )
    await session.execute(
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


def _visible(visibility: Visibility) -> Any:
    return scope_clause(
        visibility, owner=counts.c.owner_member_id, department=counts.c.department_id
    )


class SqlReadModels:
    """Reads the counts; each call uses its own short session."""

    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions

    async def daily(
        self, tenant_id: str, visibility: Visibility, event_type: str, start: date, end: date
    ) -> list[tuple[date, int]]:
        async with self._sessions() as session:
            rows = await session.execute(
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
        async with self._sessions() as session:
            rows = await session.execute(
                select(counts.c.event_type, func.sum(counts.c.count))
                .where(counts.c.tenant_id == tenant_id, _visible(visibility))
                .group_by(counts.c.event_type)
            )
        return {r[0]: int(r[1]) for r in rows}
