"""Other services' admin-relevant events, recorded in the audit log.

The event catalogue has two such events today: customer.merged and
customer.blacklisted. (rules publishes rule.fired and rule.action.*, which are
automation at work rather than admin actions, and no rule.created/changed
event exists yet: subscribe to it here once it does.)
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.api.timestamps import from_timestamp
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from identity.adapters.auth_repository import SqlAuditRepository
from identity.app.context import SYSTEM
from identity.domain.model import AuditEntry

CUSTOMER_ADMIN_EVENTS = Subscription(
    durable="identity-audit-customers",
    producer="customers",
    event_types=["customer.merged", "customer.blacklisted"],
)


def _trace_id(event: Event) -> str:
    parts = event.envelope.trace_context.get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 else ""


def audit_entry_for(event: Event) -> AuditEntry | None:
    payload = event.payload
    if isinstance(payload, customer_events_pb2.CustomerMerged):
        action, target, actor = "customers.merge", payload.customer, payload.actor
        after: dict[str, object] = {"merged_customers": list(payload.merged_customers)}
    elif isinstance(payload, customer_events_pb2.CustomerBlacklisted):
        action, target, actor = "customers.blacklist", payload.customer, payload.actor
        after = {"blacklisted": True, "reason": payload.reason}
    else:
        return None
    return AuditEntry(
        # The event id: a redelivered event (were the inbox ever bypassed)
        # cannot be recorded twice.
        id=event.event_id,
        tenant_id=event.tenant_id,
        actor=actor or SYSTEM,
        event_time=from_timestamp(event.envelope.occurred_time),
        action=action,
        target=target,
        after=after,
        trace_id=_trace_id(event),
    )


class AuditEventHandler:
    """Writes the audit entry inside the consumer's transaction (inbox included)."""

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        entry = audit_entry_for(event)
        if entry is not None:
            await SqlAuditRepository(session).add(entry)
