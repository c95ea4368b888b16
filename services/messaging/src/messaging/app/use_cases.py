"""Messaging use cases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from crosstalk.common.v1 import channel_pb2
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk_common.clock import utc_now
from messaging.app.ports import CustomerDirectory, DuplicateMessage, UnitOfWork
from messaging.domain.model import UNDETERMINED_LANGUAGE, Direction, Inbound, Message


def message_name(message: Message) -> str:
    return f"conversations/{message.conversation_id}/messages/{message.id}"


@dataclass(frozen=True)
class MessagingService:
    new_uow: Callable[[], UnitOfWork]
    customers: CustomerDirectory

    async def ingest(self, tenant_id: str, inbound: Inbound) -> Message:
        """Store an inbound message and announce it (message.received), atomically.

        Re-ingesting the same channel message id returns the stored message.
        """
        inbound.validate()
        if inbound.external_id:
            async with self.new_uow() as uow:
                known = await uow.messages.find_by_external_id(
                    tenant_id, inbound.sender, inbound.external_id
                )
            if known is not None:
                return known
        customer = await self.customers.resolve(
            tenant_id, inbound.sender, inbound.sender_display_name
        )
        now = utc_now()
        async with self.new_uow() as uow:
            conversation_id, opened = await uow.messages.open_conversation(
                tenant_id, customer, inbound.sender, now
            )
            message = Message(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                customer=customer,
                sender=inbound.sender,
                direction=Direction.INBOUND,
                text=inbound.text,
                language=UNDETERMINED_LANGUAGE,
                external_id=inbound.external_id,
                created_at=now,
            )
            try:
                await uow.messages.add(message)
            except DuplicateMessage:
                stored = await uow.messages.find_by_external_id(
                    tenant_id, inbound.sender, inbound.external_id
                )
                if stored is None:
                    raise
                return stored
            if opened:
                await uow.emit(tenant_id, conversation_created_event(message))
            await uow.emit(tenant_id, received_event(message))
            await uow.commit()
        return message


def _sender_pb(message: Message) -> channel_pb2.ChannelIdentity:
    return channel_pb2.ChannelIdentity(
        channel=channel_pb2.Channel.Value(f"CHANNEL_{message.sender.channel.upper()}"),
        external_id=message.sender.external_id,
        store=message.sender.store,
    )


def conversation_created_event(message: Message) -> messaging_events_pb2.ConversationCreated:
    sender = _sender_pb(message)
    return messaging_events_pb2.ConversationCreated(
        conversation=f"conversations/{message.conversation_id}",
        customer=message.customer,
        channel=sender.channel,
        identity=sender,
        language=message.language,
    )


def received_event(message: Message) -> messaging_events_pb2.MessageReceived:
    return messaging_events_pb2.MessageReceived(
        message=message_name(message),
        conversation=f"conversations/{message.conversation_id}",
        customer=message.customer,
        sender=_sender_pb(message),
        text=message.text,
        language=message.language,
    )
