"""``python -m reporting.rebuild``: forget reporting's read models and fold every
event the streams still hold again (run it with reporting stopped).

Events are read from each producer's JetStream stream from its first message
(an ephemeral consumer, nothing acknowledged), merged in event-id order (ids are
time-ordered, ADR 0012), and folded in batches in one transaction: readers see
the old numbers until it commits. The streams keep 7 days; older history is
only in the read models.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Sequence

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from crosstalk_common.bus.catalogue import stream_name, stream_subjects
from crosstalk_common.bus.connection import connect
from crosstalk_common.bus.envelope import Event, UndecodableEvent, read_event
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.runtime import ServiceSettings
from reporting.adapters.consumers import SOURCES
from reporting.adapters.mapping import observed_events
from reporting.adapters.tables import outbox
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.folding import rebuild
from reporting.domain.observed import ObservedEvent

BATCH = 500


async def stream_events(nats_url: str, producers: Sequence[str]) -> list[Event]:
    nc = await connect(nats_url, name="reporting-rebuild")
    js = nc.jetstream()
    events: list[Event] = []
    try:
        for producer in producers:
            try:
                info = await js.stream_info(stream_name(producer))
            except NotFoundError:
                continue
            remaining = info.state.messages
            if not remaining:
                continue
            sub = await js.pull_subscribe(
                stream_subjects(producer)[0],
                stream=stream_name(producer),
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
            )
            while remaining > 0:
                try:
                    batch = await sub.fetch(min(BATCH, remaining), timeout=5)
                except TimeoutError:
                    break
                for message in batch:
                    # An undecodable event is skipped, as the live consumer parks it.
                    with contextlib.suppress(UndecodableEvent):
                        events.append(read_event(message.data))
                remaining -= len(batch)
            await sub.unsubscribe()
    finally:
        await nc.close()
    events.sort(key=lambda e: e.envelope.event_id)
    return events


async def batches(events: Sequence[Event]) -> AsyncIterator[Sequence[ObservedEvent]]:
    for i in range(0, len(events), BATCH):
        yield [o for e in events[i : i + BATCH] for o in observed_events(e)]


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Rebuild reporting's read models from the streams."
    )
    parser.parse_args(argv)
    settings = ServiceSettings.from_env("reporting")
    events = await stream_events(settings.nats_url, SOURCES)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        folded = await rebuild(lambda: ReportingUnitOfWork(sessions, outbox), batches(events))
    finally:
        await engine.dispose()
    print(f"reporting: rebuilt from {len(events)} events ({folded} observed)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
