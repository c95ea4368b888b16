"""Declared size limits are written where API users read them (ADR 0016).

A field with ``(crosstalk.common.v1.max_length)`` or ``max_items`` says its
limit in its comment too, and every service tells how fields without one
are bounded.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.protobuf import descriptor_pb2

from crosstalk.common.v1 import bounds_pb2  # registers the options before parsing
from tests.contract.conftest import DESCRIPTOR_SET, OUR_PREFIX

pytestmark = pytest.mark.nodb

_MESSAGE_TYPE, _NESTED_TYPE, _FIELD, _SERVICE = 4, 3, 2, 6


def _our_files() -> list[descriptor_pb2.FileDescriptorProto]:
    fds = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    return [f for f in fds.file if f.package.startswith(OUR_PREFIX)]


def _fields(
    messages: list[descriptor_pb2.DescriptorProto], prefix: str, path: tuple[int, ...]
) -> Iterator[tuple[str, descriptor_pb2.FieldDescriptorProto, tuple[int, ...]]]:
    for index, message in enumerate(messages):
        here = (*path, index)
        for number, field in enumerate(message.field):
            yield f"{prefix}{message.name}.{field.name}", field, (*here, _FIELD, number)
        yield from _fields(
            list(message.nested_type), f"{prefix}{message.name}.", (*here, _NESTED_TYPE)
        )


def test_declared_limits_are_in_the_comments() -> None:
    problems, declared = [], 0
    for file in _our_files():
        comments = {
            tuple(loc.path): loc.leading_comments.lower() for loc in file.source_code_info.location
        }
        for name, field, path in _fields(list(file.message_type), "", (_MESSAGE_TYPE,)):
            options = field.options
            if not (
                options.HasExtension(bounds_pb2.max_length)
                or options.HasExtension(bounds_pb2.max_items)
            ):
                continue
            declared += 1
            if "at most" not in comments.get(path, ""):
                problems.append(f"{file.name}: {name} declares a limit its comment does not state")
    assert declared > 50, "no size limits found: is the descriptor set current (make gen)?"
    assert not problems, "\n".join(problems)


def test_every_service_says_how_unannotated_fields_are_bounded() -> None:
    services = [
        (file.name, service.name, (_SERVICE, index))
        for file in _our_files()
        for index, service in enumerate(file.service)
    ]
    comments = {
        (file.name, tuple(loc.path)): loc.leading_comments
        for file in _our_files()
        for loc in file.source_code_info.location
    }
    missing = [
        f"{file}: {service}"
        for file, service, path in services
        if "Size limits" not in comments.get((file, path), "")
    ]
    assert services
    assert not missing, missing
