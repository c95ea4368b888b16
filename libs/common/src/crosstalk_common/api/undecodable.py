"""Which field made a request undecodable.

When ``Message.FromString`` refuses bytes (a string field that is not UTF-8,
a truncated or garbled body), protobuf says only that parsing failed. This
module reads the wire format itself, over the message's descriptor, to name
the field for the caller: ``GET /v1/customers/%ff%fe`` puts bytes that are
not UTF-8 into ``name``, and the answer says so.
"""

from __future__ import annotations

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from crosstalk_common.errors import FieldViolation

NOT_UTF8 = "is not valid UTF-8"
CORRUPT = "is truncated or corrupt"
CORRUPT_BODY = "the request is not a valid protobuf message"

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


class _Corrupt(Exception):
    pass


def undecodable_field(descriptor: Descriptor, data: bytes) -> FieldViolation:
    """The field whose bytes cannot be decoded; the empty path when it is the body as a whole."""
    try:
        found = _scan(descriptor, memoryview(data), "")
    except _Corrupt:
        found = None
    return found or FieldViolation("", CORRUPT_BODY)


def _scan(descriptor: Descriptor, data: memoryview, prefix: str) -> FieldViolation | None:
    seen: dict[int, int] = {}
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise _Corrupt
        if wire_type == _VARINT:
            _, position = _varint(data, position)
        elif wire_type == _FIXED64:
            position += 8
        elif wire_type == _FIXED32:
            position += 4
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _varint(data, position)
            chunk = data[position : position + length]
            position += length
            field = descriptor.fields_by_number.get(number)
            if field is None:
                if len(chunk) < length:
                    raise _Corrupt
                continue
            index = seen.get(number, 0)
            seen[number] = index + 1
            path = f"{prefix}{field.name}"
            if field.is_repeated and not _is_map(field):
                path = f"{path}[{index}]"
            if len(chunk) < length:
                return FieldViolation(path, CORRUPT)
            problem = _problem_in(field, chunk, path)
            if problem is not None:
                return problem
        else:  # groups (wire types 3 and 4) do not exist in proto3; 6 and 7 are invalid
            raise _Corrupt
        if position > len(data):
            raise _Corrupt
    return None


def _problem_in(field: FieldDescriptor, chunk: memoryview, path: str) -> FieldViolation | None:
    if field.type == FieldDescriptor.TYPE_STRING:
        try:
            bytes(chunk).decode("utf-8")
        except UnicodeDecodeError:
            return FieldViolation(path, NOT_UTF8)
        return None
    if field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
        # A map entry is a message with ``key`` and ``value``; a bad one is named by the map.
        inner = "" if _is_map(field) else f"{path}."
        try:
            found = _scan(field.message_type, chunk, inner)
        except _Corrupt:
            return FieldViolation(path, CORRUPT)
        if found is not None and _is_map(field):
            return FieldViolation(path, f"{found.field} {found.description}")
        return found
    return None


def _is_map(field: FieldDescriptor) -> bool:
    entry = field.message_type
    return entry is not None and bool(entry.GetOptions().map_entry)


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    value = shift = 0
    while position < len(data):
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift >= 64:
            break
    raise _Corrupt
