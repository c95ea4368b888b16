"""Envelopes and outbox rows built for many events at once say what one-by-one ones say."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.envelope import (
    EnvelopeWriter,
    new_envelope,
    new_event_ids,
    read_event,
)
from crosstalk_common.db.outbox import outbox_row, outbox_rows

TENANT = "tenant-1"


def test_a_written_envelope_is_byte_for_byte_the_one_new_envelope_builds() -> None:
    at = datetime(2026, 11, 23, 17, 5, 16, 111419, tzinfo=UTC)
    context = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    writer = EnvelopeWriter(TENANT, occurred_at=at, trace_context=context)
    payloads = [
        customer_events_pb2.CustomerTagged(customer="customers/a", tags=["tags/1", "tags/2"]),
        customer_events_pb2.CustomerUntagged(customer="customers/a", tags=["tags/3"]),
        customer_events_pb2.CustomerTagged(customer="customers/b", tags=["tags/1"]),
        customer_events_pb2.CustomerTagged(),  # an empty payload, too
    ]
    for n, payload in enumerate(payloads):
        event_id = f"event-{n}"
        event_type, data = writer.write(payload, event_id)
        expected_type, expected = new_envelope(
            TENANT, payload, occurred_at=at, trace_context=context, event_id=event_id
        )
        assert event_type == expected_type
        assert data == expected.SerializeToString()
        event = read_event(data)
        assert (event.event_id, event.tenant_id, event.type) == (event_id, TENANT, event_type.type)
        assert event.payload == payload


def test_new_event_ids_are_distinct_time_ordered_version_7_uuids() -> None:
    at_ms = 1_795_000_000_123
    ids = new_event_ids(5000, now_ms=at_ms)
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)  # ascending as text, as the B-trees compare them
    for event_id in ids:
        parsed = uuid.UUID(event_id)
        assert str(parsed) == event_id
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert parsed.int >> 80 == at_ms  # the time, in the first 48 bits
    later = new_event_ids(3, now_ms=at_ms + 1)
    assert later[0] > ids[-1]
    assert new_event_ids(0) == []


def test_ids_made_one_after_the_other_ascend_within_a_millisecond() -> None:
    # A unit of work stages its events one call at a time: their ids must keep
    # that order, so the outbox (ordered by id) publishes them in it.
    one_by_one = [new_event_ids(1)[0] for _ in range(3000)]
    assert one_by_one == sorted(one_by_one)
    runs = [new_event_ids(3) for _ in range(500)]
    flat = [event_id for run in runs for event_id in run]
    assert flat == sorted(flat)
    assert len(set(flat)) == len(flat)


def test_outbox_rows_share_the_time_and_the_trace_context_of_the_caller() -> None:
    span = NonRecordingSpan(
        SpanContext(
            trace_id=0x0AF7651916CD43DD8448EB211C80319C,
            span_id=0xB7AD6B7169203331,
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )
    payloads = [
        customer_events_pb2.CustomerTagged(customer=f"customers/{n}", tags=["tags/1"])
        for n in range(3)
    ] + [customer_events_pb2.CustomerBlacklisted(customer="customers/9", reason="spam")]
    with trace.use_span(span):
        rows = outbox_rows(TENANT, payloads)
        single = outbox_row(TENANT, payloads[0])

    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert [r["headers"]["traceparent"] for r in rows] == [traceparent] * 4
    assert single["headers"]["traceparent"] == traceparent
    assert len({r["id"] for r in rows} | {single["id"]}) == 5
    assert len({r["created_at"] for r in rows}) == 1
    assert [r["subject"] for r in rows] == ["crosstalk.customers.customer.tagged"] * 3 + [
        "crosstalk.customers.customer.blacklisted"
    ]
    for row, payload in zip(rows, payloads, strict=True):
        event = read_event(row["payload"])
        assert event.event_id == row["id"]
        assert event.payload == payload
        assert dict(event.envelope.trace_context) == row["headers"]
        assert event.envelope.occurred_time.ToDatetime(tzinfo=UTC) == row["created_at"]
