"""Staging events in the outbox, inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message
from opentelemetry import propagate
from psycopg import sql
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.bus.envelope import EnvelopeWriter, new_event_ids
from crosstalk_common.clock import utc_now

_COLUMNS = ("id", "subject", "payload", "headers", "created_at", "attempts")
# How each column travels in a binary COPY. json's binary form is its text,
# so the headers go as the JSON text they are (and payloads as raw bytes,
# not escaped as in a text COPY).
_PG_BINARY_TYPES = ["text", "text", "bytea", "text", "timestamptz", "int4"]


def outbox_rows(tenant_id: str, payloads: Sequence[Message]) -> list[dict[str, Any]]:
    """The outbox rows of events happening now, in order, carrying the current trace context.

    Saving the context with the event lets the consumer's span join the trace
    of the request that caused it, however late the relay publishes it. The
    events share the time, the trace context (one ``headers`` dict for all
    rows) and each type's envelope fields, worked out once.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    now = utc_now()
    writer = EnvelopeWriter(tenant_id, occurred_at=now, trace_context=carrier)
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


def outbox_row(tenant_id: str, payload: Message) -> dict[str, Any]:
    """The outbox row of one event (see ``outbox_rows``)."""
    return outbox_rows(tenant_id, [payload])[0]


async def write_outbox_rows(
    session: AsyncSession, outbox: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """All rows at once, without per-row parameter handling.

    On PostgreSQL with a binary COPY, on SQLite with the driver's executemany of plain
    tuples, both on the session's own connection (same transaction). Values
    are converted once per distinct object (the rows of a batch share their
    headers and time), as SQLAlchemy's own INSERT would convert them.
    """
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    # As SQLAlchemy's JSON type writes them (the engines set no json_serializer).
    headers_json = _Converted(json.dumps)
    if dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.Identifier(outbox.name), sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
        )
        async with driver.cursor() as cursor, cursor.copy(statement) as copy:
            copy.set_types(_PG_BINARY_TYPES)
            for r in rows:
                await copy.write_row(
                    (
                        r["id"],
                        r["subject"],
                        r["payload"],
                        headers_json(r["headers"]),
                        r["created_at"],
                        r["attempts"],
                    )
                )
        return
    stored_time = _Converted(
        outbox.c.created_at.type.dialect_impl(dialect).bind_processor(dialect) or _same
    )
    quote = dialect.identifier_preparer.quote
    statement_text = (
        f"INSERT INTO {quote(outbox.name)} ({', '.join(map(quote, _COLUMNS))}) "  # noqa: S608 (table and column names)
        f"VALUES ({', '.join('?' for _ in _COLUMNS)})"
    )
    await connection.exec_driver_sql(
        statement_text,
        [
            (
                r["id"],
                r["subject"],
                r["payload"],
                headers_json(r["headers"]),
                stored_time(r["created_at"]),
                r["attempts"],
            )
            for r in rows
        ],
    )


async def stage_event(
    session: AsyncSession, outbox: Table, tenant_id: str, payload: Message
) -> str:
    """Write one event to the outbox now; it commits (or not) with the session."""
    row = outbox_row(tenant_id, payload)
    await write_outbox_rows(session, outbox, [row])
    return str(row["id"])


def _same(value: Any) -> Any:
    return value


class _Converted:
    """A bind processor applied once per distinct object: rows of a batch share theirs."""

    def __init__(self, process: Any) -> None:
        self._process = process
        self._last: tuple[Any, Any] = (_Converted, None)

    def __call__(self, value: Any) -> Any:
        if self._last[0] is not value:
            self._last = (value, self._process(value))
        return self._last[1]
