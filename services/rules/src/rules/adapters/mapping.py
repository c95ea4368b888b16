"""Proto <-> domain conversion for rules."""

from __future__ import annotations

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message

from crosstalk.events.v1 import rule_events_pb2
from crosstalk.rules.v1 import resources_pb2
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.errors import FieldViolation, InvalidArgument
from rules.adapters.action_mapping import action_from_pb, action_to_pb
from rules.adapters.engine_mapping import action_event_pb
from rules.app.use_cases import rule_name
from rules.domain.events import (
    ActionRequested,
    RuleActionTagRequested,
    RuleAutoDisabled,
    RuleFired,
    RulesEvent,
)
from rules.domain.model import Rule, TimeTrigger, Trigger

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
    # The condition is read against the trigger's facts by the use case
    # (RuleManagement.prepare), which also copies in saved segments.
    return Rule(
        id="",
        tenant_id=tenant_id,
        display_name=pb.display_name,
        trigger=trigger,
        condition=None,
        actions=tuple(actions),
        priority=pb.priority,
        stop_processing=pb.stop_processing,
        enabled=pb.enabled,
        cooldown_seconds=int(pb.cooldown.seconds),
        rollout_percent=pb.rollout_percent or 100,  # unset means everyone
        shadow=pb.shadow,
        condition_blob=pb.condition.SerializeToString(deterministic=True),
        description=pb.description,
        time_trigger=time_trigger_from_pb(pb),
    )


def time_trigger_from_pb(pb: resources_pb2.Rule) -> TimeTrigger | None:
    if not pb.HasField("time_trigger"):
        return None
    timer = pb.time_trigger
    return TimeTrigger(
        delay_seconds=int(timer.delay.seconds), cron=timer.cron.strip(), time_zone=timer.time_zone
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
    pb.description = rule.description
    if rule.time_trigger is not None:
        timer = rule.time_trigger
        pb.time_trigger.delay.seconds = timer.delay_seconds
        pb.time_trigger.cron = timer.cron
        pb.time_trigger.time_zone = timer.time_zone
    pb.creator = f"members/{rule.creator}" if rule.creator else ""
    pb.etag = rule.etag
    for ref in rule.segments:
        pb.segments.add(segment=f"segments/{ref.segment_id}", version=ref.version)
    return pb


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
    if isinstance(payload, ActionRequested):
        return action_event_pb(payload)
    if isinstance(payload, RuleAutoDisabled):
        return rule_events_pb2.RuleDisabled(
            rule=rule_name(payload.rule_id),
            rule_version=payload.rule_version,
            display_name=payload.display_name,
            reason=payload.reason,
            consecutive_failures=payload.failures,
            last_error=payload.last_error,
            owners=[f"members/{m}" for m in payload.owners if m],
            run=run_name(payload.rule_id, payload.run_id) if payload.run_id else "",
        )
    raise TypeError(f"no event proto for {type(payload).__name__}")
