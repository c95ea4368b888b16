"""Channel configs, inbound webhook deliveries, outbound deliveries and e-mail headers
in SQL. Every query names its tenant, except the inbound routes' lookup of a config
by id (they learn the tenant from it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.domain.channel import Channel
from messaging.adapters.outbound_rows import outbound_fields
from messaging.adapters.tables import (
    channel_configs,
    email_headers,
    given,
    messages,
    outbound_deliveries,
    webhook_deliveries,
)
from messaging.app.channel_ports import (
    EmailThread,
    SentMessage,
    StoredChannelConfig,
    StoredReceipt,
)
from messaging.domain.channels import ChannelConfig
from messaging.domain.delivery import DeliveryJob, OutboundMessage
from messaging.domain.inbound_email import InboundEmail
from messaging.domain.model import Sender

QUEUED, SENT, FAILED = "queued", "sent", "failed"


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _config_row(stored: StoredChannelConfig) -> dict[str, Any]:
    config = stored.config
    return {
        "id": config.id,
        "tenant_id": config.tenant_id,
        "channel": config.channel.value,
        "display_name": config.display_name,
        "store": config.store,
        "address": config.address,
        "credentials_ref": config.credentials_ref,
        "enabled": config.enabled,
        "default_language": config.default_language,
        "sealed_secrets": stored.sealed_secrets,
        "secrets_set": sorted(config.secrets_set),
        "last_error": config.last_error,
        "last_sync_at": config.last_sync_at,
        "created_at": config.created_at,
        "updated_at": config.updated_at,
        "version": config.version,
    }


def _config(row: Any) -> StoredChannelConfig:
    return StoredChannelConfig(
        ChannelConfig(
            id=row.id,
            tenant_id=row.tenant_id,
            channel=Channel(row.channel),
            display_name=row.display_name,
            store=row.store,
            address=row.address,
            credentials_ref=row.credentials_ref,
            enabled=bool(row.enabled),
            default_language=row.default_language,
            secrets_set=frozenset(row.secrets_set or ()),
            last_error=row.last_error,
            last_sync_at=as_utc(row.last_sync_at) if row.last_sync_at else None,
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
            version=row.version,
        ),
        row.sealed_secrets,
    )


class SqlChannelConfigs:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, stored: StoredChannelConfig) -> None:
        await self._session.execute(channel_configs.insert().values(**_config_row(stored)))

    async def _one(self, *where: Any) -> StoredChannelConfig | None:
        row = (await self._session.execute(select(channel_configs).where(*where))).first()
        return None if row is None else _config(row)

    async def get(self, tenant_id: str, config_id: str) -> StoredChannelConfig | None:
        return await self._one(
            channel_configs.c.tenant_id == tenant_id, channel_configs.c.id == config_id
        )

    async def get_for_inbound(self, config_id: str) -> StoredChannelConfig | None:
        return await self._one(channel_configs.c.id == config_id)

    async def for_channel(
        self, tenant_id: str, channel: Channel, store: str
    ) -> StoredChannelConfig | None:
        rows = list(
            (
                await self._session.execute(
                    select(channel_configs)
                    .where(
                        channel_configs.c.tenant_id == tenant_id,
                        channel_configs.c.channel == channel.value,
                        channel_configs.c.enabled.is_(True),
                        or_(channel_configs.c.store == store, channel_configs.c.store == ""),
                    )
                    .order_by(channel_configs.c.created_at, channel_configs.c.id)
                )
            ).all()
        )
        # The store's own account first, then one for every store.
        rows.sort(key=lambda r: r.store != store)
        return _config(rows[0]) if rows else None

    async def page(self, tenant_id: str, *, after: list[str], limit: int) -> list[ChannelConfig]:
        query = select(channel_configs).where(channel_configs.c.tenant_id == tenant_id)
        if after:
            query = query.where(
                past(
                    [channel_configs.c.created_at, channel_configs.c.id],
                    [datetime.fromisoformat(after[0]), after[1]],
                )
            )
        query = query.order_by(channel_configs.c.created_at, channel_configs.c.id).limit(limit)
        return [_config(row).config for row in (await self._session.execute(query)).all()]

    async def save(self, stored: StoredChannelConfig, *, expected_version: int) -> bool:
        values = _config_row(stored)
        for key in ("id", "tenant_id", "channel", "created_at"):
            values.pop(key)
        result = await self._session.execute(
            update(channel_configs)
            .where(
                channel_configs.c.tenant_id == stored.config.tenant_id,
                channel_configs.c.id == stored.config.id,
                channel_configs.c.version == expected_version,
            )
            .values(**values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, tenant_id: str, config_id: str, *, expected_version: int) -> bool:
        result = await self._session.execute(
            delete(channel_configs).where(
                channel_configs.c.tenant_id == tenant_id,
                channel_configs.c.id == config_id,
                channel_configs.c.version == expected_version,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def record_outcome(
        self, tenant_id: str, config_id: str, *, error: str, at: datetime
    ) -> None:
        await self._session.execute(
            update(channel_configs)
            .where(channel_configs.c.tenant_id == tenant_id, channel_configs.c.id == config_id)
            .values(last_error=error[:2000], last_sync_at=at)
        )


class SqlInboundDeliveries:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(
        self, config_id: str, tenant_id: str, signature: str, idempotency_key: str, at: datetime
    ) -> bool:
        # DO NOTHING on either key: the signature (a replay) or the idempotency key.
        statement = (
            _insert(self._session)(webhook_deliveries)
            .values(
                channel_config_id=config_id,
                signature=signature,
                tenant_id=tenant_id,
                idempotency_key=idempotency_key,
                received_at=at,
            )
            .on_conflict_do_nothing()
            .returning(webhook_deliveries.c.signature)
        )
        return (await self._session.scalar(statement)) is not None

    async def seen(self, config_id: str, signature: str) -> bool:
        found = await self._session.scalar(
            select(webhook_deliveries.c.signature).where(
                webhook_deliveries.c.channel_config_id == config_id,
                webhook_deliveries.c.signature == signature,
            )
        )
        return found is not None

    async def settle(self, config_id: str, signature: str, receipt: StoredReceipt) -> None:
        await self._session.execute(
            update(webhook_deliveries)
            .where(
                webhook_deliveries.c.channel_config_id == config_id,
                webhook_deliveries.c.signature == signature,
            )
            .values(message_id=receipt.message_id, conversation_id=receipt.conversation_id)
        )

    async def release(self, config_id: str, signature: str) -> None:
        await self._session.execute(
            delete(webhook_deliveries).where(
                webhook_deliveries.c.channel_config_id == config_id,
                webhook_deliveries.c.signature == signature,
                webhook_deliveries.c.message_id == "",
            )
        )

    async def by_idempotency_key(self, config_id: str, key: str) -> StoredReceipt | None:
        row = (
            await self._session.execute(
                select(webhook_deliveries.c.message_id, webhook_deliveries.c.conversation_id).where(
                    webhook_deliveries.c.channel_config_id == config_id,
                    webhook_deliveries.c.idempotency_key == key,
                    given(webhook_deliveries.c.idempotency_key),
                    webhook_deliveries.c.message_id != "",
                )
            )
        ).first()
        return None if row is None else StoredReceipt(row.message_id, row.conversation_id)

    async def prune(self, before: datetime) -> int:
        result = await self._session.execute(
            delete(webhook_deliveries).where(webhook_deliveries.c.received_at < before)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


def _job(row: Any) -> DeliveryJob:
    return DeliveryJob(
        outbound=OutboundMessage(
            tenant_id=row.tenant_id,
            message_id=row.message_id,
            conversation_id=row.conversation_id,
            customer=row.customer,
            recipient=Sender(Channel(row.channel), row.recipient, row.store),
            text=row.text,
            language=row.language,
            subject=row.subject,
            in_reply_to=row.in_reply_to,
        ),
        channel_config_id=row.channel_config_id,
        attempts=row.attempts,
        cause_event_id=row.cause_event_id,
    )


# The message's delivery columns, once the replies area's migration (0004) has them.
_DELIVERY_STATE = messages.c.get("delivery_state")
_DELIVERY_ERROR = messages.c.get("delivery_error")


class SqlDeliveries:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def queue(self, job: DeliveryJob, at: datetime) -> bool:
        out = job.outbound
        statement = (
            _insert(self._session)(outbound_deliveries)
            .values(
                message_id=out.message_id,
                tenant_id=out.tenant_id,
                conversation_id=out.conversation_id,
                customer=out.customer,
                channel_config_id=job.channel_config_id,
                channel=out.recipient.channel.value,
                store=out.recipient.store,
                recipient=out.recipient.external_id,
                text=out.text,
                language=out.language,
                subject=out.subject[:500],
                in_reply_to=out.in_reply_to[:200],
                cause_event_id=job.cause_event_id,
                state=QUEUED,
                attempts=0,
                next_attempt_at=at,
                created_at=at,
                updated_at=at,
            )
            .on_conflict_do_nothing()
            .returning(outbound_deliveries.c.message_id)
        )
        return (await self._session.scalar(statement)) is not None

    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[DeliveryJob]:
        due = (
            select(outbound_deliveries.c.message_id)
            .where(
                outbound_deliveries.c.state == QUEUED,
                outbound_deliveries.c.next_attempt_at <= now,
                or_(
                    outbound_deliveries.c.lease_until.is_(None),
                    outbound_deliveries.c.lease_until < now,
                ),
            )
            .order_by(outbound_deliveries.c.next_attempt_at)
            .limit(limit)
        )
        ids = list((await self._session.execute(due)).scalars())
        if not ids:
            return []
        # Lease each one unless another worker did in between (same condition again).
        claimed = await self._session.execute(
            update(outbound_deliveries)
            .where(
                outbound_deliveries.c.message_id.in_(ids),
                outbound_deliveries.c.state == QUEUED,
                or_(
                    outbound_deliveries.c.lease_until.is_(None),
                    outbound_deliveries.c.lease_until < now,
                ),
            )
            .values(lease_until=lease_until)
            .returning(*outbound_deliveries.c)
        )
        return [_job(row) for row in claimed.all()]

    async def retry_later(
        self, tenant_id: str, message_id: str, attempts: int, at: datetime, reason: str
    ) -> None:
        await self._session.execute(
            update(outbound_deliveries)
            .where(
                outbound_deliveries.c.tenant_id == tenant_id,
                outbound_deliveries.c.message_id == message_id,
                outbound_deliveries.c.state == QUEUED,
            )
            .values(
                attempts=attempts,
                next_attempt_at=at,
                lease_until=None,
                last_error=reason[:2000],
                updated_at=at,
            )
        )

    async def finish(
        self,
        tenant_id: str,
        message_id: str,
        *,
        attempts: int,
        sent: bool,
        reason: str,
        external_id: str,
        at: datetime,
    ) -> bool:
        result = await self._session.execute(
            update(outbound_deliveries)
            .where(
                outbound_deliveries.c.tenant_id == tenant_id,
                outbound_deliveries.c.message_id == message_id,
                outbound_deliveries.c.state == QUEUED,
            )
            .values(
                state=SENT if sent else FAILED,
                attempts=attempts,
                lease_until=None,
                last_error=reason[:2000],
                external_id=external_id[:200],
                updated_at=at,
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        changes: dict[str, Any] = {}
        if _DELIVERY_STATE is not None:
            changes[_DELIVERY_STATE.name] = SENT if sent else FAILED
        if _DELIVERY_ERROR is not None:
            changes[_DELIVERY_ERROR.name] = reason[:2000]
        if sent and external_id:
            changes["external_id"] = external_id[:200]
        if changes:
            await self._session.execute(
                update(messages)
                .where(messages.c.tenant_id == tenant_id, messages.c.id == message_id)
                .values(**changes)
            )
        return True

    async def sent_message(self, tenant_id: str, message_id: str) -> SentMessage | None:
        row = (
            await self._session.execute(
                select(messages).where(
                    messages.c.tenant_id == tenant_id, messages.c.id == message_id
                )
            )
        ).first()
        if row is None:
            return None
        values = row._mapping
        return SentMessage(
            text=values["text"],
            language=values["language"],
            translated_text=values.get("translated_text", ""),
            translated_language=values.get("translated_language", ""),
            sent_by=values.get("sent_by", ""),
            template=values.get("template", ""),
            cause_event_id=values.get("cause_event_id", ""),
            translation_check=outbound_fields(row)["translation_check"],
        )

    async def thread(self, tenant_id: str, conversation_id: str) -> EmailThread:
        row = (
            await self._session.execute(
                select(email_headers)
                .where(
                    email_headers.c.tenant_id == tenant_id,
                    email_headers.c.conversation_id == conversation_id,
                    email_headers.c.direction == "inbound",
                )
                .order_by(email_headers.c.created_at.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return EmailThread()
        references = tuple(row.references or ())
        if row.rfc_message_id and row.rfc_message_id not in references:
            references = (*references, row.rfc_message_id)
        return EmailThread(row.rfc_message_id, references[-20:], row.subject)

    async def record_email(
        self,
        tenant_id: str,
        message_id: str,
        conversation_id: str,
        email: InboundEmail | None,
        *,
        rfc_message_id: str,
        subject: str,
        at: datetime,
    ) -> None:
        statement = (
            _insert(self._session)(email_headers)
            .values(
                message_id=message_id,
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                direction="inbound" if email is not None else "outbound",
                rfc_message_id=rfc_message_id[:200],
                in_reply_to=(email.in_reply_to if email else "")[:200],
                references=list(email.references[-20:]) if email else [],
                subject=subject[:500],
                created_at=at,
            )
            .on_conflict_do_nothing()
        )
        await self._session.execute(statement)


def keyset_of(config: ChannelConfig) -> list[str]:
    """A config's position in list order (created_at, id), as page tokens carry it."""
    assert config.created_at is not None
    return [config.created_at.isoformat(), config.id]


__all__ = [
    "SqlChannelConfigs",
    "SqlDeliveries",
    "SqlInboundDeliveries",
    "keyset_of",
]
