"""Customers as the domain sees them: plain data and the rules that keep it valid."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crosstalk_common.currencies import ISO_4217_CURRENCIES
from crosstalk_common.domain.channel import Channel
from crosstalk_common.domain.score import SCORE_LIMIT
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.text_rules import normalized_identity

MAX_NAME_LENGTH = 200
MAX_TAG_LENGTH = 64
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class ChannelIdentity:
    channel: Channel
    external_id: str
    store: str = ""

    def normalized(self) -> ChannelIdentity:
        """As compared and stored: NFC, trimmed, e-mail addresses and stores lower-cased."""
        external = normalized_identity(self.external_id)
        if self.channel is Channel.EMAIL:
            external = external.lower()
        return ChannelIdentity(self.channel, external, normalized_identity(self.store).lower())


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
    # Changed only through EarnPoints / SpendPoints (never negative).
    points_balance: int = 0
    # Changed only through RecordOrder.
    order_totals: OrderTotals = field(default_factory=lambda: OrderTotals())
    # Values of the tenant's custom fields by key (JSON types), checked on write.
    custom_fields: dict[str, object] = field(default_factory=dict)
    # IANA zone name, e.g. "Europe/Berlin"; "" when unknown.
    time_zone: str = ""
    # The tier the tenant's tier rules gave the customer; "" for none.
    tier_id: str = ""
    # The last message or order from the customer.
    last_active_at: datetime | None = None

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    def with_tags(self, tags: frozenset[str]) -> Customer:
        return replace(self, tags=self.tags | tags)


# The fields a caller may write; the rest are computed or owned by other operations.
EDITABLE_FIELDS = (
    "display_name",
    "emails",
    "phones",
    "country",
    "language",
    "identities",
    "custom_fields",
    "time_zone",
)


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
    if customer.language and not is_language(customer.language):
        problems.append(
            FieldViolation(f"{prefix}.language", "must be a BCP-47 code such as 'en' or 'pt-BR'")
        )
    if customer.country and not _COUNTRY.match(customer.country):
        problems.append(
            FieldViolation(f"{prefix}.country", "must be an ISO 3166-1 alpha-2 code such as 'DE'")
        )
    if customer.time_zone and not is_time_zone(customer.time_zone):
        problems.append(
            FieldViolation(
                f"{prefix}.time_zone", "must be an IANA time zone such as 'Europe/Berlin'"
            )
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


def is_language(code: str) -> bool:
    """A BCP-47 looking code: "en", "pt-BR", "zh-Hans"."""
    return bool(_LANGUAGE.match(code))


def is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


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


# --- scores and points ------------------------------------------------------

MAX_REQUEST_ID_LENGTH = 64


@dataclass(frozen=True)
class ScoreChange:
    """One change of a customer's score: the delta and the score after it."""

    id: str
    tenant_id: str
    customer_id: str
    delta: int
    score: int
    reason: str
    source: str
    cause_event_id: str
    request_id: str
    created_at: datetime


class PointsKind(Enum):
    EARN = "earn"
    SPEND = "spend"
    EXPIRE = "expire"
    ADJUST = "adjust"


@dataclass(frozen=True)
class PointsEntry:
    """One entry of the points ledger; points are signed, balance is after it."""

    id: str
    tenant_id: str
    customer_id: str
    kind: PointsKind
    points: int
    balance: int
    reason: str
    order: str
    expire_time: datetime | None
    actor: str
    request_id: str
    created_at: datetime


# A score stays within ±SCORE_LIMIT (the kit's: a change that would take it further
# stops at the limit) and one change is at most that much. A points balance stays at
# most POINTS_LIMIT; one entry is at most MAX_POINTS_ENTRY. An order's amount is at
# most MAX_ORDER_UNITS, so the sum of a customer's orders stays far within an 8-byte
# integer.
POINTS_LIMIT = 10**15
MAX_POINTS_ENTRY = 10**12
MAX_ORDER_UNITS = 10**12


def validate_score_delta(delta: int, *, field_name: str = "delta") -> int:
    if delta == 0:
        raise InvalidArgument([FieldViolation(field_name, "must not be 0")])
    if abs(delta) > SCORE_LIMIT:
        raise InvalidArgument(
            [FieldViolation(field_name, f"between -{SCORE_LIMIT:,} and {SCORE_LIMIT:,}")]
        )
    return delta


def validate_points(points: int, *, field_name: str = "points") -> int:
    if points <= 0:
        raise InvalidArgument([FieldViolation(field_name, "must be a positive number of points")])
    if points > MAX_POINTS_ENTRY:
        raise InvalidArgument([FieldViolation(field_name, f"at most {MAX_POINTS_ENTRY:,}")])
    return points


