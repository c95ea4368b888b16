"""The engine's proto <-> domain conversions: triggering events to occurrences
(with their facts and the snapshots they carry), action requests to their
``rule.action.*`` events, runs and their explanations to the API's messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct

from crosstalk.common.v1 import (
    condition_pb2,
    lifecycle_stage_pb2,
    money_pb2,
    priority_pb2,
    text_analysis_pb2,
)
from crosstalk.events.v1 import (
    customer_events_pb2 as customer_pb,
)
from crosstalk.events.v1 import (
    messaging_events_pb2 as messaging_pb,
)
from crosstalk.events.v1 import rule_events_pb2
from crosstalk.messaging.v1 import cases_pb2
from crosstalk.messaging.v1 import resources_pb2 as messaging_resources
from crosstalk.rules.v1 import resources_pb2
from crosstalk.rules.v1 import rules_service_pb2 as service_pb2
from crosstalk_common.api.channels import channel_or_none
from crosstalk_common.api.timestamps import to_timestamp
from crosstalk_common.bus.envelope import Event
from crosstalk_common.clock import as_utc
from crosstalk_common.conditions.parse import operator_name
from rules.adapters.action_mapping import (
    case_type_number,
    priority_number,
    stage_number,
    status_number,
    strategy_number,
)
from rules.app.running import Occurrence, rule_name, run_name
from rules.domain.actions import (
    AddNote,
    AddTag,
    AdjustScore,
    Assign,
    CallWebhook,
    CreateCase,
    Escalate,
    Notify,
    RemoveTag,
    ReplyWithTemplate,
    SetLifecycleStage,
    SetPriority,
    SetStatus,
)
from rules.domain.evaluation import SYNONYMS_FACT, LoopContext, Outcome, trace_from_json
from rules.domain.events import ActionRequested
from rules.domain.model import Trigger
from rules.domain.runs import ActionStatus, Run

# --- enums as the facts hold them ---------------------------------------------------------


def _suffix(enum: Any, prefix: str, number: int) -> str:
    try:
        value = str(enum.Name(number)).removeprefix(prefix).lower()
    except ValueError:
        return ""
    return "" if value == "unspecified" else value


def _status(number: int) -> str:
    return _suffix(messaging_resources.ConversationStatus, "CONVERSATION_STATUS_", number)


def _priority(number: int) -> str:
    return _suffix(priority_pb2.Priority, "PRIORITY_", number)


def _case_type(number: int) -> str:
    return _suffix(cases_pb2.CaseType, "CASE_TYPE_", number)


def _case_state(number: int) -> str:
    return _suffix(cases_pb2.CaseState, "CASE_STATE_", number)


def _money(money: money_pb2.Money) -> float:
    return money.units + money.nanos / 1e9


def _time(message: Message, name: str) -> datetime | None:
    if not message.HasField(name):
        return None
    return as_utc(getattr(message, name).ToDatetime())


def _loop(event: Event) -> LoopContext:
    envelope = event.envelope
    return LoopContext(str(envelope.causing_run), int(envelope.causation_depth))


def _occurred(event: Event) -> datetime | None:
    return _time(event.envelope, "occurred_time")


# --- customer snapshots ---------------------------------------------------------------------


def snapshot_facts(snapshot: customer_pb.CustomerSnapshot) -> dict[str, Any]:
    """The ``customer.*`` facts of a CustomerSnapshot (JSON-safe)."""
    facts: dict[str, Any] = {
        "customer.tags": sorted(snapshot.tag_labels),
        "customer.tier": snapshot.tier,
        "customer.score": snapshot.score,
        "customer.points": snapshot.points,
        "customer.lifecycle_stage": _suffix(
            lifecycle_stage_pb2.LifecycleStage, "LIFECYCLE_STAGE_", snapshot.lifecycle_stage
        )
        or None,
        "customer.country": snapshot.country,
        "customer.language": snapshot.language,
        "customer.owner": snapshot.owner,
        "customer.department": snapshot.department,
        "customer.order_count": snapshot.order_count,
        "customer.order_total": _money(snapshot.order_total),
        "customer.blacklisted": snapshot.blacklisted,
    }
    last = _time(snapshot, "last_order_time")
    facts["customer.last_order_time"] = last.isoformat() if last else None
    for key, value in snapshot.custom_fields.items():
        facts[f"customer.custom.{key}"] = value
    return facts


def snapshot_of(payload: Message) -> tuple[int, Mapping[str, Any]] | None:
    if not payload.HasField("snapshot"):
        return None
    snapshot = payload.snapshot  # type: ignore[attr-defined]
    return int(snapshot.version), snapshot_facts(snapshot)


# --- triggering events ----------------------------------------------------------------------


def message_facts(message: messaging_pb.MessageReceived) -> dict[str, Any]:
    """The ``message.*`` facts of a received message."""
    channel = channel_or_none(message.sender.channel)
    scored = (
        message.HasField("sentiment")
        and message.sentiment.label != text_analysis_pb2.SENTIMENT_LABEL_UNSPECIFIED
    )
    return {
        "message.text": message.text,
        "message.translated_text": message.translated_text,
        "message.language": message.language,
        "message.channel": channel.value if channel else None,
        "message.store": message.sender.store,
        "message.sentiment.score": message.sentiment.score if scored else None,
        "message.sentiment.label": _suffix(
            text_analysis_pb2.SentimentLabel, "SENTIMENT_LABEL_", message.sentiment.label
        )
        or None,
        "message.intents": frozenset(i.intent for i in message.intents),
        SYNONYMS_FACT: frozenset(k for i in message.intents for k in i.matched_keywords),
        "message.has_attachment": message.has_attachment,
    }


def conversation_facts_of_message(message: messaging_pb.MessageReceived) -> dict[str, Any]:
    """The ``conversation.*`` facts message.received carries (JSON-safe)."""
    channel = channel_or_none(message.sender.channel)
    facts: dict[str, Any] = {
        "conversation.status": _status(message.status) or None,
        "conversation.follow_ups": message.follow_ups,
        "conversation.assignee": message.assignee,
        "conversation.assignee_group": message.assignee_group,
        "conversation.labels": sorted(message.label_names),
        "conversation.priority": _priority(message.priority) or None,
        "conversation.channel": channel.value if channel else None,
        "conversation.language": message.language,
    }
    for fact, name in (
        ("conversation.last_agent_reply_time", "last_agent_reply_time"),
        ("conversation.opened_time", "open_time"),
        ("conversation.last_inbound_time", "receive_time"),
    ):
        at = _time(message, name)
        if at is not None:
            facts[fact] = at.isoformat()
    return facts


def _customer_occurrence(
    event: Event, trigger: Trigger, customer: str, facts: Mapping[str, Any]
) -> Occurrence:
    return Occurrence(
        tenant_id=event.tenant_id,
        trigger=trigger,
        event_id=event.event_id,
        customer=customer,
        facts=facts,
        occurred_at=_occurred(event),
        loop=_loop(event),
        customer_snapshot=snapshot_of(event.payload),
    )


def occurrence_of(event: Event) -> Occurrence | None:
    """The occurrence a triggering event makes; None for an event that only
    feeds a projection (see ``projection_only``)."""
    p = event.payload
    if isinstance(p, messaging_pb.MessageReceived):
        return Occurrence(
            tenant_id=event.tenant_id,
            trigger=Trigger.MESSAGE_RECEIVED,
            event_id=event.event_id,
            customer=p.customer,
            conversation=p.conversation,
            facts=message_facts(p),
            occurred_at=_time(p, "receive_time") or _occurred(event),
            loop=_loop(event),
            conversation_facts=conversation_facts_of_message(p),
        )
    if isinstance(p, customer_pb.CustomerCreated):
        return _customer_occurrence(event, Trigger.CUSTOMER_CREATED, p.customer, {})
    if isinstance(p, customer_pb.CustomerUpdated):
        return _customer_occurrence(
            event,
            Trigger.CUSTOMER_UPDATED,
            p.customer,
            {"customer.changed_fields": frozenset(p.changed_fields)},
        )
    if isinstance(p, customer_pb.CustomerTagged | customer_pb.CustomerUntagged):
        added = isinstance(p, customer_pb.CustomerTagged)
        labels = _labels_of(p)
        return _customer_occurrence(
            event,
            Trigger.CUSTOMER_TAGGED if added else Trigger.CUSTOMER_UNTAGGED,
            p.customer,
            {"customer.added_tags" if added else "customer.removed_tags": labels},
        )
    if isinstance(p, customer_pb.CustomerTierChanged):
        return _customer_occurrence(
            event,
            Trigger.CUSTOMER_TIER_CHANGED,
            p.customer,
            {"customer.previous_tier": p.from_tier},
        )
    if isinstance(p, customer_pb.CustomerStageChanged):
        return _customer_occurrence(
            event,
            Trigger.CUSTOMER_STAGE_CHANGED,
            p.customer,
            {"customer.previous_stage": _stage_value(p.from_stage) or None},
        )
    if isinstance(p, customer_pb.CustomerScored):
        return _customer_occurrence(
            event, Trigger.CUSTOMER_SCORED, p.customer, {"customer.score_delta": p.delta}
        )
    if isinstance(p, customer_pb.OrderRecorded):
        occurrence = _customer_occurrence(
            event,
            Trigger.ORDER_RECORDED,
            p.customer,
            {
                "order.amount": _money(p.amount),
                "order.store": p.store,
                "order.external_id": p.external_id,
            },
        )
        return _with(occurrence, order_external_id=p.external_id)
    if isinstance(p, messaging_pb.ConversationCreated):
        channel = channel_or_none(p.channel)
        return _conversation_occurrence(
            event,
            Trigger.CONVERSATION_CREATED,
            p.customer,
            p.conversation,
            {},
            {
                "conversation.channel": channel.value if channel else None,
                "conversation.language": p.language,
                "conversation.status": "unread",
                "conversation.follow_ups": 0,
            },
        )
    if isinstance(p, messaging_pb.ConversationStatusChanged):
        merged: dict[str, Any] = {
            "conversation.status": _status(p.to_status) or None,
            "conversation.follow_ups": p.follow_ups,
        }
        for fact, name in (
            ("conversation.last_inbound_time", "last_inbound_time"),
            ("conversation.last_agent_reply_time", "last_agent_reply_time"),
        ):
            at = _time(p, name)
            if at is not None:
                merged[fact] = at.isoformat()
        return _conversation_occurrence(
            event,
            Trigger.CONVERSATION_STATUS_CHANGED,
            p.customer,
            p.conversation,
            {"conversation.previous_status": _status(p.from_status) or None},
            merged,
        )
    if isinstance(p, messaging_pb.ConversationAssigned):
        return _conversation_occurrence(
            event,
            Trigger.CONVERSATION_ASSIGNED,
            p.customer,
            p.conversation,
            {"conversation.previous_assignee": p.previous_assignee},
            {
                "conversation.assignee": p.assignee,
                "conversation.assignee_group": p.assignee_group,
            },
        )
    if isinstance(p, messaging_pb.CaseOpened):
        return _conversation_occurrence(
            event,
            Trigger.CASE_OPENED,
            p.customer,
            p.conversation,
            _case_facts(p.case_type, "open", "", _money(p.amount), _time(p, "open_time"), event),
            None,
        )
    if isinstance(p, messaging_pb.CaseTransitioned):
        return _conversation_occurrence(
            event,
            Trigger.CASE_TRANSITIONED,
            p.customer,
            "",
            _case_facts(
                p.case_type,
                _case_state(p.to_state),
                _case_state(p.from_state),
                _money(p.amount),
                _time(p, "open_time"),
                event,
            ),
            None,
        )
    if isinstance(p, messaging_pb.CsatSubmitted):
        return _conversation_occurrence(
            event,
            Trigger.CSAT_SUBMITTED,
            p.customer,
            p.conversation,
            {"csat.score": p.score, "csat.comment": p.comment, "csat.assignee": p.assignee},
            None,
        )
    return None


def _with(occurrence: Occurrence, **changes: Any) -> Occurrence:
    return replace(occurrence, **changes)


def _stage_value(number: int) -> str:
    return _suffix(lifecycle_stage_pb2.LifecycleStage, "LIFECYCLE_STAGE_", number)


def _labels_of(payload: Any) -> frozenset[str]:
    """Display names of the tags an event added or removed: the snapshot names
    every tag with its label, so an added tag's label is read there; a removed
    tag is no longer in it, so its resource name stands in."""
    if payload.HasField("snapshot"):
        by_name = dict(zip(payload.snapshot.tags, payload.snapshot.tag_labels, strict=False))
        return frozenset(by_name.get(tag, tag) for tag in payload.tags)
    return frozenset(payload.tags)


def _case_facts(
    case_type: int,
    state: str,
    previous: str,
    amount: float,
    opened: datetime | None,
    event: Event,
) -> dict[str, Any]:
    now = _occurred(event)
    age = (now - opened).total_seconds() / 3600 if opened and now else None
    return {
        "case.type": _case_type(case_type) or None,
        "case.state": state or None,
        "case.previous_state": previous or None,
        "case.amount": amount,
        "case.age_hours": age,
    }


def _conversation_occurrence(
    event: Event,
    trigger: Trigger,
    customer: str,
    conversation: str,
    facts: Mapping[str, Any],
    conversation_facts: Mapping[str, Any] | None,
) -> Occurrence:
    return Occurrence(
        tenant_id=event.tenant_id,
        trigger=trigger,
        event_id=event.event_id,
        customer=customer,
        conversation=conversation,
        facts=facts,
        occurred_at=_occurred(event),
        loop=_loop(event),
        conversation_facts=conversation_facts,
    )


def projection_only(event: Event) -> tuple[str, str, dict[str, Any]] | None:
    """(conversation, customer, facts) of an event that only feeds the
    conversation projection (no trigger): conversation.priority_changed."""
    p = event.payload
    if isinstance(p, messaging_pb.ConversationPriorityChanged):
        return p.conversation, p.customer, {"conversation.priority": _priority(p.to_priority)}
    return None


# --- action outcomes ------------------------------------------------------------------------

_STATUS_OF_OUTCOME = {
    rule_events_pb2.RULE_ACTION_OUTCOME_SUCCEEDED: ActionStatus.SUCCEEDED,
    rule_events_pb2.RULE_ACTION_OUTCOME_FAILED: ActionStatus.FAILED,
    rule_events_pb2.RULE_ACTION_OUTCOME_SKIPPED: ActionStatus.SKIPPED,
}


def action_outcome(
    payload: rule_events_pb2.RuleActionCompleted | rule_events_pb2.CustomerRuleActionCompleted,
) -> tuple[str, int, ActionStatus, str, str] | None:
    """(run name, action index, status, reason, result) of a completed action."""
    status = _STATUS_OF_OUTCOME.get(payload.outcome)
    if status is None or not payload.run:
        return None
    return payload.run, payload.action_index, status, payload.reason, payload.result


# --- action requests as events --------------------------------------------------------------


def action_event_pb(event: ActionRequested) -> Message:
    """The ``rule.action.*`` event of one fired action."""
    a = event.action
    common: dict[str, Any] = {
        "rule": rule_name(event.rule_id),
        "run": run_name(event.rule_id, event.run_id),
        "customer": event.customer,
        "action_index": event.action_index,
    }
    conversation: dict[str, Any] = {"conversation": event.conversation}
    if isinstance(a, AddTag):
        return rule_events_pb2.RuleActionTagRequested(**common, tag_labels=list(a.tags))
    if isinstance(a, RemoveTag):
        return rule_events_pb2.RuleActionUntagRequested(**common, tag_labels=list(a.tags))
    if isinstance(a, AdjustScore):
        return rule_events_pb2.RuleActionScoreRequested(**common, delta=a.delta, reason=a.reason)
    if isinstance(a, SetLifecycleStage):
        return rule_events_pb2.RuleActionStageRequested(
            **common,
            stage=stage_number(a.stage),  # type: ignore[arg-type]
        )
    if isinstance(a, ReplyWithTemplate):
        return rule_events_pb2.RuleActionReplyRequested(
            **common,
            **conversation,
            template=a.template,
            translate_to_customer_language=a.translate_to_customer_language,
            variables=dict(a.variables),
        )
    if isinstance(a, AddNote):
        return rule_events_pb2.RuleActionNoteRequested(**common, **conversation, text=a.text)
    if isinstance(a, Assign):
        return rule_events_pb2.RuleActionAssignRequested(
            **common,
            **conversation,
            assignee=a.member,
            assignee_group=a.group,
            strategy=strategy_number(a.strategy),  # type: ignore[arg-type]
        )
    if isinstance(a, Escalate):
        return rule_events_pb2.RuleActionEscalateRequested(
            **common,
            **conversation,
            reason=a.reason,
            assignee=a.member,
            assignee_group=a.group,
            priority=priority_number(a.priority),  # type: ignore[arg-type]
        )
    if isinstance(a, SetPriority):
        return rule_events_pb2.RuleActionPriorityRequested(
            **common,
            **conversation,
            priority=priority_number(a.priority),  # type: ignore[arg-type]
        )
    if isinstance(a, SetStatus):
        return rule_events_pb2.RuleActionStatusRequested(
            **common,
            **conversation,
            status=status_number(a.status),  # type: ignore[arg-type]
        )
    if isinstance(a, CreateCase):
        return rule_events_pb2.RuleActionCaseRequested(
            **common,
            **conversation,
            case_type=case_type_number(a.case_type),  # type: ignore[arg-type]
            reason=a.reason,
            order_external_id=event.order_external_id,
            priority=priority_number(a.priority),  # type: ignore[arg-type]
        )
    if isinstance(a, Notify):
        return rule_events_pb2.RuleActionNotifyRequested(
            **common,
            **conversation,
            members=list(a.members),
            notify_assignee=a.notify_assignee,
            title=a.title,
            text=a.text,
        )
    if isinstance(a, CallWebhook):
        return rule_events_pb2.RuleActionWebhookRequested(
            **common, **conversation, url=a.url, body=event.body
        )
    raise TypeError(f"no event for action {type(a).__name__}")


# --- runs and explanations ------------------------------------------------------------------

OUTCOME_PB = {o: resources_pb2.RuleRunOutcome.Value(f"RULE_RUN_OUTCOME_{o.name}") for o in Outcome}
OUTCOME_OF_PB = {v: k for k, v in OUTCOME_PB.items()}
_ACTION_STATUS_PB = {
    s: resources_pb2.ActionStatus.Value(f"ACTION_STATUS_{s.name}") for s in ActionStatus
}
_TRIGGER_PB = {t: resources_pb2.Trigger.Value(f"TRIGGER_{t.name}") for t in Trigger}
_LOGICAL_PB = {
    "and": condition_pb2.LOGICAL_OPERATOR_AND,
    "or": condition_pb2.LOGICAL_OPERATOR_OR,
    "not": condition_pb2.LOGICAL_OPERATOR_NOT,
}


def run_to_pb(run: Run) -> resources_pb2.RuleRun:
    pb = resources_pb2.RuleRun(
        name=run_name(run.rule_id, run.id),
        rule_version=run.rule_version,
        trigger=_TRIGGER_PB[run.trigger],
        trigger_event_id=run.trigger_event_id,
        customer=run.customer,
        conversation=run.conversation,
        outcome=OUTCOME_PB[run.outcome],
        error=run.error,
        create_time=to_timestamp(run.created_at),
    )
    for a in run.actions:
        result = pb.action_results.add(
            index=a.index,
            status=_ACTION_STATUS_PB[a.status],
            event_id=a.event_id,
            error=a.error,
            result=a.result,
        )
        if a.completed_at is not None:
            result.complete_time.CopyFrom(to_timestamp(a.completed_at))
    return pb


def trace_to_pb(data: Mapping[str, Any]) -> resources_pb2.ConditionTrace:
    trace = trace_from_json(data)
    return _trace_pb(trace)


def _trace_pb(trace: Any) -> resources_pb2.ConditionTrace:
    pb = resources_pb2.ConditionTrace(result=trace.result, detail=trace.detail)
    if trace.leaf is None:
        pb.operator = _LOGICAL_PB[trace.op]
        pb.children.extend(_trace_pb(c) for c in trace.children)
        return pb
    leaf = trace.leaf
    pb.leaf.field = leaf.field
    pb.leaf.operator = condition_pb2.Operator.Value(operator_name(leaf.operator))
    pb.leaf.values.extend(str(v) for v in leaf.values)
    pb.leaf.fuzzy = leaf.fuzzy
    pb.actual_values.extend(trace.actual)
    return pb


def explanation_to_pb(run: Run) -> resources_pb2.RuleRunExplanation:
    pb = resources_pb2.RuleRunExplanation(
        run=run_name(run.rule_id, run.id),
        outcome=OUTCOME_PB[run.outcome],
        summary=explanation_summary(run),
    )
    facts = Struct()
    facts.update({k: v for k, v in run.facts.items() if not k.startswith("message.intent_")})
    pb.facts.CopyFrom(facts)
    if run.trace is not None:
        pb.condition_trace.CopyFrom(trace_to_pb(run.trace))
    return pb


def explanation_summary(run: Run) -> str:
    lines = [f"{rule_name(run.rule_id)} v{run.rule_version}: {run.outcome.value.replace('_', ' ')}"]
    lines.append(f"({run.summary})")
    if run.trace is not None:
        lines.append("; ".join(trace_from_json(run.trace).lines()))
    done = [f"#{a.index} {a.kind} {a.status.value}" for a in run.actions]
    if done:
        lines.append("actions: " + ", ".join(done))
    return " ".join(lines)


def statistics_period(pb: int) -> str:
    return "week" if pb == service_pb2.STATISTICS_PERIOD_WEEK else "day"
