"""In-memory stand-ins for the ports of replies, drafts, proactive messages and settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import NotFound
from crosstalk_common.visibility import Visibility
from messaging.app.ports import ServiceUnavailable
from messaging.app.reply_ports import BackTranslation
from messaging.domain.conversation import Conversation
from messaging.domain.conversation_projections import CustomerSnapshot
from messaging.domain.conversation_state import ConversationState, ConversationStatus
from messaging.domain.events import MessagingEvent
from messaging.domain.model import DeliveryState, Direction, Message, Sender
from messaging.domain.replies import CustomerProfile, MessagingSettings, TranslationSetting

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
MARIA = Sender(Channel.EMAIL, "maria@example.es")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


class FakeBackTranslation:
    """Translates to "[es] text" and back to ``back`` (the text itself unless set)."""

    def __init__(self, similarity: float = 0.9) -> None:
        self.similarity = similarity
        self.down = False
        self.calls: list[tuple[str, str, str]] = []

    async def back_translate(self, text: str, source: str, target: str) -> BackTranslation:
        self.calls.append((text, source, target))
        if self.down:
            raise ServiceUnavailable("no engine")
        return BackTranslation(f"[{target}] {text}", f"back: {text}", self.similarity, "fake")


class FakeProfiles:
    def __init__(self) -> None:
        self.profiles: dict[str, CustomerProfile] = {}
        self.asked: list[str] = []

    async def profile(self, tenant_id: str, customer: str) -> CustomerProfile:
        self.asked.append(customer)
        if customer not in self.profiles:
            raise NotFound("crosstalk.io/Customer", customer)
        return self.profiles[customer]


class FakeWorkingLanguages:
    def __init__(self, language: str = "en") -> None:
        self.language = language

    async def working_language(self, tenant_id: str) -> str:
        return self.language


@dataclass
class Store:
    conversations: dict[str, Conversation] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    events: list[MessagingEvent] = field(default_factory=list)
    settings: dict[str, MessagingSettings] = field(default_factory=dict)
    translation: dict[tuple[str, str], TranslationSetting] = field(default_factory=dict)
    snapshots: dict[tuple[str, str], CustomerSnapshot] = field(default_factory=dict)
    # (tenant, template id) of the reply templates that exist.
    templates: set[tuple[str, str]] = field(default_factory=set)
    # A message with this request id "arrives concurrently" right before add_outbound.
    racing: Message | None = None

    def conversation(
        self, tenant_id: str, cid: str, *, sender: Sender = MARIA, language: str = "es"
    ) -> Conversation:
        conversation = Conversation(
            id=cid,
            tenant_id=tenant_id,
            customer="customers/maria",
            sender=sender,
            channel_config="channelConfigs/mail",
            state=ConversationState(ConversationStatus.UNREAD, follow_ups=2, last_inbound_at=T0),
            created_at=T0,
            updated_at=T0,
            last_message_at=T0,
            language=language,
            subject="Pedido 4711",
        )
        self.conversations[cid] = conversation
        return conversation


class _Conversations:
    def __init__(self, store: Store, staged: dict[str, Conversation]) -> None:
        self._store, self._staged = store, staged

    async def get(
        self, tenant_id: str, visibility: Visibility, cid: str, *, for_update: bool = False
    ) -> Conversation | None:
        found = self._staged.get(cid) or self._store.conversations.get(cid)
        return found if found is not None and found.tenant_id == tenant_id else None

    async def save(self, conversation: Conversation) -> Conversation:
        saved = replace(conversation, version=conversation.version + 1)
        self._staged[conversation.id] = saved
        return saved

    async def join_or_open(
        self,
        tenant_id: str,
        customer: str,
        sender: Sender,
        channel_config: str,
        subject: str,
        at: datetime,
        owner: CustomerSnapshot | None,
    ) -> tuple[Conversation, bool]:
        for conversation in (*self._staged.values(), *self._store.conversations.values()):
            if conversation.tenant_id == tenant_id and conversation.sender == sender:
                return conversation, False
        opened = Conversation(
            id=f"c-{len(self._store.conversations) + 1}",
            tenant_id=tenant_id,
            customer=customer,
            sender=sender,
            channel_config=channel_config,
            state=ConversationState(),
            created_at=at,
            updated_at=at,
            last_message_at=at,
            subject=subject,
        )
        self._staged[opened.id] = opened
        return opened, True


class _Snapshots:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, tenant_id: str, customer: str) -> CustomerSnapshot | None:
        return self._store.snapshots.get((tenant_id, customer))


class _Replies:
    def __init__(self, store: Store, staged: dict[str, Message]) -> None:
        self._store, self._staged = store, staged

    def _all(self) -> list[Message]:
        return [*self._store.messages.values(), *self._staged.values()]

    async def find_by_request_id(self, tenant_id: str, request_id: str) -> Message | None:
        return next(
            (m for m in self._all() if m.tenant_id == tenant_id and m.request_id == request_id),
            None,
        )

    async def add_outbound(self, message: Message) -> bool:
        racing = self._store.racing
        if racing is not None and racing.request_id == message.request_id:
            self._store.messages[racing.id] = racing
            self._store.racing = None
        if message.request_id and await self.find_by_request_id(
            message.tenant_id, message.request_id
        ):
            return False
        self._staged[message.id] = message
        return True

    async def get_outbound(self, tenant_id: str, cid: str, mid: str) -> Message | None:
        found = self._staged.get(mid) or self._store.messages.get(mid)
        if found is None or (found.tenant_id, found.conversation_id) != (tenant_id, cid):
            return None
        return found if found.direction is Direction.OUTBOUND else None

    async def queue_draft(self, message: Message) -> bool:
        stored = await self.get_outbound(message.tenant_id, message.conversation_id, message.id)
        if stored is None or stored.delivery_state is not DeliveryState.DRAFT:
            return False
        self._staged[message.id] = message
        return True

    async def delete_draft(self, tenant_id: str, cid: str, mid: str) -> bool:
        stored = await self.get_outbound(tenant_id, cid, mid)
        if stored is None or stored.delivery_state is not DeliveryState.DRAFT:
            return False
        self._staged[mid] = replace(stored, id="deleted")
        return True

    async def last_inbound_external_id(self, tenant_id: str, cid: str) -> str:
        return "<inbound-1@example.es>"

    async def latest_conversation_id(
        self, tenant_id: str, customer: str, channel: Channel | None
    ) -> str | None:
        found = [
            c
            for c in self._store.conversations.values()
            if c.tenant_id == tenant_id
            and c.customer == customer
            and (channel is None or c.sender.channel is channel)
        ]
        return max(found, key=lambda c: c.last_message_at).id if found else None


class _Templates:
    """Only what replies ask: whether a tenant has a template."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, tenant_id: str, template_id: str) -> object | None:
        return template_id if (tenant_id, template_id) in self._store.templates else None


