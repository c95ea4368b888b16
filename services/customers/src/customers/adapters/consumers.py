"""Events customers reacts to: actions requested by rules."""

from __future__ import annotations

from google.protobuf.message import Message
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk.events.v1 import rule_events_pb2
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.db.outbox import stage_event
from customers.adapters.repository import SqlCustomerRepository
from customers.adapters.tag_repository import SqlTagRepository
from customers.app.tags import change_tags, resolve_display_names
from customers.app.use_cases import parse_customer_name
from customers.domain.model import normalize_tags

RULE_ACTIONS = Subscription(
    durable="customers-rule-actions", producer="rules", event_types=["rule.action.tag"]
)


class RuleActionHandler:
    """Applies rule.action.* to customers; runs inside the consumer's transaction."""

    def __init__(self, outbox: Table) -> None:
        self._outbox = outbox

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        payload = event.payload
        if isinstance(payload, rule_events_pb2.RuleActionTagRequested):
            await self._tag(session, event, payload)

    async def _tag(
        self, session: AsyncSession, event: Event, action: rule_events_pb2.RuleActionTagRequested
    ) -> None:
        """Rules name tags by display name (free text): each is resolved to the
        tenant's tag of that name, created in the "Automation" group when missing."""
        customer_id = parse_customer_name(action.customer, field="customer")
        customers = SqlCustomerRepository(session)
        customer = await customers.get(event.tenant_id, customer_id)
        if customer is None:
            return  # deleted since the rule fired: nothing to tag
        names = normalize_tags(list(action.tags), field_name="tags")
        tags = SqlTagRepository(session)
        resolved = await resolve_display_names(tags, event.tenant_id, sorted(names))

        async def emit(tenant_id: str, payload: Message) -> str:
            return await stage_event(session, self._outbox, tenant_id, payload)

        await change_tags(
            customers,
            tags,
            emit,
            customer,
            add=resolved,
            actor=action.rule or "system",
            cause_event_id=event.event_id,
            last_of_exclusive_wins=True,
        )
