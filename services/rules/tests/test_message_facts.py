"""What a rule's condition reads of a received message."""

from __future__ import annotations

from datetime import UTC, datetime

from crosstalk.common.v1 import channel_pb2, text_analysis_pb2
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk_common.bus.envelope import Event, new_envelope
from rules.adapters.conditions import MESSAGE_FIELDS
from rules.adapters.mapping import message_facts, message_received
from rules.domain.model import Trigger


def test_a_message_gives_every_field_a_condition_may_name() -> None:
    message = messaging_events_pb2.MessageReceived(
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
            text_analysis_pb2.IntentMatch(intent="shipping_delay"),
            text_analysis_pb2.IntentMatch(intent="refund"),
        ],
    )
    facts = message_facts(message)
    assert set(facts) == set(MESSAGE_FIELDS)
    assert facts == {
        "text": "Wo ist mein Paket?",
        "language": "de",
        "channel": "web_chat",
        "store": "de-shop",
        "translated_text": "Where is my parcel?",
        "sentiment": -0.5,
        "intents": frozenset({"shipping_delay", "refund"}),
    }


def test_an_unscored_message_has_no_sentiment_rather_than_a_neutral_one() -> None:
    message = messaging_events_pb2.MessageReceived(sentiment=text_analysis_pb2.Sentiment(score=0.0))
    assert message_facts(message)["sentiment"] is None
    assert message_facts(messaging_events_pb2.MessageReceived())["sentiment"] is None


def test_the_event_becomes_a_message_received_occurrence_for_its_customer() -> None:
    message = messaging_events_pb2.MessageReceived(customer="customers/c1", text="hi")
    _, envelope = new_envelope("t1", message, occurred_at=datetime.now(UTC), trace_context={})
    occurrence = message_received(Event(envelope, message), message)
    assert (occurrence.tenant_id, occurrence.trigger, occurrence.customer) == (
        "t1",
        Trigger.MESSAGE_RECEIVED,
        "customers/c1",
    )
    assert occurrence.event_id == envelope.event_id
    assert occurrence.facts["text"] == "hi"


def test_a_message_without_a_channel_has_no_channel_fact() -> None:
    message = messaging_events_pb2.MessageReceived(customer="customers/c1", text="hi")
    assert message_facts(message)["channel"] is None
