"""A conversation: one customer's thread on one channel identity, and what agents change on it.

The status machine itself is ``conversation_state``; ``Conversation`` carries it with the
rest (priority, assignment, labels, the customer's owner and department) and returns, for
each change, the new conversation and what to announce.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from enum import IntEnum

from crosstalk_common.errors import InvalidArgument
from messaging.domain.conversation_state import (
    ConversationState,
    ConversationStatus,
    StatusChange,
    record_agent_reply,
    record_inbound,
    set_status,
)
from messaging.domain.model import Sender


class Priority(IntEnum):
    """crosstalk.common.v1.Priority; the inbox sorts the highest first."""

    LOW = 1
    NORMAL = 2
    HIGH = 3
    URGENT = 4


@dataclass(frozen=True)
class PriorityChange:
    from_priority: Priority
    to_priority: Priority
    actor: str
    at: datetime


@dataclass(frozen=True)
class AssignmentChange:
    assignee: str
    assignee_group: str
    previous_assignee: str
    actor: str
    at: datetime


@dataclass(frozen=True)
class Conversation:
    id: str
    tenant_id: str
    # "customers/{customer}"
    customer: str
    # The channel identity it belongs to (channel, store, the customer's external id).
    sender: Sender
    channel_config: str
    state: ConversationState
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    priority: Priority = Priority.NORMAL
    # "members/{member}" / "groups/{group}"; "" when unassigned.
    assignee: str = ""
    assignee_group: str = ""
    language: str = "und"
    subject: str = ""
    message_count: int = 0
    # Label ids (conversation_labels.id), sorted.
    labels: tuple[str, ...] = ()
    # The customer's owner and department ids, from the customer snapshot.
    owner_member_id: str = ""
    department_id: str = ""
    version: int = 1

    @classmethod
    def opened(
        cls,
        id: str,
        tenant_id: str,
        customer: str,
        sender: Sender,
        channel_config: str,
        subject: str,
        at: datetime,
    ) -> Conversation:
        """A new conversation of a channel identity, opened at ``at`` (no message yet)."""
        return cls(
            id=id,
            tenant_id=tenant_id,
            customer=customer,
            sender=sender,
            channel_config=channel_config,
            state=ConversationState(opened_at=at),
            created_at=at,
            updated_at=at,
            last_message_at=at,
            subject=subject,
        )

    @property
    def status(self) -> ConversationStatus:
        return self.state.status

    @property
    def follow_ups(self) -> int:
        return self.state.follow_ups

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    def record_inbound(
        self, at: datetime, language: str = ""
    ) -> tuple[Conversation, StatusChange | None]:
        """A customer's message arrived (counted, status per the machine, reopened if CLOSED)."""
        state, change = record_inbound(self.state, at, self.customer)
        known = language and language != "und"
        return replace(
            self,
            state=state,
            last_message_at=at,
            updated_at=at,
            message_count=self.message_count + 1,
            language=language if known else self.language,
        ), change

    def record_agent_reply(
        self, at: datetime, actor: str
    ) -> tuple[Conversation, StatusChange | None]:
        """An agent (or a rule) replied: REPLIED, follow-ups reset (for the replies area)."""
        state, change = record_agent_reply(self.state, at, actor)
        return replace(
            self,
            state=state,
            last_message_at=at,
            updated_at=at,
            message_count=self.message_count + 1,
        ), change

    def set_status(
        self, status: ConversationStatus, at: datetime, actor: str
    ) -> tuple[Conversation, StatusChange | None]:
        state, change = set_status(self.state, status, at, actor)
        return (replace(self, state=state, updated_at=at) if change else self), change

    def set_priority(
        self, priority: Priority, at: datetime, actor: str
    ) -> tuple[Conversation, PriorityChange | None]:
        if priority is self.priority:
            return self, None
        change = PriorityChange(self.priority, priority, actor, at)
        return replace(self, priority=priority, updated_at=at), change

    def assign(
        self, assignee: str, assignee_group: str, at: datetime, actor: str
    ) -> tuple[Conversation, AssignmentChange | None]:
        if (assignee, assignee_group) == (self.assignee, self.assignee_group):
            return self, None
        change = AssignmentChange(assignee, assignee_group, self.assignee, actor, at)
        return replace(
            self, assignee=assignee, assignee_group=assignee_group, updated_at=at
        ), change

    def add_note(self, at: datetime) -> Conversation:
        """A note counts as a message; status and follow-ups stay."""
        return replace(self, message_count=self.message_count + 1, updated_at=at)


# --- labels -----------------------------------------------------------------------------

MAX_LABEL_LENGTH = 60
MAX_LABELS_PER_CONVERSATION = 20


@dataclass(frozen=True)
class ConversationLabel:
    id: str
    tenant_id: str
    display_name: str
    created_at: datetime

    @property
    def name_key(self) -> str:
        return label_key(self.display_name)


def label_key(display_name: str) -> str:
    return display_name.casefold()


def label_display_name(raw: str, *, field: str = "conversation_label.display_name") -> str:
    """NFC, trimmed, inner runs of white space as one space; 1 to 60 characters."""
    name = re.sub(r"\s+", " ", unicodedata.normalize("NFC", raw)).strip()
    if not name:
        raise InvalidArgument.field(field, "must not be empty")
    if len(name) > MAX_LABEL_LENGTH:
        raise InvalidArgument.field(field, f"at most {MAX_LABEL_LENGTH} characters")
    return name


# --- notes ------------------------------------------------------------------------------

MAX_NOTE_LENGTH = 10_000


def note_text(raw: str) -> str:
    if not raw.strip():
        raise InvalidArgument.field("text", "must not be empty")
    if len(raw) > MAX_NOTE_LENGTH:
        raise InvalidArgument.field("text", f"at most {MAX_NOTE_LENGTH} characters")
    return raw
