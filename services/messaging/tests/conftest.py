"""Fixtures of messaging's adapter tests: a migrated database (SQLite or PostgreSQL, by
CROSSTALK_TEST_DB) and units of work over it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message as ProtoMessage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from crosstalk.events.v1 import envelope_pb2, messaging_events_pb2
from crosstalk_common.bus.catalogue import catalogue
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_devstack.databases import service_database_urls
from messaging.adapters.tables import outbox
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.bootstrap import MIGRATIONS

Sessions = async_sessionmaker[Any]


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    label = f"ms{uuid.uuid4().hex[:6]}"
    var_dir: Path = tmp_path_factory.mktemp("db")
    url = service_database_urls(("messaging",), var_dir, label)["messaging"]
    upgrade_to_head(MIGRATIONS, url)
    return url


@pytest.fixture(scope="session")
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def new_uow(sessions: Sessions) -> Callable[[], MessagingUnitOfWork]:
    def factory() -> MessagingUnitOfWork:
        return MessagingUnitOfWork(sessions, outbox)

    return factory


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"


_EVENT_TYPES: dict[str, type[ProtoMessage]] = {
    "conversation.created": messaging_events_pb2.ConversationCreated,
    "message.received": messaging_events_pb2.MessageReceived,
}


async def outbox_events(sessions: Sessions, tenant_id: str) -> list[tuple[str, ProtoMessage]]:
    """The tenant's events in the outbox (type, payload), in the order they were staged
    (event ids grow with time)."""
    async with sessions() as session:
        rows = (await session.execute(select(outbox.c.payload).order_by(outbox.c.id))).all()
    events = []
    for (payload,) in rows:
        envelope = envelope_pb2.EventEnvelope.FromString(payload)
        if envelope.tenant_id != tenant_id:
            continue
        known = _EVENT_TYPES.get(envelope.type)
        event = known() if known is not None else catalogue()[envelope.type].payload()
        envelope.payload.Unpack(event)
        events.append((envelope.type, event))
    return events
