"""What messaging's use cases need from outside."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from google.protobuf.message import Message as ProtoMessage

from messaging.domain.model import Message, Sender, Understanding


class DuplicateMessage(Exception):
    """The channel message id was stored concurrently."""


class CustomerDirectory(Protocol):
    """The customers service, as messaging uses it."""

    async def resolve(self, tenant_id: str, sender: Sender, display_name: str) -> str:
        """The customer's resource name for a sender, created on first contact."""
        ...


class TextUnderstanding(Protocol):
    """The translation service, as messaging uses it."""

    async def understand(self, tenant_id: str, text: str) -> Understanding:
        """Language, translation into the working language, sentiment and intents.

        Never fails: when translation cannot help it answers an empty Understanding.
        """
        ...


class MessagesRepository(Protocol):
    async def find_by_external_id(
        self, tenant_id: str, sender: Sender, external_id: str
    ) -> Message | None: ...
    async def open_conversation(
        self, tenant_id: str, customer: str, sender: Sender, at: datetime
    ) -> tuple[str, bool]: ...
    async def add(self, message: Message) -> None: ...


class UnitOfWork(Protocol):
    @property
    def messages(self) -> MessagesRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def emit(self, tenant_id: str, payload: ProtoMessage) -> str: ...
    async def commit(self) -> None: ...
