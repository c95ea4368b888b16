"""Messaging use cases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from crosstalk.common.v1 import channel_pb2, text_analysis_pb2
from crosstalk.events.v1 import messaging_events_pb2
from crosstalk_common.clock import utc_now
from messaging.app.ports import (
    CustomerDirectory,
    DuplicateMessage,
    TextUnderstanding,
    UnitOfWork,
)
from messaging.domain.model import Direction, Inbound, Message, Understanding


def message_name(message: Message) -> str:
    return f"conversations/{message.conversation_id}/messages/{message.id}"


@dataclass(frozen=True)
class MessagingService:
    new_uow: Callable[[], UnitOfWork]
    customers: CustomerDirectory
    understanding: TextUnderstanding

    async def ingest(self, tenant_id: str, inbound: Inbound) -> Message:
        """Store an inbound message and announce it (message.received), atomically.

        Re-ingesting the same channel message id returns the stored message.
        """
        inbound = inbound.normalized()
        inbound.validate(utc_now())
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
        understood = await self.understanding.understand(tenant_id, inbound.text)
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
                language=understood.language,
                external_id=inbound.external_id,
                created_at=now,
                understanding=understood,
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
        translated_text=message.understanding.translated_text,
        translated_language=message.understanding.translated_language,
        sentiment=sentiment_pb(message.understanding),
        intents=intents_pb(message.understanding),
    )


def sentiment_pb(understood: Understanding) -> text_analysis_pb2.Sentiment | None:
    if understood.sentiment_score is None:
        return None
    label = f"SENTIMENT_LABEL_{understood.sentiment_label.upper()}"
    return text_analysis_pb2.Sentiment(
        score=understood.sentiment_score,
        label=text_analysis_pb2.SentimentLabel.Value(label)
        if label in text_analysis_pb2.SentimentLabel.DESCRIPTOR.values_by_name
        else text_analysis_pb2.SENTIMENT_LABEL_UNSPECIFIED,
    )


def intents_pb(understood: Understanding) -> list[text_analysis_pb2.IntentMatch]:
    return [
        text_analysis_pb2.IntentMatch(
            intent=i.name,
            keyword_set=i.keyword_set,
            matched_keywords=list(i.keywords),
            confidence=i.confidence,
        )
        for i in understood.intents
    ]
