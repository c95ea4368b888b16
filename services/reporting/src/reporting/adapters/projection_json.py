"""The projections folding keeps, to and from the JSON stored for them."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from reporting.domain.folding import CaseFacts, ConversationFacts, CustomerFacts, LevelKey

_TIMES = {"stage_since", "opened_at", "awaiting_since"}


# Each projection's field names, worked out once (dataclasses.fields is slow
# enough to show on every event folded).
_NAMES: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls))
    for cls in (CustomerFacts, ConversationFacts, CaseFacts)
}


def to_json(facts: CustomerFacts | ConversationFacts | CaseFacts) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in _NAMES[type(facts)]:
        value = getattr(facts, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, LevelKey):
            value = value.as_json()
        elif isinstance(value, tuple):
            value = list(value)
        data[name] = value
    return data


def _fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = _NAMES[cls]
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name not in names:
            continue
        if name in _TIMES and value:
            value = datetime.fromisoformat(value)
        elif name == "level":
            value = LevelKey.from_json(value)
        elif name == "tags":
            value = tuple(value or ())
        values[name] = value
    return values


def customer_from(data: dict[str, Any]) -> CustomerFacts:
    return CustomerFacts(**_fields(CustomerFacts, data))


def conversation_from(data: dict[str, Any]) -> ConversationFacts:
    return ConversationFacts(**_fields(ConversationFacts, data))


def case_from(data: dict[str, Any]) -> CaseFacts:
    return CaseFacts(**_fields(CaseFacts, data))
