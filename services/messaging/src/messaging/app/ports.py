"""What messaging's use cases need from outside."""

from __future__ import annotations

from typing import Protocol

from crosstalk_common import unit_of_work
from messaging.domain.delivery import ChannelAccount, OutboundMessage, SendResult
from messaging.domain.events import MessagingEvent
from messaging.domain.model import Message, Sender, Understanding


class DuplicateMessage(Exception):
    """The channel message id was stored concurrently."""


class ServiceUnavailable(Exception):
    """A peer service could not answer (down, too slow, or it refused); ``str()`` says why."""


class CustomerDirectory(Protocol):
    """The customers service, as messaging uses it."""

    async def resolve(self, tenant_id: str, sender: Sender, display_name: str) -> str:
        """The customer's resource name for a sender, created on first contact."""
        ...


class TranslationPort(Protocol):
    """The translation service, as messaging uses it. Both calls raise ServiceUnavailable."""

    async def analyse(self, text: str) -> Understanding:
        """The text's language (``und`` when unknown), sentiment and intents; nothing translated."""
        ...

    async def translate(self, text: str, source_language: str, target_language: str) -> str:
        """The text in the target language."""
        ...


class WorkingLanguagePort(Protocol):
    """Where a tenant's working language is kept (identity)."""

    async def working_language(self, tenant_id: str) -> str:
        """The BCP-47 tag, "" when the tenant has none. Raises ServiceUnavailable."""
        ...


class MessagesRepository(Protocol):
    async def find_by_external_id(
        self, tenant_id: str, sender: Sender, external_id: str
    ) -> Message | None: ...
    async def add(self, message: Message) -> None: ...


class UnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def messages(self) -> MessagesRepository: ...

    async def record(self, event: MessagingEvent) -> None:
        """Stage an event; commit() writes it in the same transaction as the rows."""
        ...


class ChannelAdapter(Protocol):
    """Sends one outbound message through one channel account (adapters/channel_adapters/).

    The only port a new channel (a marketplace's messaging API, say) implements:
    given the account (its config with the secrets opened) and the message, hand
    it over and answer the channel's id for it, or raise ``SendFailed``
    (``permanent=True`` when retrying cannot help). It may be called more than
    once for one message (a retry after a crash): pass
    ``message.idempotency_key`` on where the channel can drop repeats.
    """

    async def send(self, account: ChannelAccount, message: OutboundMessage) -> SendResult: ...
