"""No request field is unbounded: the backstop every service runs on every request.

Each string, bytes, repeated and map field of a request -- nested messages,
oneofs, ``google.protobuf.Struct`` values and condition trees included -- has
a size limit: the one its proto declares with ``(crosstalk.common.v1.
max_length)`` / ``(crosstalk.common.v1.max_items)``, or the default below.
``check_request_bounds`` refuses a request that exceeds any of them with
INVALID_ARGUMENT naming the field path as the other request checks do
(``rule.actions[0].add_tag.tags[3]``, ``variables.name``, a ``Struct`` by its
JSON: ``facts.order.items[2]``). A JSON value's strings and lists take the
limits declared on the field that holds it.

Services still enforce meaningful limits in their domain (a rule's name, a
tag's length); this module makes sure a forgotten field cannot carry
megabytes into a database, an event or a list response.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from crosstalk.common.v1 import bounds_pb2
from crosstalk_common.errors import FieldViolation, InvalidArgument

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ITEMS",
    "DEFAULT_MAX_LENGTH",
    "check_request_bounds",
    "request_bound_violations",
]

DEFAULT_MAX_LENGTH = 200
DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_MAX_ITEMS = 100
# Enough to act on; a request over its limits everywhere should not make a huge error.
_MAX_REPORTED = 10
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JSON_TYPES = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


@dataclass(frozen=True)
class _FieldBounds:
    descriptor: FieldDescriptor
    max_length: int
    max_items: int
    is_map: bool
    is_repeated: bool
    is_message: bool
    is_text: bool  # string (characters) or bytes (bytes)


def check_request_bounds(message: Message) -> None:
    """Raise INVALID_ARGUMENT if any field of ``message`` is over its limit."""
    violations: list[FieldViolation] = []
    for violation in request_bound_violations(message):
        violations.append(violation)
        if len(violations) == _MAX_REPORTED:
            break
    if violations:
        raise InvalidArgument(violations)


def request_bound_violations(message: Message, prefix: str = "") -> Iterator[FieldViolation]:
    """Every field of ``message`` (recursively) that is over its limit."""
    plan = _plan(message.DESCRIPTOR)
    for descriptor, value in message.ListFields():
        bounds = plan[descriptor.number]
        path = f"{prefix}{descriptor.name}"
        if bounds.is_map:
            yield from _map_violations(bounds, value, path)
        elif bounds.is_repeated:
            if len(value) > bounds.max_items:
                yield _too_many(path, bounds.max_items, len(value))
                continue
            for index, item in enumerate(value):
                yield from _value_violations(bounds, item, f"{path}[{index}]")
        else:
            yield from _value_violations(bounds, value, path)


def _map_violations(bounds: _FieldBounds, value: Any, path: str) -> Iterator[FieldViolation]:
    if len(value) > bounds.max_items:
        yield _too_many(path, bounds.max_items, len(value))
        return
    value_bounds = _plan(bounds.descriptor.message_type)[2]
    # Map values take the map field's own length limit when it declares one.
    if value_bounds.is_text and _declared(bounds.descriptor, bounds_pb2.max_length):
        value_bounds = replace(value_bounds, max_length=bounds.max_length)
    for key in sorted(value, key=str):
        if isinstance(key, str) and len(key) > DEFAULT_MAX_LENGTH:
            yield _too_long(f"{path} (a key)", DEFAULT_MAX_LENGTH, len(key), "characters")
            continue
        yield from _value_violations(value_bounds, value[key], f"{path}.{_key_path(key)}")


def _value_violations(bounds: _FieldBounds, value: Any, path: str) -> Iterator[FieldViolation]:
    if bounds.is_message:
        if value.DESCRIPTOR.full_name in _JSON_TYPES:
            # A JSON value's strings and lists take the limits declared on its field.
            yield from _json_violations(json_format.MessageToDict(value), bounds, path)
        else:
            yield from request_bound_violations(value, f"{path}.")
    elif bounds.is_text and len(value) > bounds.max_length:
        unit = "characters" if isinstance(value, str) else "bytes"
        yield _too_long(path, bounds.max_length, len(value), unit)


def _json_violations(value: object, bounds: _FieldBounds, path: str) -> Iterator[FieldViolation]:
    """Paths as the JSON has them: ``facts.order.items[2]`` (h5's text check does the same)."""
    if isinstance(value, str) and len(value) > bounds.max_length:
        yield _too_long(path, bounds.max_length, len(value), "characters")
    elif isinstance(value, list | dict) and len(value) > bounds.max_items:
        yield _too_many(path, bounds.max_items, len(value))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_violations(item, bounds, f"{path}[{index}]")
    elif isinstance(value, dict):
        for key in sorted(value):
            if len(key) > DEFAULT_MAX_LENGTH:
                yield _too_long(f"{path} (a key)", DEFAULT_MAX_LENGTH, len(key), "characters")
            else:
                yield from _json_violations(value[key], bounds, f"{path}.{_key_path(key)}")


def _key_path(key: object) -> str:
    text = str(key)
    return text if _PLAIN_KEY.fullmatch(text) else f"`{text}`"


def _too_long(path: str, limit: int, actual: int, unit: str) -> FieldViolation:
    return FieldViolation(path, f"must be at most {limit:,} {unit} long, got {actual:,}")


def _too_many(path: str, limit: int, actual: int) -> FieldViolation:
    return FieldViolation(path, f"must have at most {limit:,} items, got {actual:,}")


def _declared(descriptor: FieldDescriptor, option: Any) -> int:
    options = descriptor.GetOptions()
    return int(options.Extensions[option]) if options.HasExtension(option) else 0


@cache
def _plan(message: Descriptor) -> dict[int, _FieldBounds]:
    """The limits of each field of a message type, worked out once per type."""
    plan = {}
    for field in message.fields:
        entry = field.message_type
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        is_map = is_message and entry is not None and bool(entry.GetOptions().map_entry)
        is_bytes = field.type == FieldDescriptor.TYPE_BYTES
        plan[field.number] = _FieldBounds(
            descriptor=field,
            max_length=_declared(field, bounds_pb2.max_length)
            or (DEFAULT_MAX_BYTES if is_bytes else DEFAULT_MAX_LENGTH),
            max_items=_declared(field, bounds_pb2.max_items) or DEFAULT_MAX_ITEMS,
            is_map=is_map,
            is_repeated=field.is_repeated,
            is_message=is_message,
            is_text=is_bytes or field.type == FieldDescriptor.TYPE_STRING,
        )
    return plan
