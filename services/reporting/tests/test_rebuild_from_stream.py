"""A rebuild from a real JetStream stream (nats-server started here) gives the same
numbers as the live consumer path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk_common.bus.catalogue import subject_for
from crosstalk_common.bus.connection import connect, ensure_streams
from crosstalk_devstack.nats import start_nats
from crosstalk_devstack.ports import free_port
from reporting.adapters.consumers import SOURCES
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.folding import rebuild
from reporting.app.metrics import ReportingService
from reporting.rebuild import batches, stream_events
from services.reporting.tests.test_metrics_from_events import consume, figures, script


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = start_nats(port, tmp_path / "js", tmp_path / "nats.log")
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


async def test_a_rebuild_from_the_stream_gives_the_numbers_the_consumers_made(
    nats_url: str,
    sessions: async_sessionmaker[AsyncSession],
    new_uow: type[ReportingUnitOfWork],
    tenant: str,
) -> None:
    events = script(tenant)
    await consume(sessions, events)
    service = ReportingService(new_uow)
    live = await figures(service, tenant)

    nc = await connect(nats_url, name="test-publisher")
    js = nc.jetstream()
    await ensure_streams(js, SOURCES)
    for event in events:
        subject = subject_for(event.envelope.producer, event.envelope.type)
        await js.publish(
            subject,
            event.envelope.SerializeToString(),
            headers={"Nats-Msg-Id": event.envelope.event_id},
        )
    await nc.close()

    streamed = await stream_events(nats_url, SOURCES)
    assert sorted(e.envelope.event_id for e in streamed) == sorted(
        e.envelope.event_id for e in events
    )
    await rebuild(new_uow, batches(streamed))
    assert await figures(service, tenant) == live
