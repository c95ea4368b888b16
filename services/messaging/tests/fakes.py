"""In-memory stand-ins for messaging's ports, for tests of the domain and app layers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from crosstalk_common.domain.channel import Channel
from messaging.app.ports import DuplicateMessage, ServiceUnavailable
from messaging.domain.events import MessagingEvent
from messaging.domain.model import Direction, Intent, Message, Sender, Understanding

AMAZON_SENDER = Sender(Channel.AMAZON, "A1B2C3", "amazon.de")
GERMAN_PARCEL = Understanding(
    language="de",
    translated_text="Where is my parcel?",
    translated_language="en",
    sentiment_score=-0.25,
    sentiment_label="negative",
    intents=(
        Intent("delivery", ("paket", "wo ist"), 0.8, "intentKeywordSets/shipping"),
        Intent("complaint", ("immer noch",), 0.4),
    ),
)


def a_message(
    tenant_id: str, conversation_id: str, *, external_id: str = "", message_id: str = ""
) -> Message:
    """An inbound German message from an Amazon buyer, understood and translated."""
    return Message(
        id=message_id or str(uuid.uuid4()),
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        customer="customers/c-1",
        sender=AMAZON_SENDER,
        direction=Direction.INBOUND,
        text="Wo ist mein Paket?",
        language="de",
        external_id=external_id,
        created_at=datetime(2026, 12, 6, 9, 30, 15, 123000, tzinfo=UTC),
        understanding=GERMAN_PARCEL,
    )


class FakeTranslation:
    """Answers what the test sets; raises ServiceUnavailable while ``down``; counts calls."""

    def __init__(
        self,
        analysis: Understanding | None = None,
        *,
        translations: dict[str, str] | None = None,
    ) -> None:
        self.analysis = analysis or Understanding()
        self.translations = translations or {}
        self.analysis_down = False
        self.translation_down = False
        self.analysed: list[str] = []
        self.translated: list[tuple[str, str, str]] = []

    async def analyse(self, text: str) -> Understanding:
        self.analysed.append(text)
        if self.analysis_down:
            raise ServiceUnavailable("translation is down")
        return self.analysis

    async def translate(self, text: str, source_language: str, target_language: str) -> str:
        self.translated.append((text, source_language, target_language))
        if self.translation_down:
            raise ServiceUnavailable(f"no engine for {source_language}->{target_language}")
        return self.translations.get(text, f"[{target_language}] {text}")


class FakeWorkingLanguages:
    """Each tenant's working language; raises ServiceUnavailable while ``down``."""

    def __init__(self, languages: dict[str, str] | None = None) -> None:
        self.languages = languages or {}
        self.down = False
        self.asked: list[str] = []

    async def working_language(self, tenant_id: str) -> str:
        self.asked.append(tenant_id)
        if self.down:
            raise ServiceUnavailable("identity is down")
        return self.languages.get(tenant_id, "")


class FakeCustomers:
    """One customer name per tenant and sender, made up on first contact."""

    def __init__(self) -> None:
        self.known: dict[tuple[str, Sender], str] = {}
        self.display_names: list[str] = []

    async def resolve(self, tenant_id: str, sender: Sender, display_name: str) -> str:
        self.display_names.append(display_name)
        return self.known.setdefault((tenant_id, sender), f"customers/{uuid.uuid4()}")


@dataclass
class _Conversation:
    id: str
    tenant_id: str
    customer: str
    sender: Sender
    last_message_at: datetime


@dataclass
class MessagesStore:
    """What the database would hold: shared by every unit of work of one test."""

    conversations: list[_Conversation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    events: list[MessagingEvent] = field(default_factory=list)
    # A message with this channel id "arrives concurrently" right before add().
    racing_external_id: str = ""
    racing_message: Message | None = None


class InMemoryMessages:
    def __init__(self, store: MessagesStore, staged: list[Message]) -> None:
        self._store = store
        self._staged = staged

    async def find_by_external_id(
        self, tenant_id: str, sender: Sender, external_id: str
    ) -> Message | None:
        for message in (*self._store.messages, *self._staged):
            if (
                message.tenant_id == tenant_id
                and message.sender.channel == sender.channel
                and message.sender.store == sender.store
                and message.external_id == external_id
            ):
                return message
        return None

    async def open_conversation(
        self, tenant_id: str, customer: str, sender: Sender, at: datetime
    ) -> tuple[str, bool]:
        for conversation in self._store.conversations:
            if (
                conversation.tenant_id == tenant_id
                and conversation.customer == customer
                and (conversation.sender.channel, conversation.sender.store)
                == (sender.channel, sender.store)
            ):
                conversation.last_message_at = at
                return conversation.id, False
        opened = _Conversation(str(uuid.uuid4()), tenant_id, customer, sender, at)
        self._store.conversations.append(opened)
        return opened.id, True

    async def add(self, message: Message) -> None:
        store = self._store
        if store.racing_message is not None and message.external_id == store.racing_external_id:
            store.messages.append(store.racing_message)
            store.racing_message = None
        if message.external_id and await self.find_by_external_id(
            message.tenant_id, message.sender, message.external_id
        ):
            raise DuplicateMessage(message.external_id)
        self._staged.append(message)


class InMemoryUnitOfWork:
    """Messages and events become visible in the store on commit only."""

    def __init__(self, store: MessagesStore) -> None:
        self._store = store
        self._staged_messages: list[Message] = []
        self._staged_events: list[MessagingEvent] = []
        self.messages = InMemoryMessages(store, self._staged_messages)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._staged_messages.clear()
        self._staged_events.clear()

    async def record(self, event: MessagingEvent) -> None:
        self._staged_events.append(event)

    async def commit(self) -> None:
        self._store.messages.extend(self._staged_messages)
        self._store.events.extend(self._staged_events)
        self._staged_messages.clear()
        self._staged_events.clear()
