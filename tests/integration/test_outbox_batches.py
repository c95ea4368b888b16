"""Events staged in bulk are stored as SQLAlchemy's own INSERT stores an outbox row,
commit with the unit of work, and go nowhere when it does not commit; rows of
every column type written by ``insert_rows`` are stored as an INSERT stores them."""

from __future__ import annotations

import asyncio
import enum
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Enum,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    text,
)

from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.envelope import read_event
from crosstalk_common.clock import as_utc
from crosstalk_common.db.bulk_insert import insert_rows
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


class _Colour(enum.Enum):
    RED = "red"


@pytest.mark.parametrize("copies", [1, 6], ids=["a few rows", "many rows"])
def test_every_column_type_is_stored_as_sqlalchemy_stores_it(db_url: str, copies: int) -> None:
    """On PostgreSQL one INSERT for a few rows, and for more a binary COPY where each
    type has a binary form, a text COPY where one does not (an Enum column); on SQLite
    multi-row INSERTs: the same stored values as SQLAlchemy's own INSERT."""
    kinds = MetaData()
    typed = Table(
        "typed",
        kinds,
        Column("id", String(10), primary_key=True),
        Column("note", Text, nullable=True),
        Column("flag", Boolean, nullable=True),
        Column("small", SmallInteger, nullable=True),
        Column("count", Integer, nullable=True),
        Column("big", BigInteger, nullable=True),
        Column("ratio", Float, nullable=True),
        Column("day", Date, nullable=True),
        Column("at", DateTime(timezone=True), nullable=True),
        Column("blob", LargeBinary, nullable=True),
        Column("doc", JSON, nullable=True),
    )
    with_enum = Table(
        "with_enum",
        kinds,
        Column("id", String(10), primary_key=True),
        Column("colour", Enum(_Colour)),
    )
    full = {
        "note": 'tab\t"quote"\\ новый',
        "flag": True,
        "small": -7,
        "count": 2_000_000_000,
        "big": 9_000_000_000_000,
        "ratio": 0.25,
        "day": date(2026, 11, 23),
        "at": datetime(2026, 11, 23, 22, 14, 7, 123456, tzinfo=UTC),
        "blob": b"\x00\x01\xff",
        "doc": {"a": [1, "x"], "b": None},
    }
    empty = dict.fromkeys(full)

    async def scenario() -> None:
        engine = create_engine(db_url)
        async with engine.begin() as conn:
            await conn.run_sync(kinds.create_all)
        sessions = session_factory(engine)
        bulk = [
            row
            for n in range(copies)
            for row in ({"id": f"full{n}", **full}, {"id": f"empty{n}", **empty})
        ]
        colour_rows = [{"id": f"copied{n}", "colour": _Colour.RED} for n in range(2 * copies)]
        async with sessions() as session, session.begin():
            await insert_rows(session, typed, bulk)
            await session.execute(
                insert(typed), [{"id": "sa-full", **full}, {"id": "sa-empty", **empty}]
            )
            await insert_rows(session, with_enum, colour_rows)
            await session.execute(insert(with_enum), [{"id": "sa", "colour": _Colour.RED}])
        async with engine.connect() as conn:
            stored = {r[0]: r[1:] for r in await conn.exec_driver_sql("SELECT * FROM typed")}
            read = {r.id: r for r in await conn.execute(select(typed))}
            colours = dict((await conn.exec_driver_sql("SELECT id, colour FROM with_enum")).all())
        assert len(stored) == len(bulk) + 2
        for n in range(copies):
            assert stored[f"full{n}"] == stored["sa-full"]
            assert stored[f"empty{n}"] == stored["sa-empty"]
        assert len(colours) == len(colour_rows) + 1
        assert all(colours[row["id"]] == colours["sa"] for row in colour_rows)
        stored["full"], stored["empty"] = stored["full0"], stored["empty0"]
        read["full"] = read["full0"]
        colours["copied"] = colours["copied0"]
        assert stored["empty"][:-1] == (None,) * (len(full) - 1)  # JSON None is stored 'null'
        assert {k: getattr(read["full"], k) for k in full} == {
            **full,
            "at": read["sa-full"].at,  # SQLite hands back a naive time, as for any insert
        }
        assert as_utc(read["full"].at) == full["at"]
        assert colours["copied"] == colours["sa"] == "RED"
        await engine.dispose()

    asyncio.run(scenario())
