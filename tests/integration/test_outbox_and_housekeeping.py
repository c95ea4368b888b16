"""The unit of work writes rows and events together or not at all; old rows are purged."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, event, func, insert, select, update

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.envelope import new_event_ids
from crosstalk_common.bus.housekeeping import Housekeeper, Retention, first_id_at
from crosstalk_common.clock import utc_now
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import inbox_table, outbox_table
from crosstalk_common.db.unit_of_work import SqlUnitOfWork

metadata = MetaData()
things = Table("things", metadata, Column("id", String(36), primary_key=True))
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


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
        [old] = new_event_ids(1, now_ms=_ms(now - timedelta(days=30)))
        [late] = new_event_ids(1, now_ms=_ms(now - timedelta(days=30)))
        [new] = new_event_ids(1, now_ms=_ms(now))
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
                    {"consumer": "c", "event_id": old, "processed_at": now - timedelta(days=30)},
                    {"consumer": "c", "event_id": new, "processed_at": now},
                    # made long ago but published late (its relay was down): it stays
                    {"consumer": "c", "event_id": late, "processed_at": now},
                    # the same old event, applied by another consumer only now
                    {"consumer": "d", "event_id": old, "processed_at": now},
                ],
            )
        purged = await Housekeeper(sessions, outbox, inbox, Retention()).purge_once(now)
        assert purged == (1, 1)
        async with engine.connect() as conn:
            left = set((await conn.scalars(select(outbox.c.id))).all())
            seen = set((await conn.execute(select(inbox.c.consumer, inbox.c.event_id))).all())
        assert left == {ids[1], ids[2]}, "an unpublished or recent event was purged"
        assert seen == {("c", new), ("c", late), ("d", old)}
        await engine.dispose()

    asyncio.run(scenario())


def test_old_inbox_rows_go_a_chunk_at_a_time_through_the_primary_key(db_url: str) -> None:
    """Many expired rows of several consumers go in transactions of a few rows
    each, and no statement of the round reads a whole table (SQLite's plan)."""

    async def scenario() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        now = utc_now()
        expired = new_event_ids(7, now_ms=_ms(now - timedelta(days=20)))
        kept = new_event_ids(2, now_ms=_ms(now))
        async with engine.begin() as conn:
            await conn.execute(
                insert(inbox),
                [
                    {"consumer": c, "event_id": e, "processed_at": now - timedelta(days=20)}
                    for c in ("a", "b", "c")
                    for e in expired
                ]
                + [{"consumer": "b", "event_id": e, "processed_at": now} for e in kept],
            )
        statements: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", seen)
        retention = Retention(rows_per_transaction=3)
        purged = await Housekeeper(session_factory(engine), outbox, inbox, retention).purge_once()
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
        assert purged == (0, 21)
        async with engine.connect() as conn:
            left = set((await conn.execute(select(inbox.c.consumer, inbox.c.event_id))).all())
        assert left == {("b", e) for e in kept}
        deletes = [s for s in statements if s.lstrip().upper().startswith("DELETE FROM INBOX")]
        assert len(deletes) == 3 * 3  # 7 rows a consumer: 3, 3, then 1 (fewer: the last)
        if engine.dialect.name == "sqlite":
            async with engine.connect() as conn:
                for statement in {s for s in statements if "inbox" in s or "outbox" in s}:
                    params = [1] * statement.count("?")
                    plan = (
                        await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", tuple(params))
                    ).all()
                    scans = [r[-1] for r in plan if str(r[-1]).startswith(("SCAN", "USE TEMP"))]
                    assert not scans, (statement, scans)
        await engine.dispose()

    asyncio.run(scenario())


def test_the_first_id_of_a_moment_sorts_below_every_id_made_then_or_later() -> None:
    at = utc_now()
    boundary = first_id_at(at)
    before = new_event_ids(50, now_ms=_ms(at) - 1)
    after = new_event_ids(50, now_ms=_ms(at)) + new_event_ids(50, now_ms=_ms(at) + 1)
    assert all(i < boundary for i in before)
    assert all(boundary <= i for i in after)
