"""Staging events in the outbox, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message
from opentelemetry import propagate
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.bus.causation import Causation, current_causation
from crosstalk_common.bus.envelope import EnvelopeWriter, new_event_ids
from crosstalk_common.clock import utc_now
from crosstalk_common.db.bulk_insert import insert_rows


def outbox_rows(
    tenant_id: str, payloads: Sequence[Message], causation: Causation | None = None
) -> list[dict[str, Any]]:
    """The outbox rows of events happening now, in order, carrying the current
    trace context and causation (``causation`` instead, if given: see
    ``bus.causation``).

    Saving the context with the event lets the consumer's span join the trace
    of the request that caused it, however late the relay publishes it. The
    events share the time, the trace context (one ``headers`` dict for all
    rows) and each type's envelope fields, worked out once.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    now = utc_now()
    writer = EnvelopeWriter(
        tenant_id,
        occurred_at=now,
        trace_context=carrier,
        causation=causation if causation is not None else current_causation(),
    )
    rows = []
    for event_id, payload in zip(new_event_ids(len(payloads)), payloads, strict=True):
        event_type, envelope = writer.write(payload, event_id)
        rows.append(
            {
                "id": event_id,
                "subject": event_type.subject,
                "payload": envelope,
                "headers": carrier,
                "created_at": now,
                "attempts": 0,
            }
        )
    return rows


def outbox_row(
    tenant_id: str, payload: Message, causation: Causation | None = None
) -> dict[str, Any]:
    """The outbox row of one event (see ``outbox_rows``)."""
    return outbox_rows(tenant_id, [payload], causation)[0]


async def write_outbox_rows(
    session: AsyncSession, outbox: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """All rows at once, in the session's transaction (see ``bulk_insert``)."""
    await insert_rows(session, outbox, rows)


async def stage_event(
    session: AsyncSession,
    outbox: Table,
    tenant_id: str,
    payload: Message,
    *,
    causation: Causation | None = None,
) -> str:
    """Write one event to the outbox now; it commits (or not) with the session."""
    row = outbox_row(tenant_id, payload, causation)
    await write_outbox_rows(session, outbox, [row])
    return str(row["id"])
