"""The customer attributes a filter (search, count, segment, bulk job, tier rule) may name.

Reference fields ("tags/{id}", "tiers/{id}", "members/{id}",
"departments/{id}") are compared by id: ``bare_reference_values`` strips
the prefix from condition values, and ``customer_facts`` gives ids.
"""

from __future__ import annotations

from collections.abc import Mapping

from crosstalk_common.conditions.model import FieldSpec, FieldType, Group, Leaf, Node, Op
from crosstalk_common.domain.channel import CHANNEL_ALIASES, CHANNEL_VALUES
from customers.domain.model import (
    CustomFieldDefinition,
    CustomFieldType,
    LifecycleStage,
)

CUSTOM_FIELD_PREFIX = "custom_fields."
DEFAULT_MAX_FILTER_CONDITIONS = 10

_REFERENCE = frozenset({Op.IS_EMPTY, Op.IS_NOT_EMPTY, Op.EQUALS, Op.NOT_EQUALS, Op.IN, Op.NOT_IN})
_MEMBERSHIP = frozenset({Op.EQUALS, Op.NOT_EQUALS, Op.IN, Op.NOT_IN})

# Field name -> resource prefix of its values.
REFERENCE_PREFIXES = {
    "tags": "tags/",
    "tier": "tiers/",
    "owner": "members/",
    "department": "departments/",
}

# The API's enum names ("LIFECYCLE_STAGE_DEAL", "CHANNEL_EMAIL", as Customer
# JSON shows them) -> the values filters compare ("deal", "email"). Filters
# accept both spellings; the channels' come with Channel (CHANNEL_ALIASES).
STAGE_NAMES = {f"LIFECYCLE_STAGE_{s.name}": s.value for s in LifecycleStage}

STATIC_FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("display_name", FieldType.TEXT),
        FieldSpec("emails", FieldType.TEXT),
        FieldSpec("phones", FieldType.TEXT),
        FieldSpec("country", FieldType.TEXT),
        FieldSpec("language", FieldType.TEXT),
        FieldSpec("time_zone", FieldType.TEXT),
        FieldSpec("tags", FieldType.TAGS),
        FieldSpec(
            "lifecycle_stage",
            FieldType.ENUM,
            enum_values=tuple(s.value for s in LifecycleStage),
            enum_aliases=STAGE_NAMES,
        ),
        FieldSpec("tier", FieldType.TEXT, operators=_REFERENCE),
        FieldSpec("score", FieldType.NUMBER),
        FieldSpec("points_balance", FieldType.NUMBER),
        FieldSpec("order_count", FieldType.NUMBER),
        FieldSpec("order_value", FieldType.NUMBER),
        FieldSpec("last_order_time", FieldType.TIMESTAMP),
        FieldSpec(
            "channel",
            FieldType.ENUM,
            enum_values=CHANNEL_VALUES,
            enum_aliases=CHANNEL_ALIASES,
            operators=_MEMBERSHIP,
        ),
        FieldSpec("store", FieldType.TEXT),
        FieldSpec("owner", FieldType.TEXT, operators=_REFERENCE),
        FieldSpec("department", FieldType.TEXT, operators=_REFERENCE),
        FieldSpec("blacklisted", FieldType.BOOLEAN),
        FieldSpec("create_time", FieldType.TIMESTAMP),
        FieldSpec("update_time", FieldType.TIMESTAMP),
        FieldSpec("last_active_time", FieldType.TIMESTAMP),
    )
}

# Fields holding several values per customer: SQL filters handle them, but
# in-memory evaluation (tier rules) compares single values, so it refuses them.
MULTI_VALUED_FIELDS = frozenset({"emails", "phones", "channel", "store"})

_CUSTOM_TYPES = {
    CustomFieldType.TEXT: FieldType.TEXT,
    CustomFieldType.NUMBER: FieldType.NUMBER,
    CustomFieldType.DATE: FieldType.TIMESTAMP,
    CustomFieldType.BOOLEAN: FieldType.BOOLEAN,
    CustomFieldType.SINGLE_SELECT: FieldType.ENUM,
    CustomFieldType.MULTI_SELECT: FieldType.TAGS,
}


def custom_field_spec(definition: CustomFieldDefinition) -> FieldSpec:
    name = CUSTOM_FIELD_PREFIX + definition.key
    kind = _CUSTOM_TYPES[definition.type or CustomFieldType.TEXT]
    if kind is FieldType.ENUM:
        return FieldSpec(name, kind, enum_values=tuple(definition.options) or ("",))
    return FieldSpec(name, kind)


def filter_fields(
    definitions: Mapping[str, CustomFieldDefinition], *, in_memory: bool = False
) -> dict[str, FieldSpec]:
    """Every field a tenant's customer filters may name."""
    fields = dict(STATIC_FIELDS)
    if in_memory:
        for name in MULTI_VALUED_FIELDS:
            del fields[name]
    for definition in definitions.values():
        spec = custom_field_spec(definition)
        fields[spec.name] = spec
    return fields


def bare_reference_values(node: Node) -> Node:
    """The tree with "tags/{id}"-style values of reference fields reduced to ids."""
    if isinstance(node, Group):
        return Group(node.op, tuple(bare_reference_values(c) for c in node.children))
    prefix = REFERENCE_PREFIXES.get(node.field)
    if prefix is None:
        return node
    values = tuple(str(v).removeprefix(prefix) for v in node.values)
    return Leaf(node.field, node.operator, values, node.fuzzy)
