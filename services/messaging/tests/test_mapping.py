"""Messaging's conversions between the domain and the contract's protos."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crosstalk.common.v1 import channel_pb2, text_analysis_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk.messaging.v1 import resources_pb2
from crosstalk.translation.v1 import translation_service_pb2 as tpb
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import InvalidArgument
from messaging.adapters.mapping import (
    event_to_pb,
    inbound_from_pb,
    message_to_pb,
    sender_from_pb,
    understanding_from_analysis,
)
from messaging.domain.events import ConversationOpened, MessageReceived
from messaging.domain.model import Intent, Message, Sender, Understanding

from .fakes import a_message

MESSAGE = a_message("t-1", "c-1", external_id="ext-1", message_id="m-1")


@pytest.mark.parametrize("value", [channel_pb2.CHANNEL_UNSPECIFIED, 999])
def test_a_missing_or_unknown_channel_names_the_field(value: int) -> None:
    with pytest.raises(InvalidArgument) as refused:
        sender_from_pb(channel_pb2.ChannelIdentity(channel=value, external_id="x"), field="sender")  # type: ignore[arg-type]

    assert [v.field for v in refused.value.violations] == ["sender.channel"]


def test_an_ingest_request_becomes_an_inbound_message() -> None:
    request = pb.IngestMessageRequest(
        sender=channel_pb2.ChannelIdentity(
            channel=channel_pb2.CHANNEL_EMAIL, external_id=" ana@b.co ", store=" Shop "
        ),
        text="hello",
        external_id=" ext-1 ",
        sender_display_name="Ana",
        channel_config="channelConfigs/mail",
    )
    request.send_time.FromDatetime(datetime(2026, 12, 6, 8, 0))

    inbound = inbound_from_pb(request)

    assert inbound.sender == Sender(Channel.EMAIL, "ana@b.co", "shop")
    assert (inbound.external_id, inbound.sender_display_name) == ("ext-1", "Ana")
    assert inbound.channel_config == "channelConfigs/mail"
    assert inbound.send_time == datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    assert inbound_from_pb(pb.IngestMessageRequest(sender=request.sender)).send_time is None


def test_a_message_as_the_api_shows_it() -> None:
    shown = message_to_pb(MESSAGE)

    assert shown.name == "conversations/c-1/messages/m-1"
    assert shown.conversation == "conversations/c-1"
    assert shown.sender == channel_pb2.ChannelIdentity(
        channel=channel_pb2.CHANNEL_AMAZON, external_id="A1B2C3", store="amazon.de"
    )
    assert shown.direction == resources_pb2.DIRECTION_INBOUND
    assert shown.create_time.ToDatetime(tzinfo=UTC) == MESSAGE.created_at
    assert shown.sentiment.label == text_analysis_pb2.SENTIMENT_LABEL_NEGATIVE
    assert [(i.intent, i.keyword_set, list(i.matched_keywords)) for i in shown.intents] == [
        ("delivery", "intentKeywordSets/shipping", ["paket", "wo ist"]),
        ("complaint", "", ["immer noch"]),
    ]


def test_a_message_without_sentiment_has_none() -> None:
    shown = message_to_pb(
        Message(**{**MESSAGE.__dict__, "understanding": Understanding(language="de")})
    )

    assert not shown.HasField("sentiment")


def test_events_carry_the_tenant_and_the_contract_payload() -> None:
    tenant, created = event_to_pb(ConversationOpened(MESSAGE))
    _, received = event_to_pb(MessageReceived(MESSAGE))

    assert tenant == "t-1"
    assert created.conversation == "conversations/c-1"  # type: ignore[attr-defined]
    assert created.channel == channel_pb2.CHANNEL_AMAZON  # type: ignore[attr-defined]
    assert received.message == "conversations/c-1/messages/m-1"  # type: ignore[attr-defined]
    assert received.translated_language == "en"  # type: ignore[attr-defined]


def test_an_analysis_becomes_an_understanding_with_one_match_per_intent() -> None:
    analysis = tpb.AnalyzeTextResponse(
        language="de",
        sentiment=text_analysis_pb2.Sentiment(
            score=0.7, label=text_analysis_pb2.SENTIMENT_LABEL_POSITIVE
        ),
        intents=[
            text_analysis_pb2.IntentMatch(
                intent="thanks", matched_keywords=["danke"], confidence=0.5
            ),
            text_analysis_pb2.IntentMatch(
                intent="thanks", matched_keywords=["vielen dank"], confidence=0.9, keyword_set="k/2"
            ),
        ],
    )

    understood = understanding_from_analysis(analysis)

    assert understood == Understanding(
        language="de",
        sentiment_score=pytest.approx(0.7),  # type: ignore[arg-type]
        sentiment_label="positive",
        intents=(Intent("thanks", ("danke", "vielen dank"), 0.9, "k/2"),),
    )


def test_an_empty_analysis_is_an_undetermined_language() -> None:
    assert understanding_from_analysis(tpb.AnalyzeTextResponse()) == Understanding()
