"""Every conversion between messaging's domain and the protos of the contract."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from google.protobuf.message import Message as ProtoMessage

from crosstalk.common.v1 import channel_pb2, text_analysis_pb2
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk.messaging.v1 import resources_pb2
from crosstalk.translation.v1 import translation_service_pb2 as tpb
from crosstalk_common.api.channels import channel_from_pb, channel_to_pb
from crosstalk_common.api.timestamps import from_timestamp, to_timestamp
from crosstalk_common.errors import InvalidArgument
from messaging.adapters import (
    case_mapping,
    channel_mapping,
    conversation_mapping,
    reply_mapping,
    template_mapping,
)
from messaging.adapters.rule_action_mapping import rule_action_completed_pb
from messaging.domain.events import (
    CaseOpened,
    CaseTransitioned,
    ConversationAssigned,
    ConversationOpened,
    ConversationPriorityChanged,
    ConversationStatusChanged,
    CsatSubmitted,
    DeliveryRequested,
    MessageDeliveryFailed,
    MessageReceived,
    MessageSent,
    MessagingEvent,
    RuleActionCompleted,
)
from messaging.domain.model import (
    UNDETERMINED_LANGUAGE,
    Attachment,
    Direction,
    Inbound,
    Intent,
    Message,
    Sender,
    Understanding,
    one_per_intent,
)

_SENTIMENT_PREFIX = "SENTIMENT_LABEL_"


# --- resource names -------------------------------------------------------------------


def conversation_name(conversation_id: str) -> str:
    return f"conversations/{conversation_id}"


def message_name(message: Message) -> str:
    return f"{conversation_name(message.conversation_id)}/messages/{message.id}"


# --- senders ---------------------------------------------------------------------------


def sender_to_pb(sender: Sender) -> channel_pb2.ChannelIdentity:
    return channel_pb2.ChannelIdentity(
        channel=channel_to_pb(sender.channel),
        external_id=sender.external_id,
        store=sender.store,
    )


def sender_from_pb(identity: channel_pb2.ChannelIdentity, *, field: str) -> Sender:
    channel = channel_from_pb(identity.channel, field=f"{field}.channel")
    return Sender(channel, identity.external_id.strip(), identity.store.strip().lower())


# --- the MessagingService API ---------------------------------------------------------


def send_time_from_pb(request: pb.IngestMessageRequest) -> datetime | None:
    if not request.HasField("send_time"):
        return None
    try:
        return from_timestamp(request.send_time)
    except (ValueError, OverflowError):  # beyond year 9999, or nanos out of range
        raise InvalidArgument.field("send_time", "is not a valid timestamp") from None


def inbound_from_pb(request: pb.IngestMessageRequest) -> Inbound:
    return Inbound(
        sender=sender_from_pb(request.sender, field="sender"),
        text=request.text,
        external_id=request.external_id.strip(),
        sender_display_name=request.sender_display_name,
        channel_config=request.channel_config,
        send_time=send_time_from_pb(request),
        attachments=tuple(attachment_from_pb(a) for a in request.attachments),
        subject=request.subject.strip(),
    )


def attachment_from_pb(attachment: resources_pb2.Attachment) -> Attachment:
    return Attachment(
        name=attachment.name.strip(),
        content_type=attachment.content_type.strip().lower(),
        size_bytes=attachment.size_bytes,
        uri=attachment.uri.strip(),
    )


def attachment_to_pb(attachment: Attachment) -> resources_pb2.Attachment:
    return resources_pb2.Attachment(
        name=attachment.name,
        content_type=attachment.content_type,
        size_bytes=attachment.size_bytes,
        uri=attachment.uri,
    )


class _MessageFields(TypedDict):
    """The fields the API's Message and the message.received event both carry."""

    conversation: str
    customer: str
    sender: channel_pb2.ChannelIdentity
    text: str
    language: str
    translated_text: str
    translated_language: str
    sentiment: text_analysis_pb2.Sentiment | None
    intents: list[text_analysis_pb2.IntentMatch]


def _message_fields(message: Message) -> _MessageFields:
    return _MessageFields(
        conversation=conversation_name(message.conversation_id),
        customer=message.customer,
        sender=sender_to_pb(message.sender),
        text=message.text,
        language=message.language,
        translated_text=message.understanding.translated_text,
        translated_language=message.understanding.translated_language,
        sentiment=sentiment_to_pb(message.understanding),
        intents=intents_to_pb(message.understanding),
    )


def message_to_pb(message: Message) -> resources_pb2.Message:
    return resources_pb2.Message(
        name=message_name(message),
        direction=resources_pb2.DIRECTION_INBOUND
        if message.direction is Direction.INBOUND
        else resources_pb2.DIRECTION_OUTBOUND,
        external_id=message.external_id,
        create_time=to_timestamp(message.created_at),
        **_message_fields(message),
        **{
            "sent_by": message.sent_by,
            "internal_note": message.internal_note,
            "attachments": [attachment_to_pb(a) for a in message.attachments],
            **reply_mapping.outbound_message_fields(message),
        },
    )


