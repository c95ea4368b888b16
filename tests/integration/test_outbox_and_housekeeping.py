"""The unit of work writes rows and events together or not at all; old rows are purged."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Column, MetaData, String, Table, func, insert, select, update

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.housekeeping import Housekeeper, Retention
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import inbox_table, outbox_table
from crosstalk_common.db.unit_of_work import SqlUnitOfWork

metadata = MetaData()
things = Table("things", metadata, Column("id", String(36), primary_key=True))
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


async def _counts(engine: object) -> tuple[int, int]:
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        rows = await conn.scalar(select(func.count()).select_from(things))
        events = await conn.scalar(select(func.count()).select_from(outbox))
    return int(rows), int(events)


def test_state_and_event_commit_together_or_not_at_all(db_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = session_factory(engine)
        nudged: list[bool] = []
        event = customer_events_pb2.CustomerCreated(customer="customers/1", display_name="A")

        async with SqlUnitOfWork(sessions, outbox, after_commit=lambda: nudged.append(True)) as uow:
            await uow.session.execute(insert(things).values(id="1"))
            await uow.emit("tenant", event)
            await uow.commit()
        assert await _counts(engine) == (1, 1)
        assert nudged == [True]

        async def failing_use_case() -> None:
            async with SqlUnitOfWork(sessions, outbox) as uow:
                await uow.session.execute(insert(things).values(id="2"))
                await uow.emit("tenant", event)
                raise RuntimeError("the use case failed after staging its event")

        with pytest.raises(RuntimeError):
            await failing_use_case()
        assert await _counts(engine) == (1, 1), "a failed unit of work left rows behind"

        async with SqlUnitOfWork(sessions, outbox) as uow:  # never committed
            await uow.session.execute(insert(things).values(id="3"))
            await uow.emit("tenant", event)
        assert await _counts(engine) == (1, 1)
        await engine.dispose()

    asyncio.run(scenario())


def test_housekeeping_purges_only_expired_rows(db_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = session_factory(engine)
        event = customer_events_pb2.CustomerCreated(customer="customers/1")
        async with SqlUnitOfWork(sessions, outbox) as uow:
            for _ in range(3):
                await uow.emit("tenant", event)
            await uow.commit()
        now = utc_now()
        async with engine.begin() as conn:
            ids = list((await conn.scalars(select(outbox.c.id).order_by(outbox.c.id))).all())
            # one published long ago, one published just now, one never published
            await conn.execute(
                update(outbox)
                .where(outbox.c.id == ids[0])
                .values(published_at=now - timedelta(days=30))
            )
            await conn.execute(update(outbox).where(outbox.c.id == ids[1]).values(published_at=now))
            await conn.execute(
                insert(inbox),
                [
                    {"consumer": "c", "event_id": "old", "processed_at": now - timedelta(days=30)},
                    {"consumer": "c", "event_id": "new", "processed_at": now},
                ],
            )
        purged = await Housekeeper(sessions, outbox, inbox, Retention()).purge_once(now)
        assert purged == (1, 1)
        async with engine.connect() as conn:
            left = set((await conn.scalars(select(outbox.c.id))).all())
            seen = set((await conn.scalars(select(inbox.c.event_id))).all())
        assert left == {ids[1], ids[2]}, "an unpublished or recent event was purged"
        assert seen == {"new"}
        await engine.dispose()

    asyncio.run(scenario())
