"""OpenTelemetry spans for publishing and processing events (messaging conventions)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from opentelemetry import propagate, trace
from opentelemetry.trace import Link, Span, SpanKind

_tracer = trace.get_tracer("crosstalk.bus")


@contextmanager
def publish_span(batch: Sequence[tuple[str, Mapping[str, str]]]) -> Iterator[Span]:
    """The relay's PRODUCER span for a batch of (subject, creation context) it publishes.

    It links to each context the batch's events were created in, once per
    context (a unit of work's events share one). The consumer's span does not
    hang off it: it is a child of the creation context carried in the
    message's headers, so the trace runs from the request to the consumer.
    """
    links: list[Link] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    subjects: set[str] = set()
    for subject, creation in batch:
        subjects.add(subject)
        key = tuple(creation.items())
        if key in seen:
            continue
        seen.add(key)
        created = trace.get_current_span(propagate.extract(creation)).get_span_context()
        if created.is_valid:
            links.append(Link(created))
    attributes: dict[str, str | int] = {
        "messaging.system": "nats",
        "messaging.operation.type": "publish",
        "messaging.batch.message_count": len(batch),
    }
    name = "publish"
    if len(subjects) == 1:
        (subject,) = subjects
        name = f"publish {subject}"
        attributes["messaging.destination.name"] = subject
    with _tracer.start_as_current_span(
        name, kind=SpanKind.PRODUCER, links=links, attributes=attributes
    ) as span:
        yield span


def start_process_span(
    subject: str, event_id: str, consumer: str, headers: Mapping[str, str] | None
) -> Span:
    """The consumer's span for one event, a child of the request that created the
    event (its context travels in the message's headers); the caller ends it."""
    return _tracer.start_span(
        f"process {subject}",
        context=propagate.extract(headers or {}),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.destination.name": subject,
            "messaging.message.id": event_id,
            "messaging.consumer.group.name": consumer,
        },
    )


@contextmanager
def process_span(
    subject: str, event_id: str, consumer: str, headers: Mapping[str, str] | None
) -> Iterator[Span]:
    """``start_process_span``'s span, current while the event is handled."""
    span = start_process_span(subject, event_id, consumer, headers)
    with trace.use_span(span, end_on_exit=True):
        yield span
