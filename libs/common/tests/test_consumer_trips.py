"""A consumer's batch on SQLite: the inbox claim makes the transaction's one
trip to the connection's thread, and when the handler's writes are marked
``in_the_loop`` the COMMIT runs in the event loop (sqlite_one_trip); a redelivered
batch is still skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crosstalk.events.v1 import rule_events_pb2
from crosstalk_common.bus.consumer import EventConsumer, Subscription
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import inbox_table
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from crosstalk_devstack.sqlite_trips import count_trips

_metadata = MetaData()
_inbox = inbox_table(_metadata)
_seen = Table(
    "seen", _metadata, Column("n", Integer, primary_key=True), Column("event_id", String(36))
)
_SEE = in_the_loop(_seen.insert())


@dataclass
class _Msg:
    data: bytes
    subject: str = "crosstalk.rules.rule.action.tag"
    headers: dict[str, str] = field(default_factory=dict)
    acked: int = 0

    async def ack(self) -> None:
        self.acked += 1


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """As a service creates it: commits do not checkpoint."""
    engine = create_engine(f"sqlite:///{tmp_path / 'consumer.db'}", checkpoint_in_background=True)
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    yield engine
    await engine.dispose()


def _message(run: str) -> _Msg:
    payload = rule_events_pb2.RuleActionTagRequested(rule="rules/r", run=run)
    _, envelope = new_envelope(
        "tenant", payload, occurred_at=utc_now(), trace_context={}, causation=None
    )
    return _Msg(envelope.SerializeToString())


async def _see(session: AsyncSession, events: Sequence[Event]) -> None:
    for event in events:
        await session.execute(_SEE, {"event_id": event.event_id})


async def test_a_batch_with_marked_writes_makes_one_trip_and_is_applied_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = session_factory(engine)
    subscription = Subscription(durable="d", producer="rules", event_types=["rule.action.tag"])
    no_bus = cast(JetStreamContext, None)  # process() is given the fetched messages
    consumer = EventConsumer(no_bus, sessions, _inbox, subscription, None, batch_handler=_see)
    sent = [_message("a"), _message("b")]
    batch = cast(list[Msg], sent)  # as fetched: data, subject, headers, ack()
    trips = count_trips(monkeypatch)
    await consumer.process(batch)
    assert trips == ["_run"]  # the claim; the handler's writes and the COMMIT in the loop
    assert [m.acked for m in sent] == [1, 1]
    await consumer.process(batch)  # redelivered: claimed before, nothing applied
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(_seen)) == 2
        assert await conn.scalar(select(func.count()).select_from(_inbox)) == 2
