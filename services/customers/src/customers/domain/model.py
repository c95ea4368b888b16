"""Customers as the domain sees them: plain data and the rules that keep it valid."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from crosstalk_common.errors import FieldViolation, InvalidArgument

MAX_NAME_LENGTH = 200
MAX_TAG_LENGTH = 64
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class Channel(Enum):
    EMAIL = "email"
    PHONE = "phone"
    WHATSAPP = "whatsapp"
    WEB_CHAT = "web_chat"
    AMAZON = "amazon"
    EBAY = "ebay"
    SHOPEE = "shopee"


@dataclass(frozen=True)
class ChannelIdentity:
    channel: Channel
    external_id: str
    store: str = ""

    def normalized(self) -> ChannelIdentity:
        external = self.external_id.strip()
        if self.channel is Channel.EMAIL:
            external = external.lower()
        return ChannelIdentity(self.channel, external, self.store.strip().lower())


@dataclass(frozen=True)
class Customer:
    id: str
    tenant_id: str
    display_name: str
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    country: str = ""
    language: str = ""
    identities: tuple[ChannelIdentity, ...] = ()
    tags: frozenset[str] = field(default_factory=frozenset)
    score: int = 0
    # Who owns the customer (a member id) and their department: the data
    # scope of a role is decided by these two.
    owner_member_id: str = ""
    department_id: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    def with_tags(self, tags: frozenset[str]) -> Customer:
        return replace(self, tags=self.tags | tags)


# The fields a caller may write; the rest are computed or owned by other operations.
EDITABLE_FIELDS = ("display_name", "emails", "phones", "country", "language", "identities")


def validate_profile(customer: Customer, *, prefix: str = "customer") -> None:
    """Raise InvalidArgument listing every problem of a profile at once."""
    problems: list[FieldViolation] = []
    name = customer.display_name.strip()
    if not name:
        problems.append(FieldViolation(f"{prefix}.display_name", "must not be empty"))
    elif len(name) > MAX_NAME_LENGTH:
        problems.append(
            FieldViolation(f"{prefix}.display_name", f"at most {MAX_NAME_LENGTH} characters")
        )
    for i, email in enumerate(customer.emails):
        if not _EMAIL.match(email):
            problems.append(FieldViolation(f"{prefix}.emails[{i}]", f"{email!r} is not an email"))
    if customer.language and not _LANGUAGE.match(customer.language):
        problems.append(
            FieldViolation(f"{prefix}.language", "must be a BCP-47 code such as 'en' or 'pt-BR'")
        )
    if customer.country and not _COUNTRY.match(customer.country):
        problems.append(
            FieldViolation(f"{prefix}.country", "must be an ISO 3166-1 alpha-2 code such as 'DE'")
        )
    seen: set[tuple[Channel, str, str]] = set()
    for i, identity in enumerate(customer.identities):
        problems.extend(validate_identity(identity, prefix=f"{prefix}.identities[{i}]"))
        key = (identity.channel, identity.external_id, identity.store)
        if key in seen:
            problems.append(FieldViolation(f"{prefix}.identities[{i}]", "listed twice"))
        seen.add(key)
    if problems:
        raise InvalidArgument(problems)


def validate_identity(identity: ChannelIdentity, *, prefix: str) -> list[FieldViolation]:
    problems = []
    if not identity.external_id:
        problems.append(FieldViolation(f"{prefix}.external_id", "must not be empty"))
    elif identity.channel is Channel.EMAIL and not _EMAIL.match(identity.external_id):
        problems.append(
            FieldViolation(f"{prefix}.external_id", f"{identity.external_id!r} is not an email")
        )
    return problems


def normalize_tags(tags: list[str], *, field_name: str) -> frozenset[str]:
    problems = []
    cleaned = []
    for i, tag in enumerate(tags):
        value = tag.strip()
        if not value or len(value) > MAX_TAG_LENGTH:
            problems.append(
                FieldViolation(f"{field_name}[{i}]", f"a tag has 1 to {MAX_TAG_LENGTH} characters")
            )
        cleaned.append(value)
    if problems:
        raise InvalidArgument(problems)
    return frozenset(cleaned)
