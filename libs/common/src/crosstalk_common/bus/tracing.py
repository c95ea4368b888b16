"""OpenTelemetry spans for publishing and processing events (messaging conventions)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Span, SpanKind

_tracer = trace.get_tracer("crosstalk.bus")


@contextmanager
def publish_span(subject: str, event_id: str, creation: Mapping[str, str]) -> Iterator[Span]:
    """The relay's PRODUCER span, linked to the context the event was created in."""
    created = trace.get_current_span(propagate.extract(dict(creation))).get_span_context()
    links = [Link(created)] if created.is_valid else []
    with _tracer.start_as_current_span(
        f"publish {subject}",
        kind=SpanKind.PRODUCER,
        links=links,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "publish",
            "messaging.destination.name": subject,
            "messaging.message.id": event_id,
        },
    ) as span:
        yield span


@contextmanager
def process_span(
    subject: str, event_id: str, consumer: str, headers: Mapping[str, str]
) -> Iterator[Span]:
    """The consumer's span, a child of the request that created the event."""
    parent = propagate.extract(dict(headers))
    with _tracer.start_as_current_span(
        f"process {subject}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.destination.name": subject,
            "messaging.message.id": event_id,
            "messaging.consumer.group.name": consumer,
        },
    ) as span:
        yield span