def validate_request_id(request_id: str, *, field_name: str = "request_id") -> str:
    value = request_id.strip()
    if len(value) > MAX_REQUEST_ID_LENGTH:
        raise InvalidArgument(
            [FieldViolation(field_name, f"at most {MAX_REQUEST_ID_LENGTH} characters")]
        )
    return value


# --- orders -----------------------------------------------------------------

NANOS = 1_000_000_000
_ORDER_CLOCK_SKEW = timedelta(minutes=5)
_EARLIEST_ORDER = datetime(1970, 1, 1, tzinfo=UTC)
MAX_EXTERNAL_ID_LENGTH = 200
MAX_STORE_LENGTH = 100


@dataclass(frozen=True)
class Money:
    """An exact amount: units and nanos (10^-9) with the same sign."""

    currency: str
    units: int = 0
    nanos: int = 0

    @property
    def total_nanos(self) -> int:
        return self.units * NANOS + self.nanos

    @staticmethod
    def of_nanos(currency: str, total: int) -> Money:
        units = abs(total) // NANOS
        nanos = abs(total) % NANOS
        sign = -1 if total < 0 else 1
        return Money(currency, sign * units, sign * nanos)


@dataclass(frozen=True)
class Order:
    id: str
    tenant_id: str
    customer_id: str
    external_id: str
    store: str
    amount: Money
    item_count: int
    order_time: datetime
    created_at: datetime | None = None


@dataclass(frozen=True)
class OrderTotals:
    """A customer's orders: how many, and the sum of those in order_value's currency."""

    order_count: int = 0
    order_value: Money | None = None
    last_order_time: datetime | None = None

    def after(self, order: Order) -> OrderTotals:
        value = self.order_value
        if value is None or not value.currency:
            value = order.amount
        elif value.currency == order.amount.currency:
            value = Money.of_nanos(value.currency, value.total_nanos + order.amount.total_nanos)
        last = self.last_order_time
        return OrderTotals(
            order_count=self.order_count + 1,
            order_value=value,
            last_order_time=order.order_time if last is None else max(last, order.order_time),
        )


def validate_order(order: Order, *, now: datetime, prefix: str = "order") -> Order:
    """Trimmed and checked; every bad field is reported at once."""
    bad: list[FieldViolation] = []
    external_id = order.external_id.strip()
    store = order.store.strip()
    currency = order.amount.currency.strip().upper()
    if not external_id:
        bad.append(FieldViolation(f"{prefix}.external_id", "the store's order id is required"))
    elif len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        bad.append(
            FieldViolation(f"{prefix}.external_id", f"at most {MAX_EXTERNAL_ID_LENGTH} characters")
        )
    if len(store) > MAX_STORE_LENGTH:
        bad.append(FieldViolation(f"{prefix}.store", f"at most {MAX_STORE_LENGTH} characters"))
    if currency not in ISO_4217_CURRENCIES:
        bad.append(
            FieldViolation(
                f"{prefix}.amount.currency_code", "must be an ISO 4217 currency code, e.g. EUR"
            )
        )
    units, nanos = order.amount.units, order.amount.nanos
    if not -NANOS < nanos < NANOS or (units > 0 and nanos < 0) or (units < 0 and nanos > 0):
        bad.append(
            FieldViolation(
                f"{prefix}.amount.nanos", "between -999999999 and 999999999, same sign as units"
            )
        )
    elif units < 0 or nanos < 0:
        bad.append(FieldViolation(f"{prefix}.amount", "must not be negative"))
    elif units > MAX_ORDER_UNITS:
        bad.append(FieldViolation(f"{prefix}.amount.units", f"at most {MAX_ORDER_UNITS:,}"))
    if order.item_count < 0:
        bad.append(FieldViolation(f"{prefix}.item_count", "must not be negative"))
    if order.order_time > now + _ORDER_CLOCK_SKEW:
        bad.append(FieldViolation(f"{prefix}.order_time", "must not be in the future"))
    elif order.order_time < _EARLIEST_ORDER:
        # Reports cut an order's time into local hours and days: near year 1 those
        # reach before it.
        bad.append(FieldViolation(f"{prefix}.order_time", "must be 1970-01-01 or later"))
    if bad:
        raise InvalidArgument(bad)
    return replace(
        order, external_id=external_id, store=store, amount=replace(order.amount, currency=currency)
    )


# --- custom fields ----------------------------------------------------------


class CustomFieldType(Enum):
    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    SINGLE_SELECT = "single_select"
    MULTI_SELECT = "multi_select"
    BOOLEAN = "boolean"


