"""Outbound delivery: what a channel adapter is handed, what it answers, and the
retry policy (bounded attempts, exponential backoff)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from messaging.domain.channels import ChannelConfig, ChannelSecrets
from messaging.domain.model import Sender


@dataclass(frozen=True)
class OutboundMessage:
    """One message to hand to a channel, as message.delivery_requested asked for it."""

    tenant_id: str
    message_id: str
    conversation_id: str
    customer: str
    recipient: Sender
    text: str  # what the customer receives (already translated)
    language: str
    subject: str = ""
    # The channel's id of the message this answers (e-mail In-Reply-To), and the
    # thread's earlier ids (e-mail References).
    in_reply_to: str = ""
    references: tuple[str, ...] = ()

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt: receivers drop repeats by it."""
        return self.message_id


@dataclass(frozen=True)
class ChannelAccount:
    """A channel config with its secrets opened: what an adapter sends through."""

    config: ChannelConfig
    secrets: ChannelSecrets


@dataclass(frozen=True)
class SendResult:
    """The channel accepted the message; ``external_id`` is its id there (e-mail Message-ID)."""

    external_id: str = ""


class SendFailed(Exception):
    """The channel did not take the message. ``permanent``: retrying cannot help
    (refused recipient, missing settings, a 4xx answer)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason[:2000]
        self.permanent = permanent


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    first_delay: timedelta = timedelta(seconds=2)
    max_delay: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay_after(self, attempts: int) -> timedelta:
        """How long to wait after ``attempts`` failed attempts: doubling, capped."""
        delay: timedelta = self.first_delay * (2 ** max(attempts - 1, 0))
        return min(delay, self.max_delay)

    def next_attempt(self, attempts: int, failed: SendFailed, now: datetime) -> datetime | None:
        """When to try again, or None when the message has failed for good."""
        if failed.permanent or attempts >= self.max_attempts:
            return None
        return now + self.delay_after(attempts)


@dataclass(frozen=True)
class DeliveryJob:
    """A queued delivery as the worker claims it."""

    outbound: OutboundMessage
    channel_config_id: str  # "" : the tenant's enabled config for the channel and store
    attempts: int
    cause_event_id: str = ""
