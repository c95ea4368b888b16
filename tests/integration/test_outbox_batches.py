"""Events staged in bulk are stored as SQLAlchemy's own INSERT stores an outbox row,
commit with the unit of work, and go nowhere when it does not commit."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

from sqlalchemy import MetaData, func, insert, select, text

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.envelope import read_event
from crosstalk_common.clock import as_utc
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.event_tables import outbox_table
from crosstalk_common.db.outbox import outbox_rows, write_outbox_rows
from crosstalk_common.db.unit_of_work import SqlUnitOfWork

metadata = MetaData()
outbox = outbox_table(metadata)


def _payloads(n: int) -> list[customer_events_pb2.CustomerTagged]:
    return [
        customer_events_pb2.CustomerTagged(customer=f"customers/{i}", tags=["tags/vip"])
        for i in range(n)
    ]


def test_emit_many_commits_with_the_unit_of_work_in_order(db_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = session_factory(engine)
        nudged: list[bool] = []
        payloads = _payloads(1200)
        async with SqlUnitOfWork(sessions, outbox, after_commit=lambda: nudged.append(True)) as uow:
            one = await uow.emit("tenant", payloads[0])
            many = await uow.emit_many("tenant", payloads[1:])
            await uow.commit()
        assert nudged == [True]
        assert len(set(many)) == len(payloads) - 1
        async with engine.connect() as conn:
            rows = {r.id: r for r in await conn.execute(select(outbox))}
        assert set(rows) == {one, *many}
        for event_id, payload in zip([one, *many], payloads, strict=True):
            row = rows[event_id]
            event = read_event(row.payload)
            assert (event.event_id, event.payload) == (event_id, payload)
            assert row.subject == "crosstalk.customers.customer.tagged"
            assert row.published_at is None
            assert row.attempts == 0
            assert as_utc(row.created_at) == event.envelope.occurred_time.ToDatetime(tzinfo=UTC)

        async with SqlUnitOfWork(sessions, outbox) as uow:  # never committed
            await uow.emit_many("tenant", _payloads(50))
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(outbox)) == len(payloads)
        await engine.dispose()

    asyncio.run(scenario())


def test_bulk_written_rows_are_stored_as_sqlalchemy_stores_them(db_url: str) -> None:
    """Same stored text for times and JSON, so comparisons, ordering and reads agree."""

    async def scenario() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = session_factory(engine)
        rows = outbox_rows("tenant", _payloads(3))
        rows[1]["headers"] = {"traceparent": "00-abc-def-01", "note": 'tab\t"quote"\\'}
        by_sqlalchemy = [{**r, "id": f"sa-{n}"} for n, r in enumerate(rows)]
        async with sessions() as session, session.begin():
            await write_outbox_rows(session, outbox, rows)
            await session.execute(insert(outbox), by_sqlalchemy)
        raw = "SELECT id, subject, payload, headers, created_at, attempts FROM outbox"
        async with engine.connect() as conn:
            stored: dict[str, Any] = {r[0]: r[1:] for r in await conn.exec_driver_sql(raw)}
            read = {r.id: r for r in await conn.execute(select(outbox))}
        for n, row in enumerate(rows):
            assert stored[row["id"]] == stored[f"sa-{n}"]
            assert read[row["id"]].headers == row["headers"]
            assert as_utc(read[row["id"]].created_at) == row["created_at"]
            assert bytes(read[row["id"]].payload) == row["payload"]
        await engine.dispose()

    asyncio.run(scenario())


def test_a_joined_unit_of_work_that_fails_leaves_no_bulk_events(db_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            await session.execute(text("SELECT 1"))
            async with SqlUnitOfWork.joining(session, outbox) as uow:
                await uow.emit_many("tenant", _payloads(20))
                await uow.commit()
            try:
                async with SqlUnitOfWork.joining(session, outbox) as uow:
                    await uow.emit_many("tenant", _payloads(30))
                    raise RuntimeError("the handler failed before committing")
            except RuntimeError:
                pass
            async with SqlUnitOfWork.joining(session, outbox) as uow:
                await uow.emit_many("tenant", _payloads(40))  # never committed
        async with engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(outbox)) == 20
        await engine.dispose()

    asyncio.run(scenario())
