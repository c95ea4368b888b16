"""MessagingService RPCs: agent replies, drafts and proactive messages."""

from __future__ import annotations


class ReplyRpcs:
    """Mixed into MessagingServicer; each method maps a request to a use case and back."""
