"""Conversations and messages in SQL, always filtered by tenant."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc
from crosstalk_common.domain.channel import Channel
from messaging.adapters.tables import conversations, messages
from messaging.app.ports import DuplicateMessage
from messaging.domain.model import (
    Direction,
    Intent,
    Message,
    Sender,
    Understanding,
    one_per_intent,
)

OPEN = "unread"
CLOSED = "closed"


class SqlMessagesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find_by_external_id(
        self, tenant_id: str, sender: Sender, external_id: str
    ) -> Message | None:
        row = (
            await self._session.execute(
                select(messages).where(
                    messages.c.tenant_id == tenant_id,
                    messages.c.channel == sender.channel.value,
                    messages.c.store == sender.store,
                    messages.c.external_id == external_id,
                )
            )
        ).first()
        if row is None:
            return None
        return Message(
            id=row.id,
            tenant_id=row.tenant_id,
            conversation_id=row.conversation_id,
            customer=row.customer,
            sender=Sender(Channel(row.channel), row.sender_external_id, row.store),
            direction=Direction(row.direction),
            text=row.text,
            language=row.language,
            external_id=row.external_id,
            created_at=as_utc(row.created_at),
            understanding=Understanding(
                language=row.language,
                translated_text=row.translated_text,
                translated_language=row.translated_language,
                sentiment_score=row.sentiment_score,
                sentiment_label=row.sentiment_label,
                intents=one_per_intent(
                    Intent(
                        i["name"],
                        tuple(i["keywords"]),
                        float(i["confidence"]),
                        i.get("keyword_set", ""),
                    )
                    for i in row.intents
                ),
            ),
        )

    async def open_conversation(
        self, tenant_id: str, customer: str, sender: Sender, at: datetime
    ) -> tuple[str, bool]:
        """The customer's open conversation on this channel, or a new one (True when new)."""
        existing = await self._open_conversation_id(tenant_id, customer, sender)
        if existing is None:
            conversation_id = str(uuid.uuid4())
            try:
                async with self._session.begin_nested():
                    await self._session.execute(
                        insert(conversations).values(
                            id=conversation_id,
                            tenant_id=tenant_id,
                            customer=customer,
                            channel=sender.channel.value,
                            store=sender.store,
                            status=OPEN,
                            last_message_at=at,
                            created_at=at,
                        )
                    )
                return conversation_id, True
            except IntegrityError:
                # Opened concurrently by another message of the same customer.
                existing = await self._open_conversation_id(tenant_id, customer, sender)
                if existing is None:
                    raise
        await self._session.execute(
            update(conversations)
            .where(conversations.c.id == existing)
            .values(last_message_at=at, status=OPEN)
        )
        return existing, False

    async def _open_conversation_id(
        self, tenant_id: str, customer: str, sender: Sender
    ) -> str | None:
        found = await self._session.scalar(
            select(conversations.c.id).where(
                conversations.c.tenant_id == tenant_id,
                conversations.c.customer == customer,
                conversations.c.channel == sender.channel.value,
                conversations.c.store == sender.store,
                conversations.c.status != CLOSED,
            )
        )
        return None if found is None else str(found)

    async def add(self, message: Message) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    insert(messages).values(
                        id=message.id,
                        tenant_id=message.tenant_id,
                        conversation_id=message.conversation_id,
                        customer=message.customer,
                        channel=message.sender.channel.value,
                        store=message.sender.store,
                        sender_external_id=message.sender.external_id,
                        direction=message.direction.value,
                        text=message.text,
                        language=message.language,
                        translated_text=message.understanding.translated_text,
                        translated_language=message.understanding.translated_language,
                        sentiment_score=message.understanding.sentiment_score,
                        sentiment_label=message.understanding.sentiment_label,
                        intents=[
                            {
                                "name": i.name,
                                "keywords": list(i.keywords),
                                "confidence": i.confidence,
                                "keyword_set": i.keyword_set,
                            }
                            for i in message.understanding.intents
                        ],
                        external_id=message.external_id,
                        created_at=message.created_at,
                    )
                )
        except IntegrityError as exc:
            raise DuplicateMessage(message.external_id) from exc