SELECT_TYPES = (CustomFieldType.SINGLE_SELECT, CustomFieldType.MULTI_SELECT)
CUSTOM_FIELD_EDITABLE_FIELDS = ("display_name", "options", "required", "description", "sort_order")
MAX_OPTIONS = 200
MAX_TEXT_VALUE_LENGTH = 2000
_FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class CustomFieldDefinition:
    id: str
    tenant_id: str
    key: str
    display_name: str
    type: CustomFieldType | None
    options: tuple[str, ...] = ()
    required: bool = False
    description: str = ""
    sort_order: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'


def validate_custom_field_definition(
    definition: CustomFieldDefinition, *, prefix: str = "custom_field_definition"
) -> CustomFieldDefinition:
    """Trimmed and checked; every bad field is reported at once."""
    bad: list[FieldViolation] = []
    display_name = definition.display_name.strip()
    options = tuple(o.strip() for o in definition.options)
    if not _FIELD_KEY.match(definition.key):
        bad.append(
            FieldViolation(
                f"{prefix}.key", "lower_snake_case: a-z, 0-9 and _, starting with a letter, ≤ 63"
            )
        )
    if not display_name:
        bad.append(FieldViolation(f"{prefix}.display_name", "must not be empty"))
    elif len(display_name) > MAX_TAG_LENGTH:
        bad.append(FieldViolation(f"{prefix}.display_name", f"at most {MAX_TAG_LENGTH} characters"))
    if definition.type is None:
        bad.append(
            FieldViolation(
                f"{prefix}.type",
                "a type is required: TEXT, NUMBER, DATE, SINGLE_SELECT, MULTI_SELECT or BOOLEAN",
            )
        )
    elif definition.type in SELECT_TYPES:
        if not options:
            bad.append(FieldViolation(f"{prefix}.options", "a select field needs options"))
        elif len(options) > MAX_OPTIONS:
            bad.append(FieldViolation(f"{prefix}.options", f"at most {MAX_OPTIONS} options"))
        seen: set[str] = set()
        for i, option in enumerate(options):
            if not option or len(option) > MAX_TAG_LENGTH:
                bad.append(
                    FieldViolation(f"{prefix}.options[{i}]", f"1 to {MAX_TAG_LENGTH} characters")
                )
            elif option in seen:
                bad.append(FieldViolation(f"{prefix}.options[{i}]", f"{option!r} is repeated"))
            seen.add(option)
    elif options:
        bad.append(FieldViolation(f"{prefix}.options", "only select fields have options"))
    if len(definition.description) > MAX_REASON_LENGTH:
        bad.append(
            FieldViolation(f"{prefix}.description", f"at most {MAX_REASON_LENGTH} characters")
        )
    if bad:
        raise InvalidArgument(bad)
    return replace(definition, display_name=display_name, options=options)


def _value_problem(definition: CustomFieldDefinition, value: object) -> str:
    kind = definition.type
    if kind is CustomFieldType.TEXT:
        if not isinstance(value, str):
            return "must be a string"
        if len(value) > MAX_TEXT_VALUE_LENGTH:
            return f"at most {MAX_TEXT_VALUE_LENGTH} characters"
    elif kind is CustomFieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a number"
    elif kind is CustomFieldType.BOOLEAN:
        if not isinstance(value, bool):
            return "must be true or false"
    elif kind is CustomFieldType.DATE:
        if not isinstance(value, str) or not _DATE.match(value):
            return "must be a date as 'YYYY-MM-DD'"
        try:
            datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            return f"{value!r} is not a calendar date"
    elif kind is CustomFieldType.SINGLE_SELECT:
        if not isinstance(value, str):
            return "must be one of the options, as a string"
        if value not in definition.options:
            return f"{value!r} is not an option: " + ", ".join(definition.options)
    elif kind is CustomFieldType.MULTI_SELECT:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "must be a list of options"
        unknown = [v for v in value if v not in definition.options]
        if unknown:
            return f"{unknown[0]!r} is not an option: " + ", ".join(definition.options)
        if len(set(value)) != len(value):
            return "an option is repeated"
    return ""


def validate_custom_fields(
    values: dict[str, object],
    definitions: dict[str, CustomFieldDefinition],
    *,
    prefix: str = "customer.custom_fields",
) -> dict[str, object]:
    """Values checked against the tenant's definitions (null drops a value)."""
    cleaned = {k: v for k, v in values.items() if v is not None}
    bad: list[FieldViolation] = []
    for key, value in sorted(cleaned.items()):
        definition = definitions.get(key)
        if definition is None:
            bad.append(FieldViolation(f"{prefix}[{key}]", f"no custom field with key {key!r}"))
            continue
        problem = _value_problem(definition, value)
        if problem:
            bad.append(FieldViolation(f"{prefix}[{key}]", problem))
    for key, definition in sorted(definitions.items()):
        if definition.required and key not in cleaned:
            bad.append(FieldViolation(f"{prefix}[{key}]", "a value is required"))
    if bad:
        raise InvalidArgument(bad)
    return cleaned
