"""message.delivery_requested -> a queued delivery (app/delivery.py), in the consumer's
transaction: the queued row commits with the inbox entry, so a redelivered event
queues nothing (and the row is keyed by the message besides)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from crosstalk.events.v1 import messaging_events_pb2
from crosstalk_common.api.channels import channel_from_pb
from crosstalk_common.api.resource_names import resource_id
from crosstalk_common.bus.consumer import Subscription
from crosstalk_common.bus.envelope import Event
from crosstalk_common.errors import InvalidArgument
from messaging.app.channel_ports import ChannelsUnitOfWork
from messaging.app.conversation_ports import ConversationUnitOfWork
from messaging.app.conversations import ConversationService
from messaging.app.delivery import flag_failed_delivery, queue_delivery
from messaging.domain.delivery import DeliveryJob, OutboundMessage
from messaging.domain.model import Sender

log = logging.getLogger(__name__)
W = TypeVar("W", bound=ChannelsUnitOfWork)

DELIVERY_REQUESTS = Subscription(
    durable="messaging-delivery-requests",
    producer="messaging",
    event_types=["message.delivery_requested"],
)


def delivery_job_from_event(event: Event) -> DeliveryJob | None:
    """The delivery an event asks for; None (logged) when it names no message or channel."""
    payload = event.payload
    if not isinstance(payload, messaging_events_pb2.MessageDeliveryRequested):
        return None
    try:
        parts = payload.message.split("/")
        if len(parts) != 4 or parts[0] != "conversations" or parts[2] != "messages":
            raise InvalidArgument.field("message", "must be conversations/{c}/messages/{m}")
        channel = channel_from_pb(payload.recipient.channel, field="recipient.channel")
        config_id = (
            resource_id(payload.channel_config, "channelConfigs", field="channel_config")
            if payload.channel_config
            else ""
        )
    except InvalidArgument as exc:
        log.warning("message.delivery_requested %s skipped: %s", event.event_id, exc)
        return None
    return DeliveryJob(
        outbound=OutboundMessage(
            tenant_id=event.tenant_id,
            message_id=parts[3],
            conversation_id=parts[1],
            customer=payload.customer,
            recipient=Sender(channel, payload.recipient.external_id, payload.recipient.store),
            text=payload.text,
            language=payload.language,
            subject=payload.subject,
            in_reply_to=payload.in_reply_to,
        ),
        channel_config_id=config_id,
        attempts=0,
        cause_event_id=event.event_id,
    )


def on_delivery_requested(
    nudge: Callable[[], None],
) -> Callable[[Callable[[], W], Event], Awaitable[None]]:
    async def handle(new_uow: Callable[[], W], event: Event) -> None:
        job = delivery_job_from_event(event)
        if job is not None and await queue_delivery(new_uow, job):
            nudge()  # the worker looks again (the row is visible once this commits)

    return handle


DELIVERY_FAILURES = Subscription(
    durable="messaging-delivery-failures",
    producer="messaging",
    event_types=["message.delivery_failed"],
)


async def on_delivery_failed(new_uow: Callable[[], ConversationUnitOfWork], event: Event) -> None:
    payload = event.payload
    if not isinstance(payload, messaging_events_pb2.MessageDeliveryFailed):
        return
    try:
        conversation_id = resource_id(payload.conversation, "conversations", field="conversation")
    except InvalidArgument:
        log.warning("message.delivery_failed %s names no conversation", event.event_id)
        return
    await flag_failed_delivery(
        ConversationService(new_uow), event.tenant_id, conversation_id, event.event_id
    )
