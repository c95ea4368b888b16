"""Conversations and messages as the domain sees them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from crosstalk_common.errors import FieldViolation, InvalidArgument

MAX_TEXT_LENGTH = 10_000
UNDETERMINED_LANGUAGE = "und"


class Direction(Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True)
class Sender:
    channel: str  # "email", "amazon", ...
    external_id: str
    store: str = ""


@dataclass(frozen=True)
class Inbound:
    """An inbound message as a channel hands it over."""

    sender: Sender
    text: str
    external_id: str = ""
    sender_display_name: str = ""

    def validate(self) -> None:
        problems = []
        if not self.sender.external_id.strip():
            problems.append(FieldViolation("sender.external_id", "must not be empty"))
        if not self.text.strip():
            problems.append(FieldViolation("text", "must not be empty"))
        elif len(self.text) > MAX_TEXT_LENGTH:
            problems.append(FieldViolation("text", f"at most {MAX_TEXT_LENGTH} characters"))
        if len(self.external_id) > 200:
            problems.append(FieldViolation("external_id", "at most 200 characters"))
        if problems:
            raise InvalidArgument(problems)


@dataclass(frozen=True)
class Intent:
    name: str
    keywords: tuple[str, ...]
    confidence: float


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
