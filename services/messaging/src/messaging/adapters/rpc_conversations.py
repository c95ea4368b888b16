"""MessagingService RPCs: conversations, messages, status, priority, assignment, notes, labels."""

from __future__ import annotations


class ConversationRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""
