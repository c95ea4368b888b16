"""Conversations and messages as the domain sees them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import FieldViolation, InvalidArgument
from messaging.domain.ingest_rules import (
    channel_config_problem,
    normalized_external_id,
    normalized_store,
    send_time_problem,
)

# The contract's bound; each tenant's byte limit (messaging settings) applies too.
MAX_TEXT_LENGTH = 65_536
UNDETERMINED_LANGUAGE = "und"


class Direction(Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DeliveryState(Enum):
    """Where an outbound message stands: DRAFT is held for the agent (never sent as is)."""

    DRAFT = "draft"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class TranslationCheck:
    """An outbound translation translated back, and how close that came to the original."""

    back_translated_text: str
    similarity: float
    threshold: float
    engine: str = ""


MAX_ATTACHMENTS = 20
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
# "mid:<message-id>/<n>" (RFC 2392): a part of an inbound e-mail, which messaging does
# not store (domain/inbound_email.py).
_ATTACHMENT_URI = re.compile(r"(https?|s3)://\S+|mid:\S+")


@dataclass(frozen=True)
class Attachment:
    """A file attached to a message, stored by reference (migration 0003)."""

    name: str
    content_type: str
    size_bytes: int
    uri: str

    def problems(self, field: str) -> list[FieldViolation]:
        found = []
        if not self.name.strip():
            found.append(FieldViolation(f"{field}.name", "must not be empty"))
        elif len(self.name) > 255:
            found.append(FieldViolation(f"{field}.name", "at most 255 characters"))
        if len(self.content_type) > 255 or not _CONTENT_TYPE.fullmatch(self.content_type):
            found.append(
                FieldViolation(f"{field}.content_type", "must be a MIME type such as image/png")
            )
        if self.size_bytes < 0:
            found.append(FieldViolation(f"{field}.size_bytes", "must not be negative"))
        if len(self.uri) > 2000 or not _ATTACHMENT_URI.fullmatch(self.uri):
            found.append(
                FieldViolation(
                    f"{field}.uri", "must be an http(s)://, s3:// or mid: URI (2,000 at most)"
                )
            )
        return found


@dataclass(frozen=True)
class Sender:
    channel: Channel
    external_id: str
    store: str = ""


@dataclass(frozen=True)
class Inbound:
    """An inbound message as a channel hands it over."""

    sender: Sender
    text: str
    external_id: str = ""
    sender_display_name: str = ""
    # "channelConfigs/{channel_config}" that received it; "" when unknown.
    channel_config: str = ""
    # When the customer sent it, by the channel's clock; None when the channel does not say.
    send_time: datetime | None = None
    attachments: tuple[Attachment, ...] = ()
    subject: str = ""

    def normalized(self) -> Inbound:
        """The sender spelled as it is compared and stored (NFC, trimmed, e-mail lower-cased)."""
        channel = self.sender.channel
        sender = Sender(
            channel,
            normalized_external_id(channel, self.sender.external_id),
            normalized_store(self.sender.store),
        )
        return replace(self, sender=sender)

    def validate(self, now: datetime) -> None:
        problems = []
        if self.channel_config and (bad := channel_config_problem(self.channel_config)):
            problems.append(FieldViolation("channel_config", bad))
        if self.send_time is not None and (late := send_time_problem(self.send_time, now)):
            problems.append(FieldViolation("send_time", late))
        if not self.sender.external_id.strip():
            problems.append(FieldViolation("sender.external_id", "must not be empty"))
        if not self.text.strip() and not self.attachments:
            problems.append(FieldViolation("text", "must not be empty without attachments"))
        elif len(self.text) > MAX_TEXT_LENGTH:
            problems.append(FieldViolation("text", f"at most {MAX_TEXT_LENGTH} characters"))
        if len(self.external_id) > 200:
            problems.append(FieldViolation("external_id", "at most 200 characters"))
        if len(self.attachments) > MAX_ATTACHMENTS:
            problems.append(FieldViolation("attachments", f"at most {MAX_ATTACHMENTS}"))
        for index, attachment in enumerate(self.attachments):
            problems.extend(attachment.problems(f"attachments[{index}]"))
        if problems:
            raise InvalidArgument(problems)


@dataclass(frozen=True)
class Intent:
    name: str
    keywords: tuple[str, ...]
    confidence: float
    # translation's "intentKeywordSets/{id}" that recognised it ("" on older messages)
    keyword_set: str = ""


def one_per_intent(intents: Iterable[Intent]) -> tuple[Intent, ...]:
    """Each intent once: the most confident set, every keyword, the best confidence."""
    merged: dict[str, Intent] = {}
    for intent in intents:
        seen = merged.get(intent.name)
        if seen is None:
            merged[intent.name] = intent
            continue
        lead = intent if intent.confidence > seen.confidence else seen
        merged[intent.name] = Intent(
            intent.name,
            tuple(dict.fromkeys((*seen.keywords, *intent.keywords))),
            lead.confidence,
            lead.keyword_set or seen.keyword_set or intent.keyword_set,
        )
    return tuple(merged.values())


@dataclass(frozen=True)
class Understanding:
    """What translation made of an inbound text; empty when it could not help."""

    language: str = UNDETERMINED_LANGUAGE
    translated_text: str = ""
    translated_language: str = ""
    sentiment_score: float | None = None
    sentiment_label: str = ""  # "negative" | "neutral" | "positive" | ""
    intents: tuple[Intent, ...] = ()


@dataclass(frozen=True)
class Message:
    id: str
    tenant_id: str
    conversation_id: str
    customer: str
    sender: Sender
    direction: Direction
    text: str
    language: str
    external_id: str
    created_at: datetime
    understanding: Understanding = Understanding()
    # Outbound messages (replies, proactive messages; domain/replies.py):
    # who sent it ("members/{id}" or "rules/{id}"), the template, the delivery state,
    # how the translation was checked, the caller's request id and the causing event.
    sent_by: str = ""
    template: str = ""
    # The template's version the text was rendered from (0: unknown or no template).
    template_version: int = 0
    delivery_state: DeliveryState | None = None
    delivery_error: str = ""
    translation_check: TranslationCheck | None = None
    request_id: str = ""
    cause_event_id: str = ""
    # Conversations area: files attached (by reference); an internal note is never sent.
    attachments: tuple[Attachment, ...] = ()
    internal_note: bool = False
