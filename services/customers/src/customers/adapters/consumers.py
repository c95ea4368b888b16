"""Events customers reacts to: rule actions, messages from customers, tenant limits.

Each handler runs inside the consumer's transaction (which also records the
event in the inbox, so a redelivered event is skipped); the use cases run in
a unit of work joined to it, so their rows, timeline and events commit with it.
"""

from __future__ import annotations

import logging

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk.common.v1 import lifecycle_stage_pb2
from crosstalk.events.v1 import identity_events_pb2, messaging_events_pb2, rule_events_pb2
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.api.timestamps import from_timestamp
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.errors import InvalidArgument, NotFound
from crosstalk_common.visibility import Visibility
from customers.adapters.mapping import stage_from_pb
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.activity import CustomerActivity
from customers.app.tags import change_tags, resolve_display_names
from customers.app.use_cases import CustomerService
from customers.domain.model import normalize_tags

log = logging.getLogger(__name__)

RULE_ACTIONS = Subscription(
    durable="customers-rule-actions",
    producer="rules",
    event_types=["rule.action.tag", "rule.action.untag", "rule.action.score", "rule.action.stage"],
)
MESSAGES = Subscription(
    durable="customers-messages", producer="messaging", event_types=["message.received"]
)
TENANT_SETTINGS = Subscription(
    durable="customers-tenant-settings",
    producer="identity",
    event_types=["tenant.settings_changed"],
)

_SYSTEM = Visibility.everything()


class _Joined:
    """Use cases bound to one consumer transaction."""

    def __init__(self, session: AsyncSession, outbox: Table) -> None:
        self._session = session
        self._outbox = outbox
        self.customers = CustomerService(self.uow)

    def uow(self) -> CustomersUnitOfWork:
        return CustomersUnitOfWork.joining(self._session, self._outbox)


class RuleActionHandler:
    """Applies rule.action.tag/untag/score/stage to customers.

    A customer deleted since the rule fired, or an action the customers
    service refuses (a score change out of bounds), is logged and skipped:
    retrying would never succeed.
    """

    def __init__(self, outbox: Table) -> None:
        self._outbox = outbox

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        joined = _Joined(session, self._outbox)
        payload = event.payload
        try:
            if isinstance(payload, rule_events_pb2.RuleActionTagRequested):
                await self._tag(joined, event, payload)
            elif isinstance(payload, rule_events_pb2.RuleActionUntagRequested):
                await self._untag(joined, event, payload)
            elif isinstance(payload, rule_events_pb2.RuleActionScoreRequested):
                await joined.customers.adjust_score(
                    event.tenant_id,
                    _SYSTEM,
                    resource_id(payload.customer, "customers", field="customer"),
                    payload.delta,
                    payload.reason or f"rule {payload.rule}",
                    actor=payload.rule or "system",
                    cause_event_id=event.event_id,
                )
            elif isinstance(payload, rule_events_pb2.RuleActionStageRequested):
                if payload.stage == lifecycle_stage_pb2.LIFECYCLE_STAGE_UNSPECIFIED:
                    return
                await joined.customers.set_lifecycle_stage(
                    event.tenant_id,
                    _SYSTEM,
                    resource_id(payload.customer, "customers", field="customer"),
                    stage_from_pb(payload.stage, field="stage"),
                    f"rule {payload.rule}" if payload.rule else "",
                    actor=payload.rule or "system",
                    cause_event_id=event.event_id,
                )
        except (NotFound, InvalidArgument) as exc:
            log.warning("skipping %s %s: %s", event.type, event.event_id, exc)

    async def _tag(
        self, joined: _Joined, event: Event, action: rule_events_pb2.RuleActionTagRequested
    ) -> None:
        """Rules name tags by display name (free text): each is resolved to the
        tenant's tag of that name, created in the "Automation" group when missing."""
        customer_id = resource_id(action.customer, "customers", field="customer")
        async with joined.uow() as uow:
            customer = await uow.customers.get(event.tenant_id, customer_id)
            if customer is None:
                return  # deleted since the rule fired: nothing to tag
            names = normalize_tags(list(action.tags), field_name="tags")
            resolved = await resolve_display_names(uow.tags, event.tenant_id, sorted(names))
            await change_tags(
                uow.customers,
                uow.tags,
                uow.emit,
                customer,
                add=resolved,
                actor=action.rule or "system",
                cause_event_id=event.event_id,
                last_of_exclusive_wins=True,
            )
            await uow.commit()

    async def _untag(
        self, joined: _Joined, event: Event, action: rule_events_pb2.RuleActionUntagRequested
    ) -> None:
        """Removes the tenant's tags with these display names (unknown names are ignored)."""
        customer_id = resource_id(action.customer, "customers", field="customer")
        async with joined.uow() as uow:
            customer = await uow.customers.get(event.tenant_id, customer_id)
            if customer is None:
                return
            names = normalize_tags(list(action.tags), field_name="tags")
            known = await uow.tags.tags_by_display_name(event.tenant_id, set(names))
            await change_tags(
                uow.customers,
                uow.tags,
                uow.emit,
                customer,
                add=[],
                remove=frozenset(tag.id for tag in known.values()),
                actor=action.rule or "system",
                cause_event_id=event.event_id,
            )
            await uow.commit()


class MessageHandler:
    """message.received: the customer is active now and the message joins their timeline."""

    def __init__(self, outbox: Table) -> None:
        self._outbox = outbox

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        payload = event.payload
        if not isinstance(payload, messaging_events_pb2.MessageReceived) or not payload.customer:
            return
        try:
            customer_id = resource_id(payload.customer, "customers", field="customer")
        except InvalidArgument:
            log.warning("message.received %s names no customer", event.event_id)
            return
        activity = CustomerActivity(lambda: CustomersUnitOfWork.joining(session, self._outbox))
        await activity.message_received(
            event.tenant_id,
            customer_id,
            event_id=event.event_id,
            occurred_at=from_timestamp(event.envelope.occurred_time),
            text=payload.translated_text or payload.text,
            message=payload.message,
            details={
                "conversation": payload.conversation,
                "language": payload.language,
                "text": payload.text[:2000],
                "translated_text": payload.translated_text[:2000],
            },
        )


class TenantSettingsHandler:
    """tenant.settings_changed: keep the tenant's filter condition limit."""

    def __init__(self, outbox: Table) -> None:
        self._outbox = outbox

    async def __call__(self, session: AsyncSession, event: Event) -> None:
        payload = event.payload
        if not isinstance(payload, identity_events_pb2.TenantSettingsChanged):
            return
        if payload.max_filter_conditions <= 0:
            return
        async with CustomersUnitOfWork.joining(session, self._outbox) as uow:
            await uow.customers.save_max_filter_conditions(
                event.tenant_id, payload.max_filter_conditions
            )
            await uow.commit()
