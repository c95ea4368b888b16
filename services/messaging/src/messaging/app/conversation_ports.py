"""What the conversations area needs from storage (implemented in
``adapters/repository_conversations.py``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from crosstalk_common.domain.channel import Channel
from crosstalk_common.visibility import Visibility
from messaging.app.ports import UnitOfWork
from messaging.domain.conversation import Conversation, ConversationLabel, Priority
from messaging.domain.conversation_assignment import Candidate
from messaging.domain.conversation_projections import CustomerSnapshot, MemberProfile
from messaging.domain.conversation_state import ConversationStatus
from messaging.domain.model import Message, Sender


@dataclass(frozen=True)
class ConversationFilter:
    """ListConversations' filters; empty values filter nothing."""

    statuses: frozenset[ConversationStatus] = frozenset()
    priority: Priority | None = None
    channel: Channel | None = None
    store: str = ""
    # "members/{member}", or "-" for unassigned
    assignee: str = ""
    assignee_group: str = ""
    language: str = ""
    customer: str = ""
    unread: bool | None = None
    last_inbound_after: datetime | None = None
    last_inbound_before: datetime | None = None
    customer_tier: str = ""
    customer_tags: tuple[str, ...] = ()
    # label ids
    labels: tuple[str, ...] = field(default=())


class ConversationsRepository(Protocol):
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
        """The identity's conversation, locked for this transaction (opened if new: True)."""
        ...

    async def join_or_insert(self, opening: Conversation) -> tuple[Conversation, bool]:
        """In one statement: the conversation of ``opening``'s channel identity, locked for
        this transaction, given ``opening``'s customer (and its channel config and subject
        when set); or, when the identity has none, ``opening`` stored as it is, with the
        owner and department of its customer's snapshot (True)."""
        ...

    async def get(
        self,
        tenant_id: str,
        visibility: Visibility,
        conversation_id: str,
        *,
        for_update: bool = False,
    ) -> Conversation | None: ...

    async def save(self, conversation: Conversation) -> Conversation:
        """Writes the conversation's changes; returns it with its next version."""
        ...

    async def inbox(
        self,
        tenant_id: str,
        visibility: Visibility,
        where: ConversationFilter,
        after: Sequence[str],
        limit: int,
    ) -> list[Conversation]: ...

    async def get_message(
        self, tenant_id: str, conversation_id: str, message_id: str
    ) -> Message | None: ...

    async def list_messages(
        self,
        tenant_id: str,
        conversation_id: str,
        *,
        include_notes: bool,
        after: Sequence[str],
        limit: int,
    ) -> list[Message]: ...

    async def add_note(self, message: Message) -> None: ...

    async def add_attachments(self, message: Message) -> None: ...

    async def set_labels(self, conversation: Conversation, label_ids: Sequence[str]) -> None: ...


class ConversationLabelsRepository(Protocol):
    async def add(self, label: ConversationLabel) -> bool:
        """False when the tenant has a label of that name (ignoring case)."""
        ...

    async def page(
        self, tenant_id: str, after: Sequence[str], limit: int
    ) -> list[ConversationLabel]: ...

    async def by_ids(self, tenant_id: str, ids: Sequence[str]) -> list[ConversationLabel]: ...

    async def delete(self, tenant_id: str, label_id: str) -> bool: ...


class CustomerSnapshotsRepository(Protocol):
    async def get(self, tenant_id: str, customer: str) -> CustomerSnapshot | None: ...

    async def get_many(
        self, tenant_id: str, customers: Sequence[str]
    ) -> dict[str, CustomerSnapshot]:
        """The snapshots held of these customers, by customer (one read)."""
        ...

    async def put_many(
        self,
        tenant_id: str,
        snapshots: Sequence[CustomerSnapshot],
        held: Mapping[str, CustomerSnapshot],
        at: datetime,
    ) -> None:
        """Stores them (the caller checked they are newer than ``held``, what
        ``get_many`` found) and copies owner and department onto the customers'
        conversations."""
        ...


class MembersRepository(Protocol):
    async def put(self, tenant_id: str, profile: MemberProfile, at: datetime) -> None: ...

    async def remove(self, tenant_id: str, member: str) -> None: ...

    async def get(self, tenant_id: str, member: str) -> MemberProfile | None: ...

    async def candidates(self, tenant_id: str, group: str) -> list[Candidate]:
        """The group's members with their open (not CLOSED) assigned conversations."""
        ...

    async def last_assigned(self, tenant_id: str, group: str) -> str: ...

    async def set_last_assigned(self, tenant_id: str, group: str, member: str) -> None: ...


class ConversationUnitOfWork(UnitOfWork, Protocol):
    @property
    def conversations(self) -> ConversationsRepository: ...

    @property
    def conversation_labels(self) -> ConversationLabelsRepository: ...

    @property
    def customer_snapshots(self) -> CustomerSnapshotsRepository: ...

    @property
    def members(self) -> MembersRepository: ...
