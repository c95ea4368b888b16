"""What replies, proactive messages and settings need from outside (see ports.py for the
rest of messaging's ports).

The messaging settings repository (``MessagingSettingsRepository``, on the unit of work as
``settings``) is shared: any use case reads a tenant's settings with
``await uow.settings.get(tenant_id)`` (the defaults when the tenant changed none).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from crosstalk_common.domain.channel import Channel
from messaging.app.conversation_ports import ConversationUnitOfWork
from messaging.app.template_ports import TemplatesRepository
from messaging.domain.events import MessagingEvent
from messaging.domain.model import Message
from messaging.domain.replies import (
    CustomerProfile,
    MessagingSettings,
    TranslationSetting,
)


@dataclass(frozen=True)
class BackTranslation:
    """A text translated, and translated back."""

    translated_text: str
    back_translated_text: str
    similarity: float
    engine: str


class BackTranslationPort(Protocol):
    async def back_translate(self, text: str, source: str, target: str) -> BackTranslation:
        """``text`` (in ``source``; detected when "") in ``target``, and back. The tenant's
        glossary and do-not-translate terms apply. Raises ServiceUnavailable."""
        ...


class CustomerProfiles(Protocol):
    async def profile(self, tenant_id: str, customer: str) -> CustomerProfile:
        """The customer as the caller may see it; NOT_FOUND (a DomainError) when not."""
        ...


class RepliesRepository(Protocol):
    """Outbound messages (the conversation itself goes through ConversationsRepository)."""

    async def find_by_request_id(self, tenant_id: str, request_id: str) -> Message | None: ...

    async def add_outbound(self, message: Message) -> bool:
        """Store an outbound message; False (nothing stored) when its request id is taken."""
        ...

    async def get_outbound(
        self, tenant_id: str, conversation_id: str, message_id: str
    ) -> Message | None: ...

    async def queue_draft(self, message: Message) -> bool:
        """Write the draft's text, translation, check and sender with delivery state QUEUED;
        False when it is no longer a draft (confirmed or discarded meanwhile)."""
        ...

    async def delete_draft(self, tenant_id: str, conversation_id: str, message_id: str) -> bool:
        """False when there is no such draft."""
        ...

    async def last_inbound_external_id(self, tenant_id: str, conversation_id: str) -> str:
        """The channel's id of the conversation's latest inbound message ("" if none)."""
        ...

    async def latest_conversation_id(
        self, tenant_id: str, customer: str, channel: Channel | None
    ) -> str | None:
        """The customer's conversation (on ``channel``) with the latest message."""
        ...


class MessagingSettingsRepository(Protocol):
    async def get(self, tenant_id: str, *, for_update: bool = False) -> MessagingSettings:
        """The tenant's settings, the defaults when it changed none; ``for_update`` locks
        the row (PostgreSQL) until the unit of work ends."""
        ...

    async def save(self, settings: MessagingSettings) -> None: ...


class TranslationSettingsRepository(Protocol):
    async def of_subjects(
        self, tenant_id: str, subjects: Sequence[str]
    ) -> list[TranslationSetting]: ...

    async def has_tag_settings(self, tenant_id: str) -> bool: ...

    async def put(self, setting: TranslationSetting) -> TranslationSetting:
        """Create the subject's setting, or replace its mode and language (keeping its
        name and creation time); returns what is stored."""
        ...

    async def page(
        self, tenant_id: str, subject: str, after: Sequence[str], limit: int
    ) -> list[TranslationSetting]:
        """Oldest first (created_at, id), after the keyset position ``after``."""
        ...

    async def delete(self, tenant_id: str, setting_id: str) -> bool: ...


class ReplyUnitOfWork(ConversationUnitOfWork, Protocol):
    @property
    def replies(self) -> RepliesRepository: ...

    @property
    def settings(self) -> MessagingSettingsRepository: ...

    @property
    def translation_settings(self) -> TranslationSettingsRepository: ...

    @property
    def templates(self) -> TemplatesRepository: ...

    async def record(self, event: MessagingEvent) -> None: ...
