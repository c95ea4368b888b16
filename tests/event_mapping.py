"""For each service's test_event_mapping: a domain event's proto (``adapters/mapping.event_pb``)
must be the one the use case built itself before, to the byte."""

from __future__ import annotations

from google.protobuf.message import Message


def assert_same_event(mapped: Message, expected: Message) -> None:
    assert mapped == expected
    assert mapped.SerializeToString(deterministic=True) == expected.SerializeToString(
        deterministic=True
    )
