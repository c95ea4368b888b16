"""The event catalogue: which payload message belongs to which event type.

The catalogue lives in the contracts: every payload message in
crosstalk.events.v1 carries the ``(crosstalk.events.v1.event)`` option naming
its type and producer. The subject on NATS is ``crosstalk.<producer>.<type>``,
and each producer owns one stream holding ``crosstalk.<producer>.>``.
"""

from __future__ import annotations

import builtins
import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

import crosstalk.events.v1 as events_package
from crosstalk.events.v1 import envelope_pb2

SUBJECT_ROOT = "crosstalk"


@dataclass(frozen=True)
class EventType:
    type: str
    producer: str
    payload: builtins.type[Message]

    @cached_property
    def subject(self) -> str:
        return subject_for(self.producer, self.type)

    @property
    def payload_name(self) -> str:
        return str(self.payload.DESCRIPTOR.full_name)


def subject_for(producer: str, event_type: str) -> str:
    return f"{SUBJECT_ROOT}.{producer}.{event_type}"


def stream_name(producer: str) -> str:
    """The JetStream stream holding every event a producer publishes."""
    return producer.upper()


def stream_subjects(producer: str) -> list[str]:
    return [f"{SUBJECT_ROOT}.{producer}.>"]


def _spec_of(descriptor: Any) -> envelope_pb2.EventSpec | None:
    options = descriptor.GetOptions()
    if not options.HasExtension(envelope_pb2.event):
        return None
    spec: envelope_pb2.EventSpec = options.Extensions[envelope_pb2.event]
    return spec


@cache
def catalogue() -> dict[str, EventType]:
    """Every catalogued event type, keyed by type (e.g. "message.received")."""
    for module in pkgutil.iter_modules(events_package.__path__):
        if module.name.endswith("_pb2"):
            importlib.import_module(f"{events_package.__name__}.{module.name}")
    found: dict[str, EventType] = {}
    for module in pkgutil.iter_modules(events_package.__path__):
        if not module.name.endswith("_pb2"):
            continue
        file_desc = importlib.import_module(f"{events_package.__name__}.{module.name}").DESCRIPTOR
        for descriptor in file_desc.message_types_by_name.values():
            spec = _spec_of(descriptor)
            if spec is None:
                continue
            if spec.type in found:
                raise ValueError(f"event type {spec.type!r} is declared twice")
            found[spec.type] = EventType(spec.type, spec.producer, GetMessageClass(descriptor))
    return found


_TYPE_OF_CLASS: dict[builtins.type[Message], EventType] = {}


def event_type_of(payload: Message) -> EventType:
    """The catalogue entry of a payload message; raises if it is not an event."""
    found = _TYPE_OF_CLASS.get(type(payload))
    if found is not None:  # every event staged asks: read the options once per class
        return found
    spec = _spec_of(payload.DESCRIPTOR)
    if spec is None:
        raise TypeError(f"{payload.DESCRIPTOR.full_name} is not a catalogued event payload")
    found = _TYPE_OF_CLASS[type(payload)] = catalogue()[spec.type]
    return found


def producer_types(producer: str) -> list[EventType]:
    return [t for t in catalogue().values() if t.producer == producer]
