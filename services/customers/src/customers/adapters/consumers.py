"""Events customers reacts to, each mapped to the use case it runs: rule
actions, messages from customers, tenant limits.

bootstrap runs each through ``in_unit_of_work`` (messages, a fetched batch at
once, through ``batch_in_unit_of_work``; rule actions, a fetched batch at once
whatever their rule runs, through ``scoped_batch_in_unit_of_work``): the use
case's unit of work joins
the consumer's transaction, which also records the event in the inbox,
so its rows, timeline and events commit with the inbox entry (a redelivered
event is skipped) or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from crosstalk.common.v1 import lifecycle_stage_pb2
from crosstalk.events.v1 import identity_events_pb2, messaging_events_pb2, rule_events_pb2
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.api.timestamps import from_timestamp
from crosstalk_common.bus.consumer import Subscription, Within
from crosstalk_common.bus.envelope import Event
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.adapters.mapping import stage_from_pb
from customers.app.activity import CustomerActivity, ReceivedMessage
from customers.app.ports import UnitOfWork
from customers.app.rule_actions import RuleAction, RuleActions
from customers.app.rule_tagging import TagRequest, add_tags_together
from customers.app.tenant_settings import keep_filter_condition_limit
from customers.domain.events import RuleActionOutcome

log = logging.getLogger(__name__)

RULE_ACTIONS = Subscription(
    durable="customers-rule-actions",
    producer="rules",
    event_types=["rule.action.tag", "rule.action.untag", "rule.action.score", "rule.action.stage"],
)
# Activity and timeline entries, and score rules, can be a moment late: their
# consumers gather what arrives within LINGER after a batch that was not full
# (fewer, larger transactions; the kit's Subscription.linger).
LINGER = 0.25  # seconds
MESSAGES = Subscription(
    durable="customers-messages",
    producer="messaging",
    event_types=["message.received"],
    linger=LINGER,
)
TENANT_SETTINGS = Subscription(
    durable="customers-tenant-settings",
    producer="identity",
    event_types=["tenant.settings_changed"],
)


def _customer_id(name: str) -> str:
    return resource_id(name, "customers", field="customer")


async def on_rule_action(new_uow: UnitOfWorkFactory[UnitOfWork], event: Event) -> None:
    """rule.action.tag/untag/score/stage: applied as AddTags, RemoveTags,
    AdjustScore or SetLifecycleStage would, acting as the rule, and reported
    back with customer.rule_action_completed (``app/rule_actions.py``). A
    customer deleted since the rule fired is SKIPPED, an action customers
    refuses (a score change out of bounds) FAILED: retrying would never succeed.
    """
    payload = event.payload
    if not isinstance(
        payload,
        (
            rule_events_pb2.RuleActionTagRequested,
            rule_events_pb2.RuleActionUntagRequested,
            rule_events_pb2.RuleActionScoreRequested,
            rule_events_pb2.RuleActionStageRequested,
        ),
    ):
        return
    actions = RuleActions(new_uow)
    action = _rule_action(event, payload)
    customer_id = action.customer_id
    if not customer_id:
        log.warning("%s %s names no customer", event.type, event.event_id)
        await actions.report(action, RuleActionOutcome.FAILED, "the action names no customer")
    elif isinstance(
        payload, (rule_events_pb2.RuleActionTagRequested, rule_events_pb2.RuleActionUntagRequested)
    ):
        remove = isinstance(payload, rule_events_pb2.RuleActionUntagRequested)
        await actions.tag(action, list(payload.tag_labels), remove=remove)
    elif isinstance(payload, rule_events_pb2.RuleActionScoreRequested):
        await actions.score(action, payload.delta, payload.reason)
    else:
        stage = None
        if payload.stage != lifecycle_stage_pb2.LIFECYCLE_STAGE_UNSPECIFIED:
            try:
                stage = stage_from_pb(payload.stage, field="stage")
            except InvalidArgument:
                stage = None
        await actions.stage(action, stage)


async def on_rule_actions(
    new_uow: UnitOfWorkFactory[UnitOfWork], events: Sequence[Event], within: Within
) -> None:
    """rule.action.*, a fetched batch at once: consecutive tag actions on distinct
    customers are applied together (``app/rule_tagging.py``, one unit of work
    for them all), any other action alone as ``on_rule_action`` applies it; in
    the order delivered, each inside its event's scope (its trace and causation).

    A customer's second action starts a new group: each event's snapshot then
    shows the customer as that action left them, as one at a time would."""
    together: dict[str, TagRequest] = {}  # by customer
    for event in events:
        request = _tag_request(event, within)
        if request is not None and request.action.customer_id not in together:
            together[request.action.customer_id] = request
            continue
        await add_tags_together(new_uow, list(together.values()))
        together = {}
        if request is not None:
            together[request.action.customer_id] = request
            continue
        with within(event):
            await on_rule_action(new_uow, event)
    await add_tags_together(new_uow, list(together.values()))


def _tag_request(event: Event, within: Within) -> TagRequest | None:
    """A rule.action.tag naming a customer, as the batch applies it; None for any other."""
    payload = event.payload
    if not isinstance(payload, rule_events_pb2.RuleActionTagRequested):
        return None
    action = _rule_action(event, payload)
    if not action.customer_id:
        return None  # reported FAILED by on_rule_action
    return TagRequest(action, list(payload.tag_labels), lambda: within(event))


def _rule_action(
    event: Event,
    payload: rule_events_pb2.RuleActionTagRequested
    | rule_events_pb2.RuleActionUntagRequested
    | rule_events_pb2.RuleActionScoreRequested
    | rule_events_pb2.RuleActionStageRequested,
) -> RuleAction:
    """Which action of which run the event asks for; customer_id "" when the
    event names no customer (or a malformed one)."""
    try:
        customer_id = _customer_id(payload.customer)
    except InvalidArgument:
        customer_id = ""
    return RuleAction(
        tenant_id=event.tenant_id,
        rule=payload.rule,
        run=payload.run,
        action_index=payload.action_index,
        action_type=event.type,
        customer_id=customer_id,
        cause_event_id=event.event_id,
    )


def _received_message(event: Event) -> ReceivedMessage | None:
    """A message.received about a customer, as the activity use case takes it."""
    payload = event.payload
    if not isinstance(payload, messaging_events_pb2.MessageReceived) or not payload.customer:
        return None
    try:
        customer_id = _customer_id(payload.customer)
    except InvalidArgument:
        log.warning("message.received %s names no customer", event.event_id)
        return None
    return ReceivedMessage(
        tenant_id=event.tenant_id,
        customer_id=customer_id,
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


async def on_messages(new_uow: UnitOfWorkFactory[UnitOfWork], events: Sequence[Event]) -> None:
    """message.received, a batch at once: each customer is active now and each
    message joins their timeline."""
    received = [m for m in map(_received_message, events) if m is not None]
    if received:
        await CustomerActivity(new_uow).messages_received(received)


async def on_tenant_settings(new_uow: UnitOfWorkFactory[UnitOfWork], event: Event) -> None:
    """tenant.settings_changed: keep the tenant's filter condition limit."""
    payload = event.payload
    if isinstance(payload, identity_events_pb2.TenantSettingsChanged):
        await keep_filter_condition_limit(new_uow, event.tenant_id, payload.max_filter_conditions)
