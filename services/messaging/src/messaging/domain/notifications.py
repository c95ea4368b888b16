"""Member notifications: what a member should look at (a rule's notify action, an
escalation), in their in-app list and, when they have an address, by e-mail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MAX_TITLE = 200
MAX_TEXT = 2000
MAX_RECIPIENTS = 100


class EmailState(StrEnum):
    NONE = ""  # no address, or no SMTP configured
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Notification:
    id: str
    tenant_id: str
    recipient: str  # member id
    title: str
    text: str
    source: str  # "rules/{rule}" or "system"
    conversation_id: str
    customer: str  # "customers/{id}" or ""
    created_at: datetime
    read_at: datetime | None = None
    email_state: EmailState = EmailState.NONE
    email_to: str = ""
    email_attempts: int = 0
    email_error: str = ""

    @property
    def unread(self) -> bool:
        return self.read_at is None


def clip(text: str, limit: int) -> str:
    """``text`` trimmed and cut to ``limit`` characters (an ellipsis marks a cut)."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class MemberContact:
    """What messaging knows of a member to notify them (identity's member events)."""

    member: str  # member id
    email: str
    display_name: str
    enabled: bool = True
    led_groups: frozenset[str] = frozenset()  # group ids
