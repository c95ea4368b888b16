"""Outbox rows of an import batch's events, built in bulk.

The rows are those crosstalk_common.db.outbox.outbox_row builds (the same
envelope, subject and headers), with what the events of a batch share
worked out once: the trace context they carry, and per payload type the
envelope's fields other than the event's id, time and payload (the first
envelope of a type is built by crosstalk_common's new_envelope and serves
as the template of the others). An import batch stages thousands of
events, so the per-event cost counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message
from opentelemetry import propagate

from crosstalk.events.v1 import envelope_pb2
from crosstalk_common.bus.catalogue import EventType
from crosstalk_common.bus.causation import current_causation
from crosstalk_common.bus.envelope import new_envelope
from crosstalk_common.clock import utc_now


def outbox_rows(tenant_id: str, events: Sequence[tuple[str, Message]]) -> list[dict[str, Any]]:
    """The outbox rows of (event id, payload) pairs, in order."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    causation = current_causation()
    templates: dict[type[Message], tuple[EventType, envelope_pb2.EventEnvelope]] = {}
    rows = []
    for event_id, payload in events:
        now = utc_now()
        found = templates.get(type(payload))
        if found is None:
            found = new_envelope(
                tenant_id,
                payload,
                occurred_at=now,
                trace_context=carrier,
                event_id=event_id,
                causation=causation,
            )
            templates[type(payload)] = found
        else:
            envelope = found[1]
            envelope.event_id = event_id
            envelope.occurred_time.FromDatetime(now)
            envelope.payload.value = payload.SerializeToString()
        event_type, envelope = found
        rows.append(
            {
                "id": event_id,
                "subject": event_type.subject,
                "payload": envelope.SerializeToString(),
                "headers": carrier,
                "created_at": now,
                "attempts": 0,
            }
        )
    return rows
