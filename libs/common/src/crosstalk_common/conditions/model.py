"""The condition tree as plain Python values (no protobuf, no SQL).

``parse_condition`` builds it from a ``crosstalk.common.v1.Condition`` after
checking it against a resource's allow-list of fields; ``compile_to_sql``
and ``evaluate`` consume it. Leaf values are already typed: ``str``,
``int | float``, aware UTC ``datetime``, ``bool`` or (for WITHIN_LAST) a
``timedelta``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Literal


class Op(StrEnum):
    """Leaf operators, named as in ``crosstalk.common.v1.Operator``."""

    IS_EMPTY = "is_empty"
    IS_NOT_EMPTY = "is_not_empty"
    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    CONTAINS = "contains"
    NOT_CONTAINS = "not_contains"
    IN = "in"
    NOT_IN = "not_in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    BEFORE = "before"
    AFTER = "after"
    WITHIN_LAST = "within_last"
    HAS_ANY_TAG = "has_any_tag"
    HAS_ALL_TAGS = "has_all_tags"
    HAS_NO_TAG = "has_no_tag"
    MATCHES_KEYWORDS = "matches_keywords"


class FieldType(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    TIMESTAMP = "timestamp"
    BOOLEAN = "boolean"
    TAGS = "tags"  # a set of strings
    ENUM = "enum"  # one of FieldSpec.enum_values
    KEYWORDS_TEXT = "keywords_text"  # free text, searchable with MATCHES_KEYWORDS


_PRESENCE = frozenset({Op.IS_EMPTY, Op.IS_NOT_EMPTY})
_EQUALITY = frozenset({Op.EQUALS, Op.NOT_EQUALS, Op.IN, Op.NOT_IN})
_TEXT = _PRESENCE | _EQUALITY | {Op.CONTAINS, Op.NOT_CONTAINS}

DEFAULT_OPERATORS: dict[FieldType, frozenset[Op]] = {
    FieldType.TEXT: _TEXT,
    FieldType.KEYWORDS_TEXT: _TEXT | {Op.MATCHES_KEYWORDS},
    FieldType.NUMBER: _PRESENCE | _EQUALITY | {Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN},
    FieldType.TIMESTAMP: _PRESENCE | {Op.BEFORE, Op.AFTER, Op.BETWEEN, Op.WITHIN_LAST},
    FieldType.BOOLEAN: frozenset({Op.EQUALS, Op.NOT_EQUALS}),
    FieldType.TAGS: _PRESENCE | {Op.HAS_ANY_TAG, Op.HAS_ALL_TAGS, Op.HAS_NO_TAG},
    FieldType.ENUM: _PRESENCE | _EQUALITY,
}


@dataclass(frozen=True)
class FieldSpec:
    """One field a resource allows in conditions.

    ``operators`` narrows (or widens) the type's ``DEFAULT_OPERATORS``.
    ``enum_aliases`` maps other spellings of an enum field's values to the
    value itself (``{"LIFECYCLE_STAGE_DEAL": "deal"}``: the proto enum names
    clients read in the API); parsing turns an alias into its value, so
    everything after it sees ``enum_values`` only.
    """

    name: str
    type: FieldType
    enum_values: Collection[str] | None = None  # stored as a frozenset
    operators: Collection[Op] | None = None  # stored as a frozenset
    enum_aliases: Mapping[str, str] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.type is FieldType.ENUM and not self.enum_values:
            raise ValueError(f"enum field {self.name!r} needs enum_values")
        if self.enum_aliases is not None:
            unknown = set(self.enum_aliases.values()) - set(self.enum_values or ())
            if unknown:
                raise ValueError(f"aliases of {self.name!r} name unknown values {sorted(unknown)}")
            object.__setattr__(self, "enum_aliases", MappingProxyType(dict(self.enum_aliases)))
        for attribute in ("enum_values", "operators"):
            value = getattr(self, attribute)
            if value is not None and not isinstance(value, frozenset):
                object.__setattr__(self, attribute, frozenset(value))

    @property
    def allowed_operators(self) -> frozenset[Op]:
        if self.operators is None:
            return DEFAULT_OPERATORS[self.type]
        return frozenset(self.operators)


def field_specs(*specs: FieldSpec) -> dict[str, FieldSpec]:
    """An allow-list keyed by field name: ``field_specs(FieldSpec("tier", ...), ...)``."""
    return {spec.name: spec for spec in specs}


@dataclass(frozen=True)
class Leaf:
    field: str
    operator: Op
    values: tuple[Any, ...] = ()
    fuzzy: bool = False


@dataclass(frozen=True)
class Group:
    op: Literal["and", "or", "not"]
    children: tuple[Node, ...]


Node = Group | Leaf


def iter_leaves(node: Node) -> Iterator[Leaf]:
    """Every leaf of the tree, depth first, left to right."""
    if isinstance(node, Leaf):
        yield node
        return
    for child in node.children:
        yield from iter_leaves(child)


def format_duration(value: timedelta) -> str:
    """``timedelta(days=7)`` -> ``"P7D"``; ``timedelta(hours=36)`` -> ``"P1DT12H"``."""
    seconds = value.total_seconds()
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    date_part = f"{int(days)}D" if days else ""
    units = ((hours, "H"), (minutes, "M"), (secs, "S"))
    time_part = "".join(f"{amount:g}{unit}" for amount, unit in units if amount)
    if not date_part and not time_part:
        return "PT0S"
    return f"{sign}P{date_part}" + (f"T{time_part}" if time_part else "")