class _Settings:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def get(self, tenant_id: str, *, for_update: bool = False) -> MessagingSettings:
        return self._store.settings.get(tenant_id, MessagingSettings(tenant_id))

    async def save(self, settings: MessagingSettings) -> None:
        self._store.settings[settings.tenant_id] = settings


class _TranslationSettings:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def of_subjects(
        self, tenant_id: str, subjects: Sequence[str]
    ) -> list[TranslationSetting]:
        return sorted(
            (
                self._store.translation[(tenant_id, s)]
                for s in subjects
                if (tenant_id, s) in self._store.translation
            ),
            key=lambda s: (s.created_at, s.id),
        )

    async def has_tag_settings(self, tenant_id: str) -> bool:
        return any(t == tenant_id and s.startswith("tags/") for t, s in self._store.translation)

    async def put(self, setting: TranslationSetting) -> TranslationSetting:
        key = (setting.tenant_id, setting.subject)
        old = self._store.translation.get(key)
        stored = (
            replace(old, mode=setting.mode, target_language=setting.target_language)
            if old
            else setting
        )
        self._store.translation[key] = stored
        return stored

    async def page(self, tenant_id: str, subject: str, after: Sequence[str], limit: int) -> Any:
        raise NotImplementedError

    async def delete(self, tenant_id: str, setting_id: str) -> bool:
        for key, setting in list(self._store.translation.items()):
            if key[0] == tenant_id and setting.id == setting_id:
                del self._store.translation[key]
                return True
        return False


class FakeUnitOfWork:
    """Rows and events become visible in the store on commit only."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._conversations: dict[str, Conversation] = {}
        self._messages: dict[str, Message] = {}
        self._events: list[MessagingEvent] = []
        self.conversations = _Conversations(store, self._conversations)
        self.customer_snapshots = _Snapshots(store)
        self.replies = _Replies(store, self._messages)
        self.settings = _Settings(store)
        self.translation_settings = _TranslationSettings(store)
        self.templates = _Templates(store)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._conversations.clear()
        self._messages.clear()
        self._events.clear()

    async def record(self, event: MessagingEvent) -> None:
        self._events.append(event)

    async def commit(self) -> None:
        self._store.conversations.update(self._conversations)
        for mid, message in self._messages.items():
            if message.id == "deleted":
                self._store.messages.pop(mid, None)
            else:
                self._store.messages[mid] = message
        self._store.events.extend(self._events)
        self._conversations.clear()
        self._messages.clear()
        self._events.clear()
