"""What the channel use cases (app/channels.py, app/delivery.py) need from outside.

The adapter every channel implements, ``ChannelAdapter``, is in app/ports.py.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crosstalk_common import unit_of_work
from crosstalk_common.domain.channel import Channel
from messaging.app.ports import MessagesRepository
from messaging.domain.channels import ChannelConfig
from messaging.domain.delivery import DeliveryJob
from messaging.domain.events import MessagingEvent
from messaging.domain.inbound_email import InboundEmail
from messaging.domain.model import TranslationCheck


@dataclass(frozen=True)
class StoredChannelConfig:
    config: ChannelConfig
    sealed_secrets: str  # "" when none were ever set


@dataclass(frozen=True)
class StoredReceipt:
    """An inbound delivery already stored: the message it became."""

    message_id: str
    conversation_id: str


class ChannelConfigsRepository(Protocol):
    async def add(self, stored: StoredChannelConfig) -> None: ...
    async def get(self, tenant_id: str, config_id: str) -> StoredChannelConfig | None: ...
    async def get_for_inbound(self, config_id: str) -> StoredChannelConfig | None:
        """Any tenant's config by id: public inbound routes learn the tenant from it."""
        ...

    async def for_channel(
        self, tenant_id: str, channel: Channel, store: str
    ) -> StoredChannelConfig | None:
        """The tenant's oldest enabled config of the channel (and store, if it has one)."""
        ...

    async def page(
        self, tenant_id: str, *, after: list[str], limit: int
    ) -> list[ChannelConfig]: ...
    async def save(self, stored: StoredChannelConfig, *, expected_version: int) -> bool: ...
    async def delete(self, tenant_id: str, config_id: str, *, expected_version: int) -> bool: ...
    async def record_outcome(
        self, tenant_id: str, config_id: str, *, error: str, at: datetime
    ) -> None:
        """last_error ("" after a success) and last_sync_time, without a new version."""
        ...


class InboundDeliveriesRepository(Protocol):
    """Signed webhook deliveries seen: replays are refused, idempotency keys answered."""

    async def claim(
        self, config_id: str, tenant_id: str, signature: str, idempotency_key: str, at: datetime
    ) -> bool:
        """False when a delivery with the same signature (or key) is recorded already."""
        ...

    async def seen(self, config_id: str, signature: str) -> bool:
        """Whether a delivery with this signature was claimed."""
        ...

    async def settle(self, config_id: str, signature: str, receipt: StoredReceipt) -> None: ...
    async def release(self, config_id: str, signature: str) -> None: ...
    async def by_idempotency_key(self, config_id: str, key: str) -> StoredReceipt | None: ...
    async def prune(self, before: datetime) -> int: ...


@dataclass(frozen=True)
class EmailThread:
    """What an outbound e-mail in a conversation answers (for In-Reply-To, References, Subject)."""

    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    subject: str = ""


@dataclass(frozen=True)
class SentMessage:
    """The stored outbound message, as message.sent describes it."""

    text: str
    language: str
    translated_text: str
    translated_language: str
    sent_by: str
    template: str
    cause_event_id: str
    translation_check: TranslationCheck | None = None


class DeliveriesRepository(Protocol):
    """Outbound deliveries waiting for, or done with, their channel."""

    async def queue(self, job: DeliveryJob, at: datetime) -> bool:
        """False when the message is queued (or done) already."""
        ...

    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[DeliveryJob]:
        """Due deliveries, each leased to the caller until ``lease_until``."""
        ...

    async def retry_later(
        self, tenant_id: str, message_id: str, attempts: int, at: datetime, reason: str
    ) -> None: ...
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
        """Marks the delivery and the message sent or failed; False when it was done already."""
        ...

    async def sent_message(self, tenant_id: str, message_id: str) -> SentMessage | None: ...
    async def thread(self, tenant_id: str, conversation_id: str) -> EmailThread: ...
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
        """Keep an e-mail's Message-ID, In-Reply-To, References and Subject, so replies thread."""
        ...


class ChannelsUnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def messages(self) -> MessagesRepository: ...
    @property
    def channel_configs(self) -> ChannelConfigsRepository: ...
    @property
    def inbound_deliveries(self) -> InboundDeliveriesRepository: ...
    @property
    def deliveries(self) -> DeliveriesRepository: ...

    async def record(self, event: MessagingEvent) -> None: ...


class SecretBox(Protocol):
    """Seals secrets for storage (crosstalk_common.secrets, ADR 0015) and opens them."""

    def seal(self, plaintext: str, *, context: str) -> str: ...
    def open(self, sealed: str, *, context: str) -> str: ...


class InboundIdentity(Protocol):
    """Who an inbound delivery acts as when it asks peers (customers, translation)."""

    def acting_as(self, tenant_id: str, api_key: str) -> AbstractAsyncContextManager[None]:
        """Runs the block as the tenant's API key. Unauthenticated when identity refuses
        the key or it belongs to another tenant; Unavailable when identity cannot answer."""
        ...
