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
    lifecycle_stage: LifecycleStage | None = None
    blacklisted: bool = False
    blacklist_reason: str = ""
    blacklist_time: datetime | None = None

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


MAX_TAG_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 500
MAX_REASON_LENGTH = 500
AUTOMATION_GROUP = "Automation"
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class TagGroupKind(Enum):
    BEHAVIOUR = "behaviour"
    INTENT = "intent"
    LIFECYCLE = "lifecycle"
    CUSTOM = "custom"


@dataclass(frozen=True)
class TagGroup:
    id: str
    tenant_id: str
    display_name: str
    kind: TagGroupKind = TagGroupKind.CUSTOM
    exclusive: bool = False
    description: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


@dataclass(frozen=True)
class Tag:
    id: str
    tenant_id: str
    display_name: str
    group_id: str = ""
    color: str = ""
    description: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


TAG_GROUP_EDITABLE_FIELDS = ("display_name", "kind", "exclusive", "description")
TAG_EDITABLE_FIELDS = ("display_name", "tag_group", "color", "description")


def _name_problems(name: str, field_name: str) -> list[FieldViolation]:
    if not name.strip():
        return [FieldViolation(field_name, "must not be empty")]
    if len(name.strip()) > MAX_TAG_NAME_LENGTH:
        return [FieldViolation(field_name, f"at most {MAX_TAG_NAME_LENGTH} characters")]
    return []


def validate_tag_group(group: TagGroup, *, prefix: str = "tag_group") -> None:
    problems = _name_problems(group.display_name, f"{prefix}.display_name")
    if len(group.description) > MAX_DESCRIPTION_LENGTH:
        problems.append(
            FieldViolation(f"{prefix}.description", f"at most {MAX_DESCRIPTION_LENGTH} characters")
        )
    if problems:
        raise InvalidArgument(problems)


def validate_tag(tag: Tag, *, prefix: str = "tag") -> None:
    problems = _name_problems(tag.display_name, f"{prefix}.display_name")
    if tag.color and not _COLOR.match(tag.color):
        problems.append(FieldViolation(f"{prefix}.color", "must look like '#rrggbb'"))
    if len(tag.description) > MAX_DESCRIPTION_LENGTH:
        problems.append(
            FieldViolation(f"{prefix}.description", f"at most {MAX_DESCRIPTION_LENGTH} characters")
        )
    if problems:
        raise InvalidArgument(problems)


def displaced_by_exclusive(
    current: frozenset[str],
    adding: list[Tag],
    groups: dict[str, TagGroup],
    group_members: dict[str, frozenset[str]],
    *,
    field_name: str = "tags",
) -> frozenset[str]:
    """Tags a customer loses because tags of exclusive groups are added.

    A customer holds at most one tag of an exclusive group, so adding two of
    the same group at once is refused.
    """
    chosen: dict[str, str] = {}
    problems = []
    for i, tag in enumerate(adding):
        group = groups.get(tag.group_id)
        if group is None or not group.exclusive:
            continue
        if chosen.setdefault(group.id, tag.id) != tag.id:
            problems.append(
                FieldViolation(
                    f"{field_name}[{i}]",
                    f"group {group.display_name!r} is exclusive: add only one of its tags",
                )
            )
    if problems:
        raise InvalidArgument(problems)
    displaced: set[str] = set()
    for group_id, keep in chosen.items():
        displaced |= (group_members.get(group_id, frozenset()) & current) - {keep}
    return frozenset(displaced)


class LifecycleStage(Enum):
    POTENTIAL = "potential"
    INTENT = "intent"
    DEAL = "deal"
    REPEAT = "repeat"
    DORMANT = "dormant"


@dataclass(frozen=True)
class LifecycleChange:
    id: str
    tenant_id: str
    customer_id: str
    from_stage: LifecycleStage | None
    to_stage: LifecycleStage
    reason: str
    actor: str
    cause_event_id: str
    created_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    """Something that happened to a customer; event_id is the event it came with."""

    event_id: str
    tenant_id: str
    customer_id: str
    type: str
    occurred_at: datetime
    summary: str
    actor: str = ""
    resource: str = ""
    details: dict[str, object] = field(default_factory=dict)


def validate_reason(reason: str, *, field_name: str, required: bool) -> str:
    value = reason.strip()
    if required and not value:
        raise InvalidArgument([FieldViolation(field_name, "a reason is required")])
    if len(value) > MAX_REASON_LENGTH:
        raise InvalidArgument(
            [FieldViolation(field_name, f"at most {MAX_REASON_LENGTH} characters")]
        )
    return value
