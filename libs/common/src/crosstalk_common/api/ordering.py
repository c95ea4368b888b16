"""AIP-132 ``order_by``: parse it, and refuse what a List cannot sort by.

``order_by`` is a comma-separated list of field names, each optionally
followed by ``asc`` or ``desc`` (``"create_time desc, display_name"``). Each
List RPC declares the orderings it supports; anything else -- an unknown
field, an unsupported direction, a repeated field, bad syntax -- is
INVALID_ARGUMENT on ``order_by`` with a message naming what is allowed,
rather than being ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Flag, auto

from crosstalk_common.errors import InvalidArgument

__all__ = ["Direction", "SortKey", "parse_order_by"]

# A field path such as "create_time" or "owner.display_name".
_FIELD = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")
_MAX_ORDER_BY_LENGTH = 200


class Direction(Flag):
    """The directions a field can be sorted in."""

    ASCENDING = auto()
    DESCENDING = auto()
    BOTH = ASCENDING | DESCENDING


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False

    def __str__(self) -> str:
        return f"{self.field} desc" if self.descending else self.field


def parse_order_by(
    text: str,
    *,
    sortable: Mapping[str, Direction],
    default: Sequence[SortKey],
    field: str = "order_by",
) -> tuple[SortKey, ...]:
    """The sort keys ``text`` asks for; ``default`` when it is empty.

    ``sortable`` maps each field the List can sort by to the directions it
    supports; every other field is refused.
    """
    if not text.strip():
        return tuple(default)
    allowed = _describe(sortable)
    if len(text) > _MAX_ORDER_BY_LENGTH:
        raise InvalidArgument.field(
            field, f"must be at most {_MAX_ORDER_BY_LENGTH} characters; supported: {allowed}"
        )
    keys: list[SortKey] = []
    for term in text.split(","):
        key = _parse_term(term, field, allowed)
        directions = sortable.get(key.field)
        if directions is None:
            raise InvalidArgument.field(
                field, f"cannot order by {key.field!r}; supported: {allowed}"
            )
        wanted = Direction.DESCENDING if key.descending else Direction.ASCENDING
        if not directions & wanted:
            order = "descending" if key.descending else "ascending"
            raise InvalidArgument.field(
                field, f"{key.field!r} cannot be sorted {order}; supported: {allowed}"
            )
        if any(seen.field == key.field for seen in keys):
            raise InvalidArgument.field(field, f"names {key.field!r} twice")
        keys.append(key)
    return tuple(keys)


def _parse_term(term: str, field: str, allowed: str) -> SortKey:
    words = term.split()
    if not words or len(words) > 2 or _FIELD.fullmatch(words[0]) is None:
        raise InvalidArgument.field(
            field,
            f"{term.strip()!r} is not 'field' or 'field desc' (comma-separated); "
            f"supported: {allowed}",
        )
    if len(words) == 1:
        return SortKey(words[0])
    suffix = words[1].lower()
    if suffix not in ("asc", "desc"):
        raise InvalidArgument.field(
            field, f"{words[1]!r} is not a direction; use 'asc' or 'desc'; supported: {allowed}"
        )
    return SortKey(words[0], descending=suffix == "desc")


def _describe(sortable: Mapping[str, Direction]) -> str:
    if not sortable:
        return "none (leave order_by empty)"
    parts = []
    for name in sorted(sortable):
        directions = sortable[name]
        if directions == Direction.BOTH:
            parts.append(f"{name} [asc|desc]")
        elif directions == Direction.DESCENDING:
            parts.append(f"{name} desc")
        else:
            parts.append(name)
    return ", ".join(parts)
