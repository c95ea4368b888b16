"""What messaging announces to other services, as the domain sees it.

The adapters turn these into the events of the contract (``conversation.created``,
``message.received``); the app layer never builds a proto.
"""

from __future__ import annotations

from dataclasses import dataclass

from messaging.domain.model import Message


@dataclass(frozen=True)
class ConversationOpened:
    """A customer's first message on a channel opened a conversation."""

    first_message: Message


@dataclass(frozen=True)
class MessageReceived:
    """An inbound message was stored (with what translation made of it)."""

    message: Message


MessagingEvent = ConversationOpened | MessageReceived
