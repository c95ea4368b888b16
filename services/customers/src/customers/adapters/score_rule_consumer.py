"""Events score rules react to: each turned into a ScoringEvent (the facts a
rule's condition may name) and handed to the score_event use case, which
bootstrap runs in a unit of work joined to the consumer's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from google.protobuf.message import Message

from crosstalk.common.v1 import channel_pb2, lifecycle_stage_pb2
from crosstalk.events.v1 import customer_events_pb2, messaging_events_pb2
from crosstalk_common.api.channels import channel_or_none
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.api.timestamps import from_timestamp
from crosstalk_common.bus.catalogue import catalogue
from crosstalk_common.bus.consumer import Subscription, Within
from crosstalk_common.bus.envelope import Event
from crosstalk_common.errors import InvalidArgument
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.adapters.consumers import LINGER
from customers.app.ports import UnitOfWork
from customers.app.score_rules import EnabledScoreRules, score_event, worth_scoring
from customers.domain.scoring import SCORABLE_EVENT_TYPES, ScoringEvent


def _channel(value: channel_pb2.Channel.ValueType) -> str | None:
    if (channel := channel_or_none(value)) is None:
        return None
    return channel.value


def _stage(value: lifecycle_stage_pb2.LifecycleStage.ValueType) -> str | None:
    if value == lifecycle_stage_pb2.LIFECYCLE_STAGE_UNSPECIFIED:
        return None
    return lifecycle_stage_pb2.LifecycleStage.Name(value).removeprefix("LIFECYCLE_STAGE_").lower()


def _message_facts(m: messaging_events_pb2.MessageReceived) -> dict[str, Any]:
    return {
        "text": m.text,
        "translated_text": m.translated_text,
        "language": m.language,
        "channel": _channel(m.sender.channel),
        "store": m.sender.store,
        "sentiment": m.sentiment.score if m.HasField("sentiment") else None,
        "intents": {i.intent for i in m.intents},
    }


def _order_facts(o: customer_events_pb2.OrderRecorded) -> dict[str, Any]:
    return {
        "store": o.store,
        "amount": o.amount.units + o.amount.nanos / 1_000_000_000,
        "currency": o.amount.currency_code,
        "order_count": o.order_count,
    }


def _tagged_facts(t: customer_events_pb2.CustomerTagged) -> dict[str, Any]:
    return {"tags": set(t.tags)}


def _stage_facts(s: customer_events_pb2.CustomerStageChanged) -> dict[str, Any]:
    return {"from_stage": _stage(s.from_stage), "to_stage": _stage(s.to_stage)}


def _created_facts(c: customer_events_pb2.CustomerCreated) -> dict[str, Any]:
    first = c.identities[0] if c.identities else None
    return {
        "channel": _channel(first.channel) if first else None,
        "store": first.store if first else "",
    }


# Event type -> the facts of its payload (keys as in domain.scoring.EVENT_FIELDS).
_FACTS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "message.received": _message_facts,
    "order.recorded": _order_facts,
    "customer.tagged": _tagged_facts,
    "customer.stage_changed": _stage_facts,
    "customer.created": _created_facts,
}


def scoring_event(event: Event) -> ScoringEvent | None:
    """The event as score rules see it; None if it is not about one customer of ours."""
    facts_of = _FACTS.get(event.type)
    payload: Message = event.payload
    customer = str(getattr(payload, "customer", ""))
    if facts_of is None:
        return None
    try:
        customer_id = resource_id(customer, "customers", field="customer")
    except InvalidArgument:
        return None
    return ScoringEvent(
        event_id=event.event_id,
        tenant_id=event.tenant_id,
        type=event.type,
        customer_id=customer_id,
        occurred_at=from_timestamp(event.envelope.occurred_time),
        facts=facts_of(payload),
    )


def score_rule_subscriptions() -> list[Subscription]:
    """One durable consumer per producer of the scorable event types; a score
    may come a moment late, so they linger (LINGER, as the activity consumer)."""
    by_producer: dict[str, list[str]] = defaultdict(list)
    for event_type in SCORABLE_EVENT_TYPES:
        by_producer[catalogue()[event_type].producer].append(event_type)
    return [
        Subscription(
            durable=f"customers-score-rules-{producer}",
            producer=producer,
            event_types=types,
            linger=LINGER,
        )
        for producer, types in sorted(by_producer.items())
    ]


def on_scorable_events(
    rules: EnabledScoreRules,
) -> Callable[[UnitOfWorkFactory[UnitOfWork], Event], Awaitable[None]]:
    """The handler of events score rules may name, keeping enabled rules in ``rules``
    (one per process, shared by the score rule consumers)."""

    async def on_scorable_event(new_uow: UnitOfWorkFactory[UnitOfWork], event: Event) -> None:
        """An event score rules may name: the tenant's score rules applied to it."""
        scored = scoring_event(event)
        if scored is not None:
            await score_event(new_uow, rules, scored)

    return on_scorable_event


def on_scorable_event_batches(
    rules: EnabledScoreRules,
) -> Callable[[UnitOfWorkFactory[UnitOfWork], Sequence[Event], Within], Awaitable[None]]:
    """The scoped batch handler of events score rules may name (bootstrap's):
    which events some enabled rule matches is read once for the batch, and only
    those are scored, each in its own unit of work inside its event's scope (its
    trace and causation), in the order delivered, as ``on_scorable_events``
    scores one."""

    async def on_scorable_batch(
        new_uow: UnitOfWorkFactory[UnitOfWork], events: Sequence[Event], within: Within
    ) -> None:
        scored = [(e, s) for e in events if (s := scoring_event(e)) is not None]
        if not scored:
            return
        hits = {s.event_id for s in await worth_scoring(new_uow, rules, [s for _, s in scored])}
        for e, s in scored:
            if s.event_id in hits:
                with within(e):
                    await score_event(new_uow, rules, s)

    return on_scorable_batch
