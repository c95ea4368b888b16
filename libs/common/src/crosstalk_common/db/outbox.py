"""Staging events in the outbox, inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message
from opentelemetry import propagate
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.bus.envelope import new_envelope
from crosstalk_common.clock import utc_now


def outbox_row(tenant_id: str, payload: Message) -> dict[str, Any]:
    """The outbox row of one event, carrying the current trace context.

    Saving the context with the event lets the consumer's span join the trace
    of the request that caused it, however late the relay publishes it.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    now = utc_now()
    event_type, envelope = new_envelope(tenant_id, payload, occurred_at=now, trace_context=carrier)
    return {
        "id": envelope.event_id,
        "subject": event_type.subject,
        "payload": envelope.SerializeToString(),
        "headers": carrier,
        "created_at": now,
        "attempts": 0,
    }


async def write_outbox_rows(
    session: AsyncSession, outbox: Table, rows: Sequence[dict[str, Any]]
) -> None:
    if rows:
        await session.execute(insert(outbox), list(rows))


async def stage_event(
    session: AsyncSession, outbox: Table, tenant_id: str, payload: Message
) -> str:
    """Write one event to the outbox now; it commits (or not) with the session."""
    row = outbox_row(tenant_id, payload)
    await write_outbox_rows(session, outbox, [row])
    return str(row["id"])
