"""A customer's timeline: written next to the event that tells the world, and read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.lookup import visible_customer
from customers.app.ports import CustomerRepository, Emit, UnitOfWork
from customers.domain.events import CustomerEvent
from customers.domain.model import Customer, TimelineEntry


async def record(
    customers: CustomerRepository,
    emit: Emit,
    customer: Customer,
    payload: CustomerEvent,
    *,
    summary: str,
    actor: str,
    details: dict[str, object] | None = None,
) -> str:
    """Emit an event about a customer and add it to their timeline (same transaction)."""
    event_id = await emit(customer.tenant_id, payload)
    await customers.add_timeline(
        timeline_entry(customer, event_id, payload, summary=summary, actor=actor, details=details)
    )
    return event_id


def timeline_entry(
    customer: Customer,
    event_id: str,
    payload: CustomerEvent,
    *,
    summary: str,
    actor: str,
    details: dict[str, object] | None = None,
) -> TimelineEntry:
    """The timeline's row for an event about a customer (``record`` writes it at
    once; a batch writes many in one statement)."""
    return TimelineEntry(
        event_id=event_id,
        tenant_id=customer.tenant_id,
        customer_id=customer.id,
        type=payload.type,
        occurred_at=utc_now(),
        summary=summary,
        actor=actor,
        resource=f"customers/{customer.id}",
        details=details or {},
    )


@dataclass(frozen=True)
class Timeline:
    """ListTimelineEvents: what happened to one customer, a page at a time."""

    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def timeline(
        self,
        tenant_id: str,
        visibility: Visibility,
        customer_id: str,
        *,
        types: list[str],
        start: datetime | None,
        end: datetime | None,
        after: list[str],
        limit: int,
    ) -> list[TimelineEntry]:
        async with self.new_uow() as uow:
            await visible_customer(uow, tenant_id, visibility, customer_id)
            return await uow.customers.timeline(
                tenant_id, customer_id, types=types, start=start, end=end, after=after, limit=limit
            )
