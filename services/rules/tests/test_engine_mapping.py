"""The engine's mapping: events to occurrences with namespaced facts, actions to
their rule.action.* events, runs to the API (rules/adapters/engine_mapping.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from crosstalk.common.v1 import channel_pb2, money_pb2, priority_pb2, text_analysis_pb2
from crosstalk.events.v1 import customer_events_pb2, messaging_events_pb2, rule_events_pb2
from crosstalk.messaging.v1 import cases_pb2
from crosstalk.messaging.v1 import resources_pb2 as messaging_pb2
from crosstalk.rules.v1 import resources_pb2
from crosstalk_common.bus.catalogue import event_type_of
from crosstalk_common.bus.envelope import Event, new_envelope
from rules.adapters.action_mapping import action_from_pb, action_to_pb
from rules.adapters.engine_mapping import (
    action_event_pb,
    explanation_to_pb,
    occurrence_of,
    run_to_pb,
)
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
from rules.domain.evaluation import SYNONYMS_FACT, Outcome
from rules.domain.events import ActionRequested
from rules.domain.model import Trigger
from rules.domain.runs import ActionResult, ActionStatus, Run

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def event(payload: object, *, run: str = "", depth: int = 0) -> Event:
    _, envelope = new_envelope("t1", payload, occurred_at=NOW, trace_context={})  # type: ignore[arg-type]
    envelope.causing_run, envelope.causation_depth = run, depth
    return Event(envelope, payload)  # type: ignore[arg-type]


def test_a_received_message_gives_namespaced_facts_and_the_conversations() -> None:
    message = messaging_events_pb2.MessageReceived(
        conversation="conversations/v1",
        customer="customers/c1",
        text="Wo ist mein Paket?",
        language="de",
        translated_text="Where is my parcel?",
        sender=channel_pb2.ChannelIdentity(
            channel=channel_pb2.CHANNEL_WEB_CHAT, external_id="x", store="de-shop"
        ),
        sentiment=text_analysis_pb2.Sentiment(
            score=-0.5, label=text_analysis_pb2.SENTIMENT_LABEL_NEGATIVE
        ),
        intents=[
            text_analysis_pb2.IntentMatch(intent="shipping_delay", matched_keywords=["paket"])
        ],
        status=messaging_pb2.CONVERSATION_STATUS_UNREAD,
        follow_ups=3,
        priority=priority_pb2.PRIORITY_HIGH,
        label_names=["wholesale"],
        has_attachment=True,
    )
    occurrence = occurrence_of(event(message, run="rules/r1/runs/x", depth=2))
    assert occurrence is not None
    assert occurrence.trigger is Trigger.MESSAGE_RECEIVED
    assert (occurrence.loop.causing_rule_id, occurrence.loop.depth) == ("r1", 2)
    assert occurrence.facts["message.channel"] == "web_chat"
    assert occurrence.facts["message.sentiment.label"] == "negative"
    assert occurrence.facts["message.sentiment.score"] == -0.5
    assert occurrence.facts["message.intents"] == frozenset({"shipping_delay"})
    assert occurrence.facts[SYNONYMS_FACT] == frozenset({"paket"})
    assert occurrence.facts["message.has_attachment"] is True
    assert occurrence.conversation_facts is not None
    assert occurrence.conversation_facts["conversation.status"] == "unread"
    assert occurrence.conversation_facts["conversation.follow_ups"] == 3
    assert occurrence.conversation_facts["conversation.priority"] == "high"
    assert occurrence.conversation_facts["conversation.labels"] == ["wholesale"]


def test_customer_events_carry_their_snapshot_and_their_own_facts() -> None:
    snapshot = customer_events_pb2.CustomerSnapshot(
        version=7,
        tier="VIP",
        tags=["tags/1", "tags/2"],
        tag_labels=["wholesale", "eu"],
        score=40,
        custom_fields={"vip_code": "A1"},
        order_total=money_pb2.Money(currency_code="EUR", units=120, nanos=500_000_000),
    )
    tagged = customer_events_pb2.CustomerTagged(
        customer="customers/c1", tags=["tags/2"], snapshot=snapshot
    )
    occurrence = occurrence_of(event(tagged))
    assert occurrence is not None
    assert occurrence.trigger is Trigger.CUSTOMER_TAGGED
    assert occurrence.facts == {"customer.added_tags": frozenset({"eu"})}
    assert occurrence.customer_snapshot is not None
    version, facts = occurrence.customer_snapshot
    assert version == 7
    assert facts["customer.tier"] == "VIP"
    assert facts["customer.tags"] == ["eu", "wholesale"]
    assert facts["customer.custom.vip_code"] == "A1"
    assert facts["customer.order_total"] == 120.5

    order = customer_events_pb2.OrderRecorded(
        customer="customers/c1", external_id="A-1", store="shop", amount=money_pb2.Money(units=30)
    )
    occurrence = occurrence_of(event(order))
    assert occurrence is not None
    assert occurrence.trigger is Trigger.ORDER_RECORDED
    assert occurrence.order_external_id == "A-1"
    assert occurrence.customer_snapshot is None  # none carried: the projection is read

    csat = messaging_events_pb2.CsatSubmitted(
        customer="customers/c1", conversation="conversations/v1", score=2, comment="slow"
    )
    occurrence = occurrence_of(event(csat))
    assert occurrence is not None
    assert (occurrence.trigger, occurrence.facts["csat.score"]) == (Trigger.CSAT_SUBMITTED, 2)

    transitioned = messaging_events_pb2.CaseTransitioned(
        customer="customers/c1",
        case_type=cases_pb2.CASE_TYPE_RETURN,
        from_state=cases_pb2.CASE_STATE_OPEN,
        to_state=cases_pb2.CASE_STATE_IN_REVIEW,
    )
    occurrence = occurrence_of(event(transitioned))
    assert occurrence is not None
    assert (occurrence.facts["case.state"], occurrence.facts["case.previous_state"]) == (
        "in_review",
        "open",
    )


def test_every_action_kind_round_trips_and_becomes_its_event() -> None:
    actions = [
        AddTag(("vip",)),
        RemoveTag(("new",)),
        AdjustScore(5, "nice"),
        SetLifecycleStage("deal"),
        ReplyWithTemplate("replyTemplates/t1", True, {"name": "Ana"}),
        AddNote("call back"),
        Assign(group="groups/g1", strategy="least_busy"),
        Escalate("angry", member="members/m1", priority="urgent"),
        SetPriority("high"),
        SetStatus("in_progress"),
        CreateCase("return", "broken", "high"),
        Notify(("members/m1",), True, "Hi", "Look"),
        CallWebhook("https://hooks.test/x"),
    ]
    expected_types = [
        "rule.action.tag",
        "rule.action.untag",
        "rule.action.score",
        "rule.action.stage",
        "rule.action.reply",
        "rule.action.note",
        "rule.action.assign",
        "rule.action.escalate",
        "rule.action.priority",
        "rule.action.status",
        "rule.action.case",
        "rule.action.notify",
        "rule.action.webhook",
    ]
    for index, (action, event_type) in enumerate(zip(actions, expected_types, strict=True)):
        assert action_from_pb(action_to_pb(action), "a") == action
        proto = action_event_pb(
            ActionRequested("r1", "run1", "customers/c1", "conversations/v1", index, action)
        )
        assert event_type_of(proto).type == event_type
        assert (proto.rule, proto.run, proto.action_index) == (  # type: ignore[attr-defined]
            "rules/r1",
            "rules/r1/runs/run1",
            index,
        )
    escalate = action_event_pb(
        ActionRequested("r1", "run1", "customers/c1", "conversations/v1", 7, actions[7])
    )
    assert isinstance(escalate, rule_events_pb2.RuleActionEscalateRequested)
    assert (escalate.assignee, escalate.priority, escalate.conversation) == (
        "members/m1",
        priority_pb2.PRIORITY_URGENT,
        "conversations/v1",
    )


def test_a_run_and_its_explanation() -> None:
    run = Run(
        id="run1",
        tenant_id="t1",
        rule_id="r1",
        rule_version=3,
        trigger=Trigger.MESSAGE_RECEIVED,
        trigger_event_id="ev1",
        customer="customers/c1",
        conversation="conversations/v1",
        outcome=Outcome.MATCHED,
        summary="condition held",
        facts={"customer.tier": "VIP", "message.text": "hi"},
        trace={
            "field": "customer.tier",
            "operator": "equals",
            "values": ["VIP"],
            "fuzzy": False,
            "actual": ["VIP"],
            "result": True,
            "detail": "customer.tier is 'VIP'",
        },
        actions=(ActionResult(0, "add_note", "rule.action.note", ActionStatus.SUCCEEDED, "e1"),),
        created_at=NOW,
    )
    pb = run_to_pb(run)
    assert pb.name == "rules/r1/runs/run1"
    assert pb.outcome == resources_pb2.RULE_RUN_OUTCOME_MATCHED
    assert pb.action_results[0].status == resources_pb2.ACTION_STATUS_SUCCEEDED
    explained = explanation_to_pb(run)
    assert explained.facts["customer.tier"] == "VIP"
    assert explained.condition_trace.leaf.field == "customer.tier"
    assert list(explained.condition_trace.actual_values) == ["VIP"]
    assert "matched" in explained.summary
