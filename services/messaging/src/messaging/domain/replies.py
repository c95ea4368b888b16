"""Replies and proactive messages: the rules a use case applies before it sends.

- A reply is written in the working language and translated into the conversation's
  language (or a target language a translation setting names), then translated back;
  below the tenant's similarity threshold it is held as a draft.
- Translation settings exist per customer and per tag: the customer's own setting wins,
  then the oldest tag setting that decides a field, then the tenant's ``auto_translate``.
- Messaging settings are per tenant; a tenant without a row has the defaults.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    PreconditionViolation,
)
from messaging.domain.model import Sender

MAX_REPLY_LENGTH = 10_000
MAX_SUBJECT_LENGTH = 500
UNDETERMINED = "und"

DEFAULT_SIMILARITY_THRESHOLD = 0.6
DEFAULT_MAX_INBOUND_TEXT_BYTES = 65_536
MIN_INBOUND_TEXT_BYTES = 1_024
MAX_INBOUND_TEXT_BYTES = 65_536

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_SUBJECT_KINDS = ("customers", "tags")


def primary_language(tag: str) -> str:
    """``"es-MX"`` -> ``"es"``."""
    return tag.split("-", 1)[0].lower()


def known_language(tag: str) -> bool:
    return bool(tag) and primary_language(tag) != UNDETERMINED


def language_problem(tag: str, field_name: str) -> FieldViolation | None:
    if tag and not _LANGUAGE.match(tag):
        return FieldViolation(field_name, f"{tag!r} is not a BCP-47 code; use e.g. 'es', 'de-DE'")
    return None


def request_id_problem(request_id: str, field_name: str = "request_id") -> FieldViolation | None:
    if not request_id:
        return None
    try:
        uuid.UUID(request_id)
    except ValueError:
        return FieldViolation(field_name, "must be a UUID, e.g. a random UUID4 per request")
    return None


def resource_id_problem(name: str, collection: str, field_name: str) -> FieldViolation | None:
    """``name`` must be ``{collection}/{id}`` (letters, digits, ``-``, ``_``)."""
    prefix = f"{collection}/"
    if not name.startswith(prefix) or not _ID.match(name[len(prefix) :]):
        return FieldViolation(field_name, f"must be '{collection}/{{id}}', got {name!r}")
    return None


def text_problem(text: str, field_name: str, *, required: bool = True) -> FieldViolation | None:
    if required and not text.strip():
        return FieldViolation(field_name, "must not be empty")
    if len(text) > MAX_REPLY_LENGTH:
        return FieldViolation(field_name, f"at most {MAX_REPLY_LENGTH} characters")
    return None


def inbound_text_problem(text: str, max_bytes: int) -> FieldViolation | None:
    """An inbound text over the tenant's size limit (bytes of UTF-8)."""
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        return FieldViolation("text", f"{size} bytes; this tenant accepts at most {max_bytes}")
    return None


# --- what a reply asks for -------------------------------------------------------------


@dataclass(frozen=True)
class Outbound:
    """What an agent (or a rule) wants to send, as written."""

    text: str
    sent_by: str
    # BCP-47 of text; the tenant's working language when empty.
    language: str = ""
    skip_translation: bool = False
    template: str = ""
    # The template's version the text was rendered from (RenderTemplate's answer).
    template_version: int = 0
    request_id: str = ""
    # The event that caused it (a rule action), empty for agents.
    cause_event_id: str = ""
    # False for automations: a low similarity is recorded, the message is sent anyway.
    hold_below_threshold: bool = True

    def problems(self) -> list[FieldViolation]:
        found = [
            text_problem(self.text, "text"),
            language_problem(self.language, "language"),
            request_id_problem(self.request_id),
            resource_id_problem(self.template, "replyTemplates", "template")
            if self.template
            else None,
            template_version_problem(self.template, self.template_version),
        ]
        return [p for p in found if p is not None]


def template_version_problem(template: str, version: int) -> FieldViolation | None:
    if version < 0:
        return FieldViolation("template_version", "must not be negative")
    if version and not template:
        return FieldViolation("template_version", "needs template")
    return None


def held_as_draft(similarity: float, threshold: float) -> bool:
    return similarity < threshold


def needs_translation(source: str, target: str) -> bool:
    """A known target in another language than the source (``""`` source: detect it)."""
    if not known_language(target):
        return False
    return not source or primary_language(source) != primary_language(target)