# --- what translation made of a text --------------------------------------------------


def sentiment_to_pb(understood: Understanding) -> text_analysis_pb2.Sentiment | None:
    if understood.sentiment_score is None:
        return None
    label = f"{_SENTIMENT_PREFIX}{understood.sentiment_label.upper()}"
    return text_analysis_pb2.Sentiment(
        score=understood.sentiment_score,
        label=text_analysis_pb2.SentimentLabel.Value(label)
        if label in text_analysis_pb2.SentimentLabel.DESCRIPTOR.values_by_name
        else text_analysis_pb2.SENTIMENT_LABEL_UNSPECIFIED,
    )


def intents_to_pb(understood: Understanding) -> list[text_analysis_pb2.IntentMatch]:
    return [
        text_analysis_pb2.IntentMatch(
            intent=i.name,
            keyword_set=i.keyword_set,
            matched_keywords=list(i.keywords),
            confidence=i.confidence,
        )
        for i in understood.intents
    ]


def understanding_from_analysis(analysis: tpb.AnalyzeTextResponse) -> Understanding:
    """Language (``und`` when translation could not tell), sentiment and intents; no translation."""
    has_sentiment = (
        analysis.HasField("sentiment")
        and analysis.sentiment.label != text_analysis_pb2.SENTIMENT_LABEL_UNSPECIFIED
    )
    label = (
        text_analysis_pb2.SentimentLabel.Name(analysis.sentiment.label)
        .removeprefix(_SENTIMENT_PREFIX)
        .lower()
        if has_sentiment
        else ""
    )
    return Understanding(
        language=analysis.language or UNDETERMINED_LANGUAGE,
        sentiment_score=analysis.sentiment.score if has_sentiment else None,
        sentiment_label=label,
        intents=one_per_intent(
            Intent(i.intent, tuple(i.matched_keywords), i.confidence, i.keyword_set)
            for i in analysis.intents
        ),
    )


# --- events ---------------------------------------------------------------------------


def conversation_created_pb(
    message: Message, channel_config: str = ""
) -> messaging_events_pb2.ConversationCreated:
    sender = sender_to_pb(message.sender)
    return messaging_events_pb2.ConversationCreated(
        conversation=conversation_name(message.conversation_id),
        customer=message.customer,
        channel=sender.channel,
        identity=sender,
        language=message.language,
        channel_config=channel_config,
    )


def message_received_pb(event: MessageReceived) -> messaging_events_pb2.MessageReceived:
    message = event.message
    received = messaging_events_pb2.MessageReceived(
        message=message_name(message),
        has_attachment=bool(message.attachments),
        attachments=[attachment_to_pb(a) for a in message.attachments],
        **_message_fields(message),
    )
    if event.conversation is not None:
        received.channel_config = event.conversation.channel_config
        conversation_mapping.add_conversation_facts(received, event.conversation, event.label_names)
    return received


def event_to_pb(event: MessagingEvent) -> tuple[str, ProtoMessage]:
    """The tenant the event belongs to, and the event as the contract spells it."""
    match event:
        case ConversationOpened(first_message=message, channel_config=channel_config):
            return message.tenant_id, conversation_created_pb(message, channel_config)
        case MessageReceived(message=message):
            return message.tenant_id, message_received_pb(event)
        case ConversationStatusChanged(conversation=c, change=change):
            return c.tenant_id, conversation_mapping.status_changed_pb(
                c, change, event.cause_event_id
            )
        case ConversationPriorityChanged(conversation=c, change=change):
            return c.tenant_id, conversation_mapping.priority_changed_pb(
                c, change, event.cause_event_id
            )
        case ConversationAssigned(conversation=c, change=change):
            return c.tenant_id, conversation_mapping.assigned_pb(c, change, event.cause_event_id)
        case CaseOpened(case=case):
            return case.tenant_id, case_mapping.case_opened_pb(event)
        case CaseTransitioned(case=case):
            return case.tenant_id, case_mapping.case_transitioned_pb(event)
        case RuleActionCompleted(key=key):
            return key.tenant_id, rule_action_completed_pb(event)
        case CsatSubmitted(survey=survey):
            return survey.tenant_id, template_mapping.csat_submitted_pb(event)
        case DeliveryRequested(message=message):
            return message.tenant_id, reply_mapping.delivery_requested_pb(event)
        case MessageSent(tenant_id=tenant_id):
            return tenant_id, channel_mapping.message_sent_pb(event)
        case MessageDeliveryFailed(tenant_id=tenant_id):
            return tenant_id, channel_mapping.delivery_failed_pb(event)
