"""Outbound messages, messaging settings and translation settings in SQL (always by tenant)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.domain.channel import Channel
from messaging.adapters.outbound_rows import outbound_values
from messaging.adapters.repository_conversations import message_from_row
from messaging.adapters.tables import (
    conversations,
    given,
    messages,
    messaging_settings,
    translation_settings,
)
from messaging.domain.model import DeliveryState, Direction, Message
from messaging.domain.replies import MessagingSettings, TranslationMode, TranslationSetting

M = messages.c
_DRAFT = DeliveryState.DRAFT.value


def _dialect(session: AsyncSession) -> Any:
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


class SqlRepliesRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._insert = _dialect(session).insert

    async def find_by_request_id(self, tenant_id: str, request_id: str) -> Message | None:
        row = (
            await self._session.execute(
                select(messages).where(
                    M.tenant_id == tenant_id, M.request_id == request_id, given(M.request_id)
                )
            )
        ).first()
        return None if row is None else message_from_row(row)

    async def add_outbound(self, message: Message) -> bool:
        """One statement: a request id taken by another message inserts nothing (ON CONFLICT
        on the partial unique index uq_messages_request_id)."""
        values = {
            "id": message.id,
            "tenant_id": message.tenant_id,
            "conversation_id": message.conversation_id,
            "customer": message.customer,
            "channel": message.sender.channel.value,
            "store": message.sender.store,
            "sender_external_id": message.sender.external_id,
            "direction": message.direction.value,
            "text": message.text,
            "language": message.language,
            "translated_text": message.understanding.translated_text,
            "translated_language": message.understanding.translated_language,
            "sentiment_score": None,
            "sentiment_label": "",
            "intents": [],
            "external_id": "",
            "created_at": message.created_at,
            "internal_note": False,
            "sent_by": message.sent_by,
            **outbound_values(message),
        }
        statement = self._insert(messages).values(**values)
        if message.request_id:
            statement = statement.on_conflict_do_nothing(
                index_elements=[M.tenant_id, M.request_id],
                index_where=M.request_id != literal_column("''"),
            )
        stored = await self._session.scalar(statement.returning(M.id))
        return stored is not None

    async def get_outbound(
        self, tenant_id: str, conversation_id: str, message_id: str
    ) -> Message | None:
        row = (
            await self._session.execute(
                select(messages).where(
                    M.tenant_id == tenant_id,
                    M.conversation_id == conversation_id,
                    M.id == message_id,
                    M.direction == Direction.OUTBOUND.value,
                    M.internal_note.is_(False),
                )
            )
        ).first()
        return None if row is None else message_from_row(row)

    async def queue_draft(self, message: Message) -> bool:
        values = outbound_values(message)
        values.pop("request_id")
        result = await self._session.execute(
            update(messages)
            .where(
                M.tenant_id == message.tenant_id,
                M.conversation_id == message.conversation_id,
                M.id == message.id,
                M.delivery_state == _DRAFT,
            )
            .values(
                text=message.text,
                translated_text=message.understanding.translated_text,
                translated_language=message.understanding.translated_language,
                sent_by=message.sent_by,
                created_at=message.created_at,
                **values,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def delete_draft(self, tenant_id: str, conversation_id: str, message_id: str) -> bool:
        result = await self._session.execute(
            delete(messages).where(
                M.tenant_id == tenant_id,
                M.conversation_id == conversation_id,
                M.id == message_id,
                M.delivery_state == _DRAFT,
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def last_inbound_external_id(self, tenant_id: str, conversation_id: str) -> str:
        found = await self._session.scalar(
            select(M.external_id)
            .where(
                M.tenant_id == tenant_id,
                M.conversation_id == conversation_id,
                M.direction == Direction.INBOUND.value,
            )
            .order_by(M.created_at.desc(), M.id.desc())
            .limit(1)
        )
        return str(found or "")

    async def latest_conversation_id(
        self, tenant_id: str, customer: str, channel: Channel | None
    ) -> str | None:
        c = conversations.c
        query = select(c.id).where(c.tenant_id == tenant_id, c.customer == customer)
        if channel is not None:
            query = query.where(c.channel == channel.value)
        found = await self._session.scalar(
            query.order_by(c.last_message_at.desc(), c.id.desc()).limit(1)
        )
        return None if found is None else str(found)


# --- settings --------------------------------------------------------------------------

S = messaging_settings.c


class SqlMessagingSettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._insert = _dialect(session).insert

    async def get(self, tenant_id: str, *, for_update: bool = False) -> MessagingSettings:
        query = select(messaging_settings).where(S.tenant_id == tenant_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        if row is None:
            return MessagingSettings(tenant_id)
        return MessagingSettings(
            tenant_id=tenant_id,
            reply_similarity_threshold=float(row.reply_similarity_threshold),
            max_inbound_text_bytes=int(row.max_inbound_text_bytes),
            send_csat_on_close=bool(row.send_csat_on_close),
            auto_translate=bool(row.auto_translate),
            updated_at=as_utc(row.updated_at),
        )

    async def save(self, settings: MessagingSettings) -> None:
        values = {
            "reply_similarity_threshold": settings.reply_similarity_threshold,
            "max_inbound_text_bytes": settings.max_inbound_text_bytes,
            "send_csat_on_close": settings.send_csat_on_close,
            "auto_translate": settings.auto_translate,
            "updated_at": settings.updated_at,
        }
        statement = self._insert(messaging_settings).values(tenant_id=settings.tenant_id, **values)
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=[S.tenant_id], set_=values)
        )


T = translation_settings.c


def _setting(row: Any) -> TranslationSetting:
    return TranslationSetting(
        id=row.id,
        tenant_id=row.tenant_id,
        subject=row.subject,
        mode=TranslationMode(row.mode) if row.mode else None,
        target_language=row.target_language,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


class SqlTranslationSettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._insert = _dialect(session).insert

    async def of_subjects(
        self, tenant_id: str, subjects: Sequence[str]
    ) -> list[TranslationSetting]:
        if not subjects:
            return []
        rows = await self._session.execute(
            select(translation_settings)
            .where(T.tenant_id == tenant_id, T.subject.in_(list(subjects)))
            .order_by(T.created_at, T.id)
        )
        return [_setting(r) for r in rows]

    async def has_tag_settings(self, tenant_id: str) -> bool:
        found = await self._session.scalar(
            select(exists().where(T.tenant_id == tenant_id, T.subject.startswith("tags/")))
        )
        return bool(found)

    async def put(self, setting: TranslationSetting) -> TranslationSetting:
        changed = {
            "mode": setting.mode.value if setting.mode else "",
            "target_language": setting.target_language,
            "updated_at": setting.updated_at,
        }
        statement = self._insert(translation_settings).values(
            id=setting.id,
            tenant_id=setting.tenant_id,
            subject=setting.subject,
            created_at=setting.created_at,
            **changed,
        )
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=[T.tenant_id, T.subject], set_=changed)
        )
        stored = await self.of_subjects(setting.tenant_id, [setting.subject])
        return stored[0]

    async def page(
        self, tenant_id: str, subject: str, after: Sequence[str], limit: int
    ) -> list[TranslationSetting]:
        query = select(translation_settings).where(T.tenant_id == tenant_id)
        if subject:
            query = query.where(T.subject == subject)
        order = (T.created_at, T.id)
        if after:
            query = query.where(past(order, [datetime.fromisoformat(after[0]), after[1]]))
        rows = await self._session.execute(query.order_by(*order).limit(limit))
        return [_setting(r) for r in rows]

    async def delete(self, tenant_id: str, setting_id: str) -> bool:
        result = await self._session.execute(
            delete(translation_settings).where(T.tenant_id == tenant_id, T.id == setting_id)
        )
        return bool(getattr(result, "rowcount", 0))
