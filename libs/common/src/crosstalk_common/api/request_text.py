"""Every text field of a request, checked against the text rules.

``control_character_violations`` walks a message over its descriptor: plain
string fields, repeated ones, map keys and values, nested messages at any
depth, and ``google.protobuf.Struct``/``Value``/``ListValue`` by their JSON
(``attributes.size``, ``attributes.sizes[2]``). Bytes fields are data, not
text, and are left alone (so is the packed payload of an ``Any``). Field
paths follow AIP-193: ``customer.identities[2].external_id``; a map value is
``labels.key`` (backquoted when the key is not a plain identifier).
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from crosstalk_common.errors import FieldViolation
from crosstalk_common.text_rules import control_character_problem

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE
_JSON_TYPES = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)


def control_character_violations(message: Message) -> list[FieldViolation]:
    """One violation per text value holding a refused control character, in field order."""
    found: list[FieldViolation] = []
    _walk(message, "", found)
    return found


def _walk(message: Message, prefix: str, found: list[FieldViolation]) -> None:
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        entry = _map_entry(field)
        if entry is not None:
            _walk_map(entry, value, path, found)
        elif _is_repeated(field):
            for index, item in enumerate(value):
                _check_value(field, item, f"{path}[{index}]", found)
        else:
            _check_value(field, value, path, found)


def _walk_map(entry: Descriptor, entries: Any, path: str, found: list[FieldViolation]) -> None:
    key_field = entry.fields_by_name["key"]
    value_field = entry.fields_by_name["value"]
    for key in sorted(entries, key=str):
        if key_field.type == _STRING:
            problem = control_character_problem(key)
            if problem is not None:
                found.append(FieldViolation(path, f"keys {problem}"))
                continue
        _check_value(value_field, entries[key], f"{path}.{_key_path(key)}", found)


def _check_value(
    field: FieldDescriptor, value: Any, path: str, found: list[FieldViolation]
) -> None:
    if field.type == _STRING:
        problem = control_character_problem(value)
        if problem is not None:
            found.append(FieldViolation(path, problem))
    elif field.type == _MESSAGE:
        _walk_message(value, path, found)


def _walk_message(message: Message, path: str, found: list[FieldViolation]) -> None:
    """JSON values (Struct, Value, ListValue) get the paths their JSON has: ``attributes.size``."""
    if message.DESCRIPTOR.full_name in _JSON_TYPES:
        _walk_json(json_format.MessageToDict(message), path, found)
    else:
        _walk(message, f"{path}.", found)


def _walk_json(value: object, path: str, found: list[FieldViolation]) -> None:
    if isinstance(value, str):
        problem = control_character_problem(value)
        if problem is not None:
            found.append(FieldViolation(path, problem))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk_json(item, f"{path}[{index}]", found)
    elif isinstance(value, dict):
        for key in sorted(value):
            problem = control_character_problem(key)
            if problem is not None:
                found.append(FieldViolation(path, f"keys {problem}"))
            else:
                _walk_json(value[key], f"{path}.{_key_path(key)}", found)


def _key_path(key: object) -> str:
    text = str(key)
    return text if _PLAIN_KEY.fullmatch(text) else f"`{text}`"


def _map_entry(field: FieldDescriptor) -> Descriptor | None:
    """The entry type of a map field, None for any other field."""
    entry = field.message_type
    if field.type == _MESSAGE and entry is not None and entry.GetOptions().map_entry:
        return entry
    return None


def _is_repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)
