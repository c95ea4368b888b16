"""A customer's timeline: written next to the event that tells the world, and read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from crosstalk_common.visibility import Visibility
from customers.app.lookup import visible_customer
from customers.app.ports import CustomerRepository, Emit, UnitOfWork
from customers.domain.events import CustomerEvent
from customers.domain.model import Customer, TimelineEntry

# The catalogue type of each event proto the timeline records (a CustomerEvent names its own).
_TYPES = {
    "CustomerCreated": "customer.created",
    "CustomerUpdated": "customer.updated",
    "CustomerTagged": "customer.tagged",
    "CustomerUntagged": "customer.untagged",
    "CustomerStageChanged": "customer.stage_changed",
    "CustomerBlacklisted": "customer.blacklisted",
    "CustomerScored": "customer.scored",
    "CustomerTierChanged": "customer.tier_changed",
    "OrderRecorded": "order.recorded",
    "CustomerMerged": "customer.merged",
}


async def record(
    customers: CustomerRepository,
    emit: Emit,
    customer: Customer,
    payload: Message | CustomerEvent,
    *,
    summary: str,
    actor: str,
    details: dict[str, object] | None = None,
    event_type: str = "",
) -> str:
    """Emit an event about a customer and add it to their timeline (same transaction)."""
    event_id = await emit(customer.tenant_id, payload)
    await customers.add_timeline(
        TimelineEntry(
            event_id=event_id,
            tenant_id=customer.tenant_id,
            customer_id=customer.id,
            type=event_type or _type_of(payload),
            occurred_at=utc_now(),
            summary=summary,
            actor=actor,
            resource=f"customers/{customer.id}",
            details=details or {},
        )
    )
    return event_id


def _type_of(payload: Message | CustomerEvent) -> str:
    if isinstance(payload, CustomerEvent):
        return payload.type
    return _TYPES[payload.DESCRIPTOR.name]


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
