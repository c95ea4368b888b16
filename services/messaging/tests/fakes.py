"""In-memory stand-ins for messaging's ports, for tests of the domain and app layers."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from crosstalk_common.domain.channel import Channel
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from messaging.app.conversation_ports import ConversationFilter
from messaging.app.ports import DuplicateMessage, ServiceUnavailable
from messaging.domain.conversation import Conversation, ConversationLabel
from messaging.domain.conversation_assignment import Candidate
from messaging.domain.conversation_projections import CustomerSnapshot, MemberProfile
from messaging.domain.conversation_state import ConversationStatus
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
class MessagesStore:
    """What the database would hold: shared by every unit of work of one test."""

    conversations: dict[str, Conversation] = field(default_factory=dict)
    labels: dict[str, ConversationLabel] = field(default_factory=dict)
    label_links: dict[str, tuple[str, ...]] = field(default_factory=dict)
    snapshots: dict[tuple[str, str], CustomerSnapshot] = field(default_factory=dict)
    members: dict[tuple[str, str], MemberProfile] = field(default_factory=dict)
    cursors: dict[tuple[str, str], str] = field(default_factory=dict)
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
        self.conversations = InMemoryConversations(store, self._staged_messages)
        self.conversation_labels = InMemoryLabels(store)
        self.customer_snapshots = InMemorySnapshots(store)
        self.members = InMemoryMembers(store)

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


def _sees(visibility: Visibility, conversation: Conversation) -> bool:
    if visibility.scope is DataScope.ALL:
        return True
    if visibility.scope is DataScope.DEPARTMENT:
        return conversation.department_id in visibility.departments
    return bool(visibility.member_id) and conversation.owner_member_id == visibility.member_id


class InMemoryConversations:
    """Conversations keyed by channel identity; writes go straight to the store (the
    use cases under test commit or fail before anything reads them)."""

    def __init__(self, store: MessagesStore, staged: list[Message]) -> None:
        self._store = store
        self._staged = staged

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
        for c in self._store.conversations.values():
            if (c.tenant_id, c.sender) == (tenant_id, sender):
                joined = replace(c, customer=customer)
                self._store.conversations[c.id] = joined
                return joined, False
        new = replace(
            Conversation.opened(
                str(uuid.uuid4()), tenant_id, customer, sender, channel_config, subject, at
            ),
            owner_member_id=owner.owner_member_id if owner else "",
            department_id=owner.department_id if owner else "",
        )
        self._store.conversations[new.id] = new
        return new, True

    async def join_or_insert(self, opening: Conversation) -> tuple[Conversation, bool]:
        for c in self._store.conversations.values():
            if (c.tenant_id, c.sender) == (opening.tenant_id, opening.sender):
                joined = replace(
                    c,
                    customer=opening.customer,
                    channel_config=opening.channel_config or c.channel_config,
                    subject=opening.subject or c.subject,
                )
                self._store.conversations[c.id] = joined
                return joined, False
        owner = self._store.snapshots.get((opening.tenant_id, opening.customer))
        new = replace(
            opening,
            owner_member_id=owner.owner_member_id if owner else "",
            department_id=owner.department_id if owner else "",
        )
        self._store.conversations[new.id] = new
        return new, True

    async def get(
        self,
        tenant_id: str,
        visibility: Visibility,
        conversation_id: str,
        *,
        for_update: bool = False,
    ) -> Conversation | None:
        found = self._store.conversations.get(conversation_id)
        if found is None or found.tenant_id != tenant_id or not _sees(visibility, found):
            return None
        return replace(found, labels=self._store.label_links.get(found.id, ()))

    async def save(self, conversation: Conversation) -> Conversation:
        saved = replace(conversation, version=conversation.version + 1)
        self._store.conversations[saved.id] = saved
        return saved

    async def inbox(
        self,
        tenant_id: str,
        visibility: Visibility,
        where: ConversationFilter,
        after: Sequence[str],
        limit: int,
    ) -> list[Conversation]:
        found = [
            c
            for c in self._store.conversations.values()
            if c.tenant_id == tenant_id
            and _sees(visibility, c)
            and (not where.statuses or c.status in where.statuses)
        ]
        found.sort(
            key=lambda c: (int(c.priority), c.state.last_inbound_at or c.created_at, c.id),
            reverse=True,
        )
        return found[:limit]

    async def get_message(
        self, tenant_id: str, conversation_id: str, message_id: str
    ) -> Message | None:
        for m in self._store.messages:
            if (m.tenant_id, m.conversation_id, m.id) == (tenant_id, conversation_id, message_id):
                return m
        return None

    async def list_messages(
        self,
        tenant_id: str,
        conversation_id: str,
        *,
        include_notes: bool,
        after: Sequence[str],
        limit: int,
    ) -> list[Message]:
        return [
            m
            for m in self._store.messages
            if (m.tenant_id, m.conversation_id) == (tenant_id, conversation_id)
            and (include_notes or not m.internal_note)
        ][:limit]

    async def add_note(self, message: Message) -> None:
        self._staged.append(message)

    async def add_attachments(self, message: Message) -> None:
        return None

    async def set_labels(self, conversation: Conversation, label_ids: Sequence[str]) -> None:
        self._store.label_links[conversation.id] = tuple(label_ids)


class InMemoryLabels:
    def __init__(self, store: MessagesStore) -> None:
        self._store = store

    async def add(self, label: ConversationLabel) -> bool:
        if any(
            (x.tenant_id, x.name_key) == (label.tenant_id, label.name_key)
            for x in self._store.labels.values()
        ):
            return False
        self._store.labels[label.id] = label
        return True

    async def page(
        self, tenant_id: str, after: Sequence[str], limit: int
    ) -> list[ConversationLabel]:
        mine = [x for x in self._store.labels.values() if x.tenant_id == tenant_id]
        return sorted(mine, key=lambda x: (x.name_key, x.id))[:limit]

    async def by_ids(self, tenant_id: str, ids: Sequence[str]) -> list[ConversationLabel]:
        return [x for x in self._store.labels.values() if x.tenant_id == tenant_id and x.id in ids]

    async def delete(self, tenant_id: str, label_id: str) -> bool:
        found = self._store.labels.get(label_id)
        if found is None or found.tenant_id != tenant_id:
            return False
        del self._store.labels[label_id]
        return True


class InMemorySnapshots:
    def __init__(self, store: MessagesStore) -> None:
        self._store = store

    async def get(self, tenant_id: str, customer: str) -> CustomerSnapshot | None:
        return self._store.snapshots.get((tenant_id, customer))

    async def get_many(
        self, tenant_id: str, customers: Sequence[str]
    ) -> dict[str, CustomerSnapshot]:
        held = ((c, self._store.snapshots.get((tenant_id, c))) for c in customers)
        return {c: snapshot for c, snapshot in held if snapshot is not None}

    async def put_many(
        self,
        tenant_id: str,
        snapshots: Sequence[CustomerSnapshot],
        held: Mapping[str, CustomerSnapshot],
        at: datetime,
    ) -> None:
        for snapshot in snapshots:
            self._store.snapshots[(tenant_id, snapshot.customer)] = snapshot
            for c in list(self._store.conversations.values()):
                if (c.tenant_id, c.customer) == (tenant_id, snapshot.customer):
                    self._store.conversations[c.id] = replace(
                        c,
                        owner_member_id=snapshot.owner_member_id,
                        department_id=snapshot.department_id,
                    )


class InMemoryMembers:
    def __init__(self, store: MessagesStore) -> None:
        self._store = store

    async def put(self, tenant_id: str, profile: MemberProfile, at: datetime) -> None:
        self._store.members[(tenant_id, profile.member)] = profile

    async def remove(self, tenant_id: str, member: str) -> None:
        found = self._store.members.get((tenant_id, member))
        if found is not None:
            self._store.members[(tenant_id, member)] = replace(found, groups=(), enabled=False)

    async def get(self, tenant_id: str, member: str) -> MemberProfile | None:
        return self._store.members.get((tenant_id, member))

    async def candidates(self, tenant_id: str, group: str) -> list[Candidate]:
        def busy(member: str) -> int:
            return sum(
                1
                for c in self._store.conversations.values()
                if c.tenant_id == tenant_id
                and c.assignee == member
                and c.status is not ConversationStatus.CLOSED
            )

        return [
            Candidate(p.member, p.languages, p.capacity, p.availability, p.enabled, busy(p.member))
            for (tenant, _), p in sorted(self._store.members.items())
            if tenant == tenant_id and group in p.groups
        ]

    async def last_assigned(self, tenant_id: str, group: str) -> str:
        return self._store.cursors.get((tenant_id, group), "")

    async def set_last_assigned(self, tenant_id: str, group: str, member: str) -> None:
        self._store.cursors[(tenant_id, group)] = member
