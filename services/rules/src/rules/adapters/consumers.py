"""Events rules reacts to, each mapped to the use case it runs.

Triggering events (a message, a customer change, an order, a conversation,
case or CSAT event) become an ``Occurrence`` (``engine_mapping.occurrence_of``)
that ``Engine.run`` evaluates; the customer snapshot and conversation facts
they carry update the projections in the same unit of work. Completed actions
(messaging's and customers') are recorded on their runs; ``rule.action.webhook``
is rules' own action, posted by ``WebhookCaller``. bootstrap applies a fetched
batch of these events at once (``on_triggers``, the consumer's scoped batch
handler), in one unit of work joined to the consumer's transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

from crosstalk.events.v1 import rule_events_pb2
from crosstalk_common.bus.consumer import Subscription, Within
from crosstalk_common.bus.envelope import Event
from crosstalk_common.clock import as_utc, utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from rules.adapters.engine_mapping import (
    action_outcome,
    occurrence_of,
    projection_only,
    snapshot_of,
)
from rules.adapters.timer_mapping import timer_signal_of
from rules.app.ports import UnitOfWork
from rules.app.running import Engine, Occurrence
from rules.app.runs import parse_run_name, record_action_outcome_in
from rules.app.timers import TimerArming
from rules.app.webhooks import WebhookCaller, WebhookRequest

MESSAGES = Subscription(
    durable="rules-messages", producer="messaging", event_types=["message.received"]
)
CONVERSATIONS = Subscription(
    durable="rules-conversations",
    producer="messaging",
    event_types=[
        "conversation.created",
        "conversation.status_changed",
        "conversation.assigned",
        "conversation.priority_changed",
        "case.opened",
        "case.transitioned",
        "csat.submitted",
        "rule.action.completed",
    ],
)
CUSTOMERS = Subscription(
    durable="rules-customers",
    producer="customers",
    event_types=[
        "customer.created",
        "customer.updated",
        "customer.tagged",
        "customer.untagged",
        "customer.tier_changed",
        "customer.stage_changed",
        "customer.scored",
        "customer.blacklisted",
        "customer.merged",
        "customer.deleted",
        "order.recorded",
        "customer.rule_action_completed",
    ],
)
WEBHOOKS = Subscription(
    durable="rules-webhooks",
    producer="rules",
    event_types=["rule.action.webhook"],
    ack_wait=60.0,
)

Handle = Callable[[UnitOfWorkFactory[UnitOfWork], Event], Awaitable[None]]
BatchHandle = Callable[[UnitOfWorkFactory[UnitOfWork], Sequence[Event], Within], Awaitable[None]]


def on_triggers(engine: Engine, timers: TimerArming | None = None) -> BatchHandle:
    """The new events of a fetched batch (triggers, projections, action outcomes),
    in order, in ONE unit of work: the tenant's rule revision and settings are
    read once, the evaluation log written and each rule's counters added once
    for the batch (issue 14). ``within(event)`` makes the event's processing span
    and causation current while it is applied, so the events it stages carry
    them. See ``on_trigger`` for what each event does."""

    async def handle(
        new_uow: UnitOfWorkFactory[UnitOfWork], events: Sequence[Event], within: Within
    ) -> None:
        async with new_uow() as uow:
            planned = [(event, _occurrence(event)) for event in events]
            if len(planned) > 1:
                await _preload(uow, planned)
            for event, occurrence in planned:
                with within(event):
                    await _apply(uow, engine, timers, event, occurrence)
            await uow.commit()

    return handle


def on_trigger(engine: Engine, timers: TimerArming | None = None) -> Handle:
    """A triggering event: the tenant's rules of its trigger run on it. Events
    that only carry a snapshot (blacklisted, merged, deleted) or a conversation
    fact (priority changed) update the projections. With ``timers``, an event
    that starts or ends a time trigger's wait arms or cancels its timers in the
    same transaction (app/timers.py). Completed actions are recorded on their runs."""
    batch = on_triggers(engine, timers)

    async def handle(new_uow: UnitOfWorkFactory[UnitOfWork], event: Event) -> None:
        await batch(new_uow, [event], _current)

    return handle


def _current(_event: Event) -> AbstractContextManager[None]:
    return nullcontext()  # one event per call: its span and causation are current


_COMPLETED = rule_events_pb2.RuleActionCompleted | rule_events_pb2.CustomerRuleActionCompleted


def _occurrence(event: Event) -> Occurrence | None:
    """The occurrence of a triggering event (None for a completed action's)."""
    return None if isinstance(event.payload, _COMPLETED) else occurrence_of(event)


async def _preload(uow: UnitOfWork, planned: Sequence[tuple[Event, Occurrence | None]]) -> None:
    """Read what the batch's events will read, at once per tenant and table: the
    runs of the completed actions, the customers not carried as a snapshot, the
    conversations."""
    runs: dict[str, dict[str, None]] = defaultdict(dict)
    customers: dict[str, dict[str, None]] = defaultdict(dict)
    conversations: dict[str, dict[str, None]] = defaultdict(dict)
    for event, occurrence in planned:
        tenant = event.tenant_id
        if occurrence is not None:
            if occurrence.customer and occurrence.customer_snapshot is None:
                customers[tenant][occurrence.customer] = None
            if occurrence.conversation:
                conversations[tenant][occurrence.conversation] = None
        elif isinstance(event.payload, _COMPLETED):
            outcome = action_outcome(event.payload)
            ids = parse_run_name(outcome[0]) if outcome is not None else None
            if ids is not None:
                runs[tenant][ids[1]] = None
        elif (conversation := projection_only(event)) is not None:
            conversations[tenant][conversation[0]] = None
    for tenant, run_ids in runs.items():
        await uow.runs.preload(tenant, list(run_ids))
    for tenant in customers.keys() | conversations.keys():
        await uow.projections.preload(
            tenant, list(customers.get(tenant, ())), list(conversations.get(tenant, ()))
        )


async def _apply(
    uow: UnitOfWork,
    engine: Engine,
    timers: TimerArming | None,
    event: Event,
    occurrence: Occurrence | None,
) -> None:
    if timers is not None:
        signal = timer_signal_of(event)
        if signal is not None:
            await timers.apply_in(uow, event.tenant_id, signal)
    completed = event.payload
    if isinstance(completed, _COMPLETED):
        outcome = action_outcome(completed)
        if outcome is not None:
            run, index, status, reason, result = outcome
            await record_action_outcome_in(
                uow, event.tenant_id, run, index, status, error=reason, result=result
            )
        return
    if occurrence is not None:
        await engine.run_in(uow, occurrence)
        return
    await _project(uow, event)


async def _project(uow: UnitOfWork, event: Event) -> None:
    payload = event.payload
    conversation = projection_only(event)
    if conversation is not None:
        name, customer, facts = conversation
        at = as_utc(event.envelope.occurred_time.ToDatetime()) or utc_now()
        await uow.projections.merge_conversation(event.tenant_id, name, customer, facts, at)
    has_snapshot = "snapshot" in payload.DESCRIPTOR.fields_by_name
    snapshot = snapshot_of(payload) if has_snapshot else None
    customer_name = getattr(payload, "customer", "")
    if snapshot is not None and customer_name:
        version, customer_facts = snapshot
        await uow.projections.save_customer(event.tenant_id, customer_name, version, customer_facts)


def on_webhook(caller: WebhookCaller) -> Handle:
    """rule.action.webhook: post it (signed, retried) and record the outcome."""

    async def handle(new_uow: UnitOfWorkFactory[UnitOfWork], event: Event) -> None:
        p = event.payload
        if isinstance(p, rule_events_pb2.RuleActionWebhookRequested):
            await caller.call(
                WebhookRequest(event.tenant_id, p.run, p.action_index, p.url, p.body),
                new_uow=new_uow,
            )

    return handle
