"""The facts a rule can see, by namespace and by trigger (core_loop §1).

Every fact has a namespaced name (``message.text``, ``customer.tier``,
``conversation.follow_ups``, ``case.state``, ``time.in_business_hours``) and a
type, which decides the operators a condition may use on it and how its values
are read (``crosstalk_common.conditions``). A trigger sees the facts of the
namespaces its event carries or that rules projects (customers, conversations),
plus the event's own facts (``order.``, ``csat.``, ``customer.added_tags`` ...)
and the clock's (``time.``).

Rules written before names were namespaced name the message's facts bare
(``text``, ``sentiment``); ``LEGACY_NAMES`` reads them as their namespaced
fact, so such rules keep working and are shown with the new name.

Pure: imports the standard library and the pure part of crosstalk_common only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from crosstalk_common.conditions.model import FieldSpec, FieldType, Group, Leaf, Node
from crosstalk_common.domain.channel import CHANNEL_ALIASES, CHANNEL_VALUES
from rules.domain.model import Trigger

# Values of the enum facts, as stored and compared; the API's enum names
# ("PRIORITY_HIGH") are read as them.
PRIORITIES = ("low", "normal", "high", "urgent")
CONVERSATION_STATUSES = ("unread", "replied", "in_progress", "exception", "closed")
LIFECYCLE_STAGES = ("potential", "intent", "deal", "repeat", "dormant")
SENTIMENT_LABELS = ("negative", "neutral", "positive")
CASE_TYPES = ("return", "exchange", "refund", "complaint")
CASE_STATES = (
    "open",
    "in_review",
    "approved",
    "rejected",
    "awaiting_return",
    "item_received",
    "refunded",
    "reshipped",
    "resolved",
    "closed",
    "cancelled",
)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _aliases(prefix: str, values: tuple[str, ...]) -> dict[str, str]:
    return {f"{prefix}_{v.upper()}": v for v in values}


@dataclass(frozen=True)
class Fact:
    """One fact: its namespaced name, type and what it means."""

    name: str
    type: FieldType
    description: str
    enum_values: tuple[str, ...] = ()
    enum_aliases: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def namespace(self) -> str:
        return self.name.split(".", 1)[0]

    def spec(self, name: str | None = None) -> FieldSpec:
        """The allow-list entry a condition is checked with (under ``name``, if given)."""
        return FieldSpec(
            name or self.name,
            self.type,
            enum_values=self.enum_values or None,
            enum_aliases=dict(self.enum_aliases) or None,
        )


T = FieldType

MESSAGE_FACTS: tuple[Fact, ...] = (
    Fact("message.text", T.KEYWORDS_TEXT, "The message as the customer wrote it"),
    Fact(
        "message.translated_text",
        T.KEYWORDS_TEXT,
        "The message in the tenant's working language (empty when not translated)",
    ),
    Fact("message.language", T.TEXT, "BCP-47 language of the message"),
    Fact(
        "message.channel",
        T.ENUM,
        "The channel it came through",
        tuple(sorted(CHANNEL_VALUES)),
        CHANNEL_ALIASES,
    ),
    Fact("message.store", T.TEXT, "The store the sender's identity belongs to"),
    Fact("message.sentiment.score", T.NUMBER, "Sentiment from -1 to 1 (empty when unknown)"),
    Fact(
        "message.sentiment.label",
        T.ENUM,
        "Sentiment label (empty when unknown)",
        SENTIMENT_LABELS,
        _aliases("SENTIMENT_LABEL", SENTIMENT_LABELS),
    ),
    Fact("message.intents", T.TAGS, "Intents translation recognised (e.g. refund)"),
    Fact("message.has_attachment", T.BOOLEAN, "Whether the message has an attachment"),
)

CUSTOMER_FACTS: tuple[Fact, ...] = (
    Fact("customer.tags", T.TAGS, "Display names of the customer's tags"),
    Fact("customer.tier", T.TEXT, "Display name of the customer's tier (empty when none)"),
    Fact("customer.score", T.NUMBER, "The customer's score"),
    Fact("customer.points", T.NUMBER, "The customer's loyalty points"),
    Fact(
        "customer.lifecycle_stage",
        T.ENUM,
        "The customer's lifecycle stage",
        LIFECYCLE_STAGES,
        _aliases("LIFECYCLE_STAGE", LIFECYCLE_STAGES),
    ),
    Fact("customer.country", T.TEXT, "ISO 3166-1 alpha-2 country"),
    Fact("customer.language", T.TEXT, "BCP-47 language"),
    Fact("customer.owner", T.TEXT, "The owning member (members/{member})"),
    Fact("customer.department", T.TEXT, "The owning department (departments/{department})"),
    Fact("customer.order_count", T.NUMBER, "Orders recorded"),
    Fact("customer.order_total", T.NUMBER, "Sum of the customer's orders, in currency units"),
    Fact("customer.last_order_time", T.TIMESTAMP, "When the last order was placed"),
    Fact("customer.blacklisted", T.BOOLEAN, "Whether the customer is blacklisted"),
)
# customer.custom.<key>: any custom field, as text (see fact()).
CUSTOM_FIELD_PREFIX = "customer.custom."

CONVERSATION_FACTS: tuple[Fact, ...] = (
    Fact(
        "conversation.status",
        T.ENUM,
        "The conversation's status",
        CONVERSATION_STATUSES,
        _aliases("CONVERSATION_STATUS", CONVERSATION_STATUSES),
    ),
    Fact(
        "conversation.priority",
        T.ENUM,
        "The conversation's priority",
        PRIORITIES,
        _aliases("PRIORITY", PRIORITIES),
    ),
    Fact("conversation.assignee", T.TEXT, "The assigned member (members/{member})"),
    Fact("conversation.assignee_group", T.TEXT, "The assigned team (groups/{group})"),
    Fact(
        "conversation.follow_ups",
        T.NUMBER,
        "Inbound messages since the last agent reply (this one included)",
    ),
    Fact("conversation.last_inbound_time", T.TIMESTAMP, "When the customer last wrote"),
    Fact("conversation.last_agent_reply_time", T.TIMESTAMP, "When an agent last replied"),
    Fact(
        "conversation.channel",
        T.ENUM,
        "The conversation's channel",
        tuple(sorted(CHANNEL_VALUES)),
        CHANNEL_ALIASES,
    ),
    Fact("conversation.language", T.TEXT, "BCP-47 language of the conversation"),
    Fact("conversation.labels", T.TAGS, "The conversation's labels"),
    Fact("conversation.opened_time", T.TIMESTAMP, "When the conversation was opened"),
)

CASE_FACTS: tuple[Fact, ...] = (
    Fact("case.type", T.ENUM, "The case's type", CASE_TYPES, _aliases("CASE_TYPE", CASE_TYPES)),
    Fact(
        "case.state", T.ENUM, "The case's state", CASE_STATES, _aliases("CASE_STATE", CASE_STATES)
    ),
    Fact(
        "case.previous_state",
        T.ENUM,
        "The state it left (case.transitioned)",
        CASE_STATES,
        _aliases("CASE_STATE", CASE_STATES),
    ),
    Fact("case.age_hours", T.NUMBER, "Hours since the case was opened"),
    Fact("case.amount", T.NUMBER, "The amount at stake, in currency units"),
)

TIME_FACTS: tuple[Fact, ...] = (
    Fact("time.now", T.TIMESTAMP, "When the rule is evaluated"),
    Fact(
        "time.weekday",
        T.ENUM,
        "Day of the week in the tenant's time zone",
        WEEKDAYS,
        {d.upper(): d for d in WEEKDAYS},
    ),
    Fact("time.hour", T.NUMBER, "Hour of the day (0-23) in the tenant's time zone"),
    Fact(
        "time.in_business_hours",
        T.BOOLEAN,
        "Within the tenant's business hours (its calendar and time zone)",
    ),
)

# Facts of one trigger's event only.
TAG_CHANGE_FACTS = (
    Fact("customer.added_tags", T.TAGS, "Display names of the tags just added"),
    Fact("customer.removed_tags", T.TAGS, "Display names of the tags just removed"),
)
TIER_CHANGE_FACTS = (Fact("customer.previous_tier", T.TEXT, "The tier it left (a tiers/ name)"),)
STAGE_CHANGE_FACTS = (
    Fact(
        "customer.previous_stage",
        T.ENUM,
        "The lifecycle stage it left",
        LIFECYCLE_STAGES,
        _aliases("LIFECYCLE_STAGE", LIFECYCLE_STAGES),
    ),
)
SCORE_FACTS = (Fact("customer.score_delta", T.NUMBER, "The change of score just made"),)
UPDATE_FACTS = (Fact("customer.changed_fields", T.TAGS, "Field paths that changed"),)
ORDER_FACTS = (
    Fact("order.amount", T.NUMBER, "The order's amount, in currency units"),
    Fact("order.store", T.TEXT, "The store it was placed in"),
    Fact("order.external_id", T.TEXT, "The store's order id"),
)
CSAT_FACTS = (
    Fact("csat.score", T.NUMBER, "The rating, 1 to 5"),
    Fact("csat.comment", T.KEYWORDS_TEXT, "The customer's comment"),
    Fact("csat.assignee", T.TEXT, "The member rated"),
)
CONVERSATION_CHANGE_FACTS = (
    Fact(
        "conversation.previous_status",
        T.ENUM,
        "The status it left (conversation.status_changed)",
        CONVERSATION_STATUSES,
        _aliases("CONVERSATION_STATUS", CONVERSATION_STATUSES),
    ),
    Fact(
        "conversation.previous_assignee",
        T.TEXT,
        "The member it was assigned to before (conversation.assigned)",
    ),
)

_CUSTOMER_SIDE = CUSTOMER_FACTS + TIME_FACTS
_CONVERSATION_SIDE = CONVERSATION_FACTS + CUSTOMER_FACTS + TIME_FACTS

FACTS_BY_TRIGGER: Mapping[Trigger, tuple[Fact, ...]] = MappingProxyType(
    {
        Trigger.MESSAGE_RECEIVED: MESSAGE_FACTS + _CONVERSATION_SIDE,
        Trigger.CUSTOMER_CREATED: _CUSTOMER_SIDE,
        Trigger.CUSTOMER_UPDATED: UPDATE_FACTS + _CUSTOMER_SIDE,
        Trigger.CUSTOMER_TAGGED: TAG_CHANGE_FACTS[:1] + _CUSTOMER_SIDE,
        Trigger.CUSTOMER_UNTAGGED: TAG_CHANGE_FACTS[1:] + _CUSTOMER_SIDE,
        Trigger.CUSTOMER_TIER_CHANGED: TIER_CHANGE_FACTS + _CUSTOMER_SIDE,
        Trigger.CUSTOMER_STAGE_CHANGED: STAGE_CHANGE_FACTS + _CUSTOMER_SIDE,
        Trigger.CUSTOMER_SCORED: SCORE_FACTS + _CUSTOMER_SIDE,
        Trigger.ORDER_RECORDED: ORDER_FACTS + _CUSTOMER_SIDE,
        Trigger.CONVERSATION_CREATED: _CONVERSATION_SIDE,
        Trigger.CONVERSATION_STATUS_CHANGED: CONVERSATION_CHANGE_FACTS[:1] + _CONVERSATION_SIDE,
        Trigger.CONVERSATION_ASSIGNED: CONVERSATION_CHANGE_FACTS[1:] + _CONVERSATION_SIDE,
        Trigger.CASE_OPENED: CASE_FACTS + _CONVERSATION_SIDE,
        Trigger.CASE_TRANSITIONED: CASE_FACTS + _CONVERSATION_SIDE,
        Trigger.CSAT_SUBMITTED: CSAT_FACTS + _CONVERSATION_SIDE,
        Trigger.NO_REPLY_TIMEOUT: _CONVERSATION_SIDE,
        Trigger.CASE_OPEN_TIMEOUT: CASE_FACTS + _CONVERSATION_SIDE,
        Trigger.SCHEDULE: _CUSTOMER_SIDE,
    }
)

# The bare names of message facts that rules used before names were namespaced.
LEGACY_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "text": "message.text",
        "translated_text": "message.translated_text",
        "language": "message.language",
        "channel": "message.channel",
        "store": "message.store",
        "sentiment": "message.sentiment.score",
        "intents": "message.intents",
    }
)

_BY_NAME: dict[str, Fact] = {f.name: f for facts in FACTS_BY_TRIGGER.values() for f in facts}


def facts_of(trigger: Trigger) -> tuple[Fact, ...]:
    """The facts a rule with this trigger may name, in catalogue order."""
    return FACTS_BY_TRIGGER[trigger]


def fact(name: str) -> Fact | None:
    """The catalogue's fact of this name (``customer.custom.<key>`` is text)."""
    found = _BY_NAME.get(name)
    if (
        found is None
        and name.startswith(CUSTOM_FIELD_PREFIX)
        and len(name) > len(CUSTOM_FIELD_PREFIX)
    ):
        return Fact(name, T.TEXT, "A custom field of the customer, as text")
    return found


