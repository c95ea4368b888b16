"""Proto <-> domain conversion for rules."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from crosstalk.common.v1 import text_analysis_pb2
from crosstalk.events.v1 import messaging_events_pb2, rule_events_pb2
from crosstalk.rules.v1 import resources_pb2
from crosstalk_common.api.channels import channel_or_none
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.bus.envelope import Event
from crosstalk_common.conditions.parse import parse_condition
from crosstalk_common.errors import FieldViolation, InvalidArgument
from rules.adapters.action_mapping import action_from_pb, action_to_pb
from rules.adapters.conditions import MAX_RULE_CONDITIONS, MESSAGE_FIELDS
from rules.app.running import Occurrence
from rules.app.use_cases import rule_name
from rules.domain.events import RuleActionTagRequested, RuleFired, RulesEvent
from rules.domain.model import Rule, Trigger

# TRIGGER_CUSTOMER_TIER_CHANGED -> Trigger.CUSTOMER_TIER_CHANGED, for every trigger.
_TRIGGERS = {resources_pb2.Trigger.Value(f"TRIGGER_{t.name}"): t for t in Trigger}
_TRIGGERS_PB = {v: k for k, v in _TRIGGERS.items()}


def rule_from_pb(tenant_id: str, pb: resources_pb2.Rule) -> Rule:
    problems = []
    trigger = _TRIGGERS.get(pb.trigger)
    if trigger is None:
        problems.append(
            FieldViolation("rule.trigger", "choose a trigger, e.g. TRIGGER_MESSAGE_RECEIVED")
        )
    actions = []
    for i, action_pb in enumerate(pb.actions):
        action = action_from_pb(action_pb, f"rule.actions[{i}]")
        if isinstance(action, FieldViolation):
            problems.append(action)
        else:
            actions.append(action)
    if problems:
        raise InvalidArgument(problems)
    assert trigger is not None
    condition = parse_condition(
        pb.condition,
        MESSAGE_FIELDS,
        max_conditions=MAX_RULE_CONDITIONS,
        field_path="rule.condition",
    )
    return Rule(
        id="",
        tenant_id=tenant_id,
        display_name=pb.display_name,
        trigger=trigger,
        condition=condition,
        actions=tuple(actions),
        priority=pb.priority,
        stop_processing=pb.stop_processing,
        enabled=pb.enabled,
        cooldown_seconds=int(pb.cooldown.seconds),
        rollout_percent=pb.rollout_percent or 100,  # unset means everyone
        shadow=pb.shadow,
        condition_blob=pb.condition.SerializeToString(deterministic=True),
    )


def rule_to_pb(rule: Rule) -> resources_pb2.Rule:
    pb = resources_pb2.Rule(
        name=rule_name(rule.id),
        display_name=rule.display_name,
        trigger=_TRIGGERS_PB[rule.trigger],
        priority=rule.priority,
        stop_processing=rule.stop_processing,
        enabled=rule.enabled,
        cooldown=Duration(seconds=rule.cooldown_seconds),
        rollout_percent=rule.rollout_percent,
        version=rule.version,
        create_time=to_timestamp(rule.created_at),
        update_time=to_timestamp(rule.updated_at),
    )
    pb.condition.ParseFromString(rule.condition_blob)
    pb.actions.extend(action_to_pb(action) for action in rule.actions)
    pb.shadow = rule.shadow
    return pb


def message_facts(message: messaging_events_pb2.MessageReceived) -> dict[str, object]:
    """What a rule's condition reads of a message (the fields of conditions.MESSAGE_FIELDS)."""
    channel = channel_or_none(message.sender.channel)
    scored = (
        message.HasField("sentiment")
        and message.sentiment.label != text_analysis_pb2.SENTIMENT_LABEL_UNSPECIFIED
    )
    return {
        "text": message.text,
        "language": message.language,
        "channel": channel.value if channel else None,
        "store": message.sender.store,
        "translated_text": message.translated_text,
        "sentiment": message.sentiment.score if scored else None,
        "intents": frozenset(i.intent for i in message.intents),
    }


def message_received(event: Event, message: messaging_events_pb2.MessageReceived) -> Occurrence:
    return Occurrence(
        tenant_id=event.tenant_id,
        trigger=Trigger.MESSAGE_RECEIVED,
        event_id=event.event_id,
        customer=message.customer,
        facts=message_facts(message),
    )


def run_name(rule_id: str, run_id: str) -> str:
    return f"{rule_name(rule_id)}/runs/{run_id}"


def event_pb(payload: Message | RulesEvent) -> Message:
    """The contract's event for a RulesEvent; a proto is staged as it is."""
    if isinstance(payload, Message):
        return payload
    if isinstance(payload, RuleFired):
        return rule_events_pb2.RuleFired(
            rule=rule_name(payload.rule_id),
            rule_version=payload.rule_version,
            run=run_name(payload.rule_id, payload.run_id),
            trigger_event_id=payload.trigger_event_id,
            customer=payload.customer,
        )
    if isinstance(payload, RuleActionTagRequested):
        return rule_events_pb2.RuleActionTagRequested(
            rule=rule_name(payload.rule_id),
            run=run_name(payload.rule_id, payload.run_id),
            customer=payload.customer,
            tag_labels=list(payload.tag_labels),
        )
    raise TypeError(f"no event proto for {type(payload).__name__}")
