"""A conversation's status machine and follow-up counters (core_loop §6).

Pure functions over ``ConversationState``; every one returns the new state and the
``StatusChange`` it made (None when the status stayed), so the caller stores the state and
announces the change (``conversation.status_changed``) in one transaction.

- an inbound message: REPLIED and CLOSED become UNREAD (a CLOSED conversation reopens);
  UNREAD, IN_PROGRESS and EXCEPTION keep their status; the follow-ups (inbound messages
  since the last agent reply) rise by one either way;
- an agent's (or a rule's) reply: REPLIED, follow-ups back to 0 (``record_agent_reply``);
- an agent sets IN_PROGRESS, EXCEPTION or CLOSED (``set_status``); UNREAD and REPLIED
  follow from messages, never from a request.

Actors are resource names: ``members/{member}``, ``rules/{rule}``, and for an inbound
message the customer (``customers/{customer}``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from crosstalk_common.errors import InvalidArgument


class ConversationStatus(Enum):
    UNREAD = "unread"
    REPLIED = "replied"
    IN_PROGRESS = "in_progress"
    EXCEPTION = "exception"
    CLOSED = "closed"


# What an agent (or a rule action) may set by hand.
AGENT_STATUSES = frozenset(
    {ConversationStatus.IN_PROGRESS, ConversationStatus.EXCEPTION, ConversationStatus.CLOSED}
)
# An inbound message turns these into UNREAD; the others keep their status.
_REOPENED_BY_INBOUND = frozenset({ConversationStatus.REPLIED, ConversationStatus.CLOSED})


@dataclass(frozen=True)
class ConversationState:
    """The part of a conversation the status machine reads and writes."""

    status: ConversationStatus = ConversationStatus.UNREAD
    # Inbound messages since the last agent reply (the conversation's unread count).
    follow_ups: int = 0
    last_inbound_at: datetime | None = None
    last_agent_reply_at: datetime | None = None
    # When the conversation was opened, or last reopened from CLOSED.
    opened_at: datetime | None = None


@dataclass(frozen=True)
class StatusChange:
    """The status moved; announced as conversation.status_changed."""

    from_status: ConversationStatus
    to_status: ConversationStatus
    actor: str
    at: datetime

    @property
    def reopened(self) -> bool:
        return self.from_status is ConversationStatus.CLOSED


def record_inbound(
    state: ConversationState, at: datetime, actor: str = ""
) -> tuple[ConversationState, StatusChange | None]:
    """A customer's message arrived: follow-ups + 1; REPLIED and CLOSED become UNREAD."""
    status = ConversationStatus.UNREAD if state.status in _REOPENED_BY_INBOUND else state.status
    new = replace(
        state,
        status=status,
        follow_ups=state.follow_ups + 1,
        last_inbound_at=at,
        opened_at=at if state.status is ConversationStatus.CLOSED else state.opened_at,
    )
    return new, _change(state.status, status, actor, at)


def record_agent_reply(
    state: ConversationState, at: datetime, actor: str
) -> tuple[ConversationState, StatusChange | None]:
    """An agent (or a rule) answered: REPLIED, follow-ups reset to 0."""
    new = replace(state, status=ConversationStatus.REPLIED, follow_ups=0, last_agent_reply_at=at)
    return new, _change(state.status, ConversationStatus.REPLIED, actor, at)


def set_status(
    state: ConversationState, status: ConversationStatus, at: datetime, actor: str
) -> tuple[ConversationState, StatusChange | None]:
    """An agent (or a rule action) sets IN_PROGRESS, EXCEPTION or CLOSED.

    UNREAD and REPLIED are INVALID_ARGUMENT on ``status``: they follow from messages.
    Setting the status a conversation already has changes nothing (no event).
    """
    if status not in AGENT_STATUSES:
        allowed = ", ".join(sorted(s.name for s in AGENT_STATUSES))
        raise InvalidArgument.field(
            "status", f"{status.name} follows from messages; an agent sets one of {allowed}"
        )
    return replace(state, status=status), _change(state.status, status, actor, at)


def _change(
    before: ConversationStatus, after: ConversationStatus, actor: str, at: datetime
) -> StatusChange | None:
    return None if before is after else StatusChange(before, after, actor, at)
