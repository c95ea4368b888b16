"""Events customers reacts to: actions requested by rules."""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk.events.v1 import customer_events_pb2, rule_events_pb2
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.db.outbox import stage_event
from customers.adapters.repository import SqlCustomerRepository
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
        customer_id = parse_customer_name(action.customer, field="customer")
        repo = SqlCustomerRepository(session)
        if await repo.get(event.tenant_id, customer_id) is None:
            return  # deleted since the rule fired: nothing to tag
        added = await repo.add_tags(
            event.tenant_id, customer_id, normalize_tags(list(action.tags), field_name="tags")
        )
        if added:
            await stage_event(
                session,
                self._outbox,
                event.tenant_id,
                customer_events_pb2.CustomerTagged(
                    customer=action.customer, tags=sorted(added), cause_event_id=event.event_id
                ),
            )