# --- settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MessagingSettings:
    tenant_id: str
    reply_similarity_threshold: float = DEFAULT_SIMILARITY_THRESHOLD
    max_inbound_text_bytes: int = DEFAULT_MAX_INBOUND_TEXT_BYTES
    send_csat_on_close: bool = False
    auto_translate: bool = True
    updated_at: datetime | None = None

    UPDATABLE = (
        "reply_similarity_threshold",
        "max_inbound_text_bytes",
        "send_csat_on_close",
        "auto_translate",
    )

    def problems(self) -> list[FieldViolation]:
        found = []
        threshold = self.reply_similarity_threshold
        if not math.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
            found.append(FieldViolation("reply_similarity_threshold", "must be from 0 to 1"))
        if not MIN_INBOUND_TEXT_BYTES <= self.max_inbound_text_bytes <= MAX_INBOUND_TEXT_BYTES:
            found.append(
                FieldViolation(
                    "max_inbound_text_bytes",
                    f"must be from {MIN_INBOUND_TEXT_BYTES} to {MAX_INBOUND_TEXT_BYTES}",
                )
            )
        return found

    def changed(self, paths: Iterable[str], source: MessagingSettings) -> MessagingSettings:
        """These settings with the fields at ``paths`` taken from ``source``; INVALID_ARGUMENT
        (every bad field at once) when the result is not valid."""
        new = replace(self, **{p: getattr(source, p) for p in paths})
        if problems := new.problems():
            raise InvalidArgument(problems)
        return new

    @property
    def etag(self) -> str:
        values = (
            self.reply_similarity_threshold,
            self.max_inbound_text_bytes,
            self.send_csat_on_close,
            self.auto_translate,
            self.updated_at.isoformat() if self.updated_at else "",
        )
        return hashlib.sha256(repr(values).encode()).hexdigest()[:16]


class TranslationMode(Enum):
    AUTO = "auto"
    OFF = "off"


@dataclass(frozen=True)
class TranslationSetting:
    id: str
    tenant_id: str
    # "customers/{id}" or "tags/{id}"
    subject: str
    mode: TranslationMode | None
    target_language: str
    created_at: datetime
    updated_at: datetime

    @property
    def for_customer(self) -> bool:
        return self.subject.startswith("customers/")

    def problems(self) -> list[FieldViolation]:
        found = []
        kind = self.subject.split("/", 1)[0]
        if not self.subject:
            found.append(FieldViolation("subject", "required: 'customers/{id}' or 'tags/{id}'"))
        elif kind not in _SUBJECT_KINDS or resource_id_problem(self.subject, kind, "subject"):
            found.append(
                FieldViolation(
                    "subject", f"must be 'customers/{{id}}' or 'tags/{{id}}', got {self.subject!r}"
                )
            )
        if bad := language_problem(self.target_language, "target_language"):
            found.append(bad)
        if self.mode is None and not self.target_language:
            found.append(
                FieldViolation("mode", "set a mode or a target_language (or delete the setting)")
            )
        return found


@dataclass(frozen=True)
class EffectiveTranslation:
    """How a reply to one customer is translated."""

    translate: bool
    # "" : the conversation's language.
    target_language: str = ""
    decided_by: tuple[str, ...] = field(default=())


def effective_translation(
    auto_translate: bool,
    customer_setting: TranslationSetting | None,
    tag_settings: Iterable[TranslationSetting],
) -> EffectiveTranslation:
    """The customer's own setting wins; then the oldest tag setting that decides each
    field; then the tenant's ``auto_translate`` (and the conversation's language)."""
    ordered = ([customer_setting] if customer_setting else []) + sorted(
        tag_settings, key=lambda s: (s.created_at, s.id)
    )
    mode_from = next((s for s in ordered if s.mode is not None), None)
    language_from = next((s for s in ordered if s.target_language), None)
    translate = auto_translate if mode_from is None else mode_from.mode is TranslationMode.AUTO
    decided = tuple(dict.fromkeys(s.subject for s in (mode_from, language_from) if s))
    return EffectiveTranslation(
        translate, language_from.target_language if language_from else "", decided
    )


# --- whom a message goes to -------------------------------------------------------------


@dataclass(frozen=True)
class CustomerProfile:
    """What the customers service says about a customer, as messages to them need it."""

    name: str
    language: str = ""
    tags: tuple[str, ...] = ()
    blacklisted: bool = False
    identities: tuple[Sender, ...] = ()


def chosen_identity(
    profile: CustomerProfile,
    wanted: Sender | None,
    channel: Channel | None,
    recent: Sender | None,
) -> Sender:
    """Where a proactive message goes: the identity asked for (one of the customer's), else
    the identity of the customer's most recent conversation, else their first identity
    (each on ``channel`` when given). INVALID_ARGUMENT / FAILED_PRECONDITION otherwise."""
    if wanted is not None:
        if wanted not in profile.identities and wanted != recent:
            raise InvalidArgument.field("identity", "is not one of the customer's identities")
        if channel is not None and wanted.channel is not channel:
            raise InvalidArgument.field("channel", "differs from identity.channel")
        return wanted
    if recent is not None and (channel is None or recent.channel is channel):
        return recent
    for identity in profile.identities:
        if channel is None or identity.channel is channel:
            return identity
    where = f" on {channel.value}" if channel is not None else ""
    raise FailedPrecondition(
        [
            PreconditionViolation(
                "IDENTITY", profile.name, f"{profile.name} has no channel identity{where}"
            )
        ],
        reason="NO_CHANNEL_IDENTITY",
    )


def refuse_blacklisted(profile: CustomerProfile) -> None:
    if profile.blacklisted:
        raise FailedPrecondition(
            [
                PreconditionViolation(
                    "BLACKLISTED", profile.name, f"{profile.name} is blacklisted: nothing is sent"
                )
            ],
            reason="CUSTOMER_BLACKLISTED",
        )
