"""Events as reporting needs them, whichever service published them (pure Python).

The adapters turn each event of the bus into one of these; anything else is
``Unmeasured`` and only passes through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Seen:
    """Where an event came from: its id, tenant and time (timezone-aware)."""

    event_id: str
    tenant_id: str
    at: datetime


@dataclass(frozen=True)
class CustomerSnapshot:
    """The customer after the change an event reports (customers' event-carried state)."""

    version: int
    owner: str  # member id, "" when unassigned
    department: str  # department id, "" when none
    tier: str
    country: str
    tags: tuple[str, ...]  # "tags/{id}"
    stage: str
    deleted: bool = False


@dataclass(frozen=True)
class CustomerChanged:
    """Any customer event: created, updated, tagged, stage changed, deleted ..."""

    seen: Seen
    customer: str
    event_type: str
    snapshot: CustomerSnapshot | None
    tags_added: int = 0  # customer.tagged: how many tags
    from_stage: str = ""  # customer.stage_changed
    to_stage: str = ""


@dataclass(frozen=True)
class OrderRecorded:
    seen: Seen
    customer: str
    order: str
    amount: float
    currency: str
    store: str
    order_count: int  # the customer's orders after this one


@dataclass(frozen=True)
class ConversationOpened:
    seen: Seen
    conversation: str
    customer: str
    channel: str
    store: str
    language: str


@dataclass(frozen=True)
class MessageIn:
    seen: Seen
    message: str
    conversation: str
    customer: str
    channel: str
    language: str


@dataclass(frozen=True)
class MessageOut:
    seen: Seen
    message: str
    conversation: str
    customer: str
    sent_by: str  # "members/{id}", "rules/{id}" or SYSTEM_SENDER
    language: str


# Who sent a message messaging sent on its own (the CSAT invitation on close).
SYSTEM_SENDER = "system"


@dataclass(frozen=True)
class ConversationAssigned:
    seen: Seen
    conversation: str
    customer: str
    assignee: str  # "members/{id}"
    team: str  # "groups/{id}"


@dataclass(frozen=True)
class ConversationStatusChanged:
    seen: Seen
    conversation: str
    customer: str
    from_status: str  # "UNREAD", "REPLIED", "IN_PROGRESS", "EXCEPTION", "CLOSED"
    to_status: str


@dataclass(frozen=True)
class CaseOpened:
    seen: Seen
    case: str
    customer: str
    case_type: str  # "RETURN", "EXCHANGE", "REFUND", "COMPLAINT"
    amount: float
    currency: str


@dataclass(frozen=True)
class CaseTransitioned:
    seen: Seen
    case: str
    customer: str
    case_type: str
    from_state: str
    to_state: str


@dataclass(frozen=True)
class CsatSubmitted:
    seen: Seen
    survey: str
    conversation: str
    customer: str
    assignee: str
    score: int


@dataclass(frozen=True)
class RuleFired:
    seen: Seen
    rule: str
    run: str
    customer: str


@dataclass(frozen=True)
class RuleActionCompleted:
    seen: Seen
    rule: str
    run: str
    action_type: str
    outcome: str  # "SUCCEEDED", "FAILED", "SKIPPED"


@dataclass(frozen=True)
class RuleHourCounts:
    """What one rule's evaluations added in one hour (rules' counter increments)."""

    seen: Seen
    rule: str
    hour: datetime
    evaluated: int
    matched: int
    suppressed: tuple[tuple[str, int], ...]  # (reason, count)


@dataclass(frozen=True)
class Unmeasured:
    seen: Seen
    event_type: str


ObservedEvent = (
    CustomerChanged
    | OrderRecorded
    | ConversationOpened
    | MessageIn
    | MessageOut
    | ConversationAssigned
    | ConversationStatusChanged
    | CaseOpened
    | CaseTransitioned
    | CsatSubmitted
    | RuleFired
    | RuleActionCompleted
    | RuleHourCounts
    | Unmeasured
)
