"""MessagingService over gRPC: proto mapping only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from crosstalk.common.v1 import channel_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk.messaging.v1 import messaging_service_pb2_grpc as pb_grpc
from crosstalk.messaging.v1 import resources_pb2
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from messaging.app.use_cases import MessagingService, intents_pb, message_name, sentiment_pb
from messaging.domain.model import Direction, Inbound, Message, Sender

Context = Any


def sender_from_pb(pb_sender: channel_pb2.ChannelIdentity, *, field: str) -> Sender:
    if (
        pb_sender.channel == channel_pb2.CHANNEL_UNSPECIFIED
        or pb_sender.channel not in channel_pb2.Channel.values()
    ):
        raise InvalidArgument(
            [FieldViolation(f"{field}.channel", "a channel is required (e.g. CHANNEL_EMAIL)")]
        )
    channel = channel_pb2.Channel.Name(pb_sender.channel).removeprefix("CHANNEL_").lower()
    return Sender(channel, pb_sender.external_id.strip(), pb_sender.store.strip().lower())


def send_time_from_pb(request: pb.IngestMessageRequest) -> datetime | None:
    if not request.HasField("send_time"):
        return None
    try:
        return request.send_time.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):  # beyond year 9999, or nanos out of range
        raise InvalidArgument.field("send_time", "is not a valid timestamp") from None


def message_to_pb(message: Message) -> resources_pb2.Message:
    stamp = Timestamp()
    stamp.FromDatetime(message.created_at)
    return resources_pb2.Message(
        name=message_name(message),
        conversation=f"conversations/{message.conversation_id}",
        customer=message.customer,
        sender=channel_pb2.ChannelIdentity(
            channel=channel_pb2.Channel.Value(f"CHANNEL_{message.sender.channel.upper()}"),
            external_id=message.sender.external_id,
            store=message.sender.store,
        ),
        direction=resources_pb2.DIRECTION_INBOUND
        if message.direction is Direction.INBOUND
        else resources_pb2.DIRECTION_OUTBOUND,
        text=message.text,
        language=message.language,
        external_id=message.external_id,
        create_time=stamp,
        translated_text=message.understanding.translated_text,
        translated_language=message.understanding.translated_language,
        sentiment=sentiment_pb(message.understanding),
        intents=intents_pb(message.understanding),
    )


class MessagingServicer(pb_grpc.MessagingServiceServicer):
    def __init__(self, service: MessagingService) -> None:
        self._service = service

    async def IngestMessage(
        self, request: pb.IngestMessageRequest, context: Context
    ) -> resources_pb2.Message:
        caller = require_caller(context)
        inbound = Inbound(
            sender=sender_from_pb(request.sender, field="sender"),
            text=request.text,
            external_id=request.external_id.strip(),
            sender_display_name=request.sender_display_name,
            channel_config=request.channel_config,
            send_time=send_time_from_pb(request),
        )
        return message_to_pb(await self._service.ingest(caller.tenant_id, inbound))