class FactSpecs(dict[str, FieldSpec]):
    """An allow-list of facts that also admits any ``customer.custom.<key>`` (as
    text) when ``custom_fields`` is set."""

    def __init__(self, specs: Mapping[str, FieldSpec], *, custom_fields: bool) -> None:
        super().__init__(specs)
        self.custom_fields = custom_fields

    def get(self, key: str, default: FieldSpec | None = None) -> FieldSpec | None:  # type: ignore[override]
        found = super().get(key)
        if found is not None:
            return found
        if self.custom_fields and fact(key) is not None and key.startswith(CUSTOM_FIELD_PREFIX):
            return FieldSpec(key, T.TEXT)
        return default

    def __contains__(self, key: object) -> bool:
        return self.get(str(key)) is not None


def allowed_fields(trigger: Trigger) -> FactSpecs:
    """The allow-list a condition of a rule with this trigger is checked with:
    every namespaced fact of the trigger, any ``customer.custom.<key>`` when the
    trigger sees the customer, and for message triggers the legacy bare names."""
    specs = {f.name: f.spec() for f in facts_of(trigger)}
    if trigger is Trigger.MESSAGE_RECEIVED:
        for legacy, name in LEGACY_NAMES.items():
            specs[legacy] = _BY_NAME[name].spec(legacy)
    sees_customer = any(f.namespace == "customer" for f in facts_of(trigger))
    return FactSpecs(specs, custom_fields=sees_customer)


def canonical_name(name: str) -> str:
    """The namespaced name of a fact named the legacy (bare) way, else the name."""
    return LEGACY_NAMES.get(name, name)


def with_canonical_names(node: Node) -> Node:
    """The tree with every legacy (bare) fact name replaced by its namespaced one."""
    if isinstance(node, Leaf):
        name = canonical_name(node.field)
        return node if name == node.field else replace(node, field=name)
    return Group(node.op, tuple(with_canonical_names(child) for child in node.children))
