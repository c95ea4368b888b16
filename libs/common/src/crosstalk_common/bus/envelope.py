"""Building and reading event envelopes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.any_pb2 import Any as AnyPb
from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp

from crosstalk.events.v1 import envelope_pb2
from crosstalk_common.bus.catalogue import EventType, catalogue, event_type_of


@dataclass(frozen=True)
class Event:
    """An envelope read off the bus, with its payload decoded."""

    envelope: envelope_pb2.EventEnvelope
    payload: Message

    @property
    def event_id(self) -> str:
        return str(self.envelope.event_id)

    @property
    def tenant_id(self) -> str:
        return str(self.envelope.tenant_id)

    @property
    def type(self) -> str:
        return str(self.envelope.type)


class UndecodableEvent(ValueError):
    """The bytes on the bus are not an envelope of a catalogued type."""


def new_envelope(
    tenant_id: str,
    payload: Message,
    *,
    occurred_at: datetime,
    trace_context: dict[str, str],
    event_id: str | None = None,
) -> tuple[EventType, envelope_pb2.EventEnvelope]:
    event_type = event_type_of(payload)
    packed = AnyPb()
    packed.Pack(payload)
    stamp = Timestamp()
    stamp.FromDatetime(occurred_at)
    envelope = envelope_pb2.EventEnvelope(
        event_id=event_id or str(uuid.uuid4()),
        tenant_id=tenant_id,
        type=event_type.type,
        occurred_time=stamp,
        trace_context=trace_context,
        payload=packed,
        producer=event_type.producer,
    )
    return event_type, envelope


def read_event(data: bytes) -> Event:
    try:
        envelope = envelope_pb2.EventEnvelope.FromString(data)
    except DecodeError as exc:
        raise UndecodableEvent(f"not an event envelope: {exc}") from exc
    event_type = catalogue().get(envelope.type)
    if event_type is None:
        raise UndecodableEvent(f"unknown event type {envelope.type!r}")
    payload = event_type.payload()
    if not envelope.payload.Unpack(payload):
        raise UndecodableEvent(
            f"payload of {envelope.type!r} is {envelope.payload.TypeName()}, "
            f"expected {event_type.payload_name}"
        )
    return Event(envelope, payload)
