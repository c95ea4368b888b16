"""SQLite statements run in one trip to aiosqlite's thread and answer as before:
rows, row counts, last row ids, RETURNING, executemany and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, column, select, table, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.db.bulk_insert import insert_rows
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.sqlite_one_trip import OneTripCursor, in_the_loop
from crosstalk_devstack.sqlite_trips import count_trips


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'trips.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE items (n INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


async def test_the_engine_uses_one_trip_cursors(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)


async def test_rows_counts_and_ids_come_back(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO items (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        await conn.execute(
            text("INSERT INTO items (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
        updated = await conn.execute(text("UPDATE items SET name = name || '!' WHERE n > 1"))
        assert updated.rowcount == 2
        returned = await conn.execute(
            text("UPDATE items SET name = 'z' WHERE n = 1 RETURNING n, name")
        )
        assert [tuple(r) for r in returned] == [(1, "z")]
        rows = await conn.execute(text("SELECT n, name FROM items ORDER BY n"))
        assert list(rows.keys()) == ["n", "name"]
        assert [tuple(r) for r in rows] == [(1, "z"), (2, "b!"), (3, "c!")]
        nothing = await conn.execute(text("SELECT n FROM items WHERE n > 10"))
        assert nothing.all() == []


async def test_errors_are_sqlalchemys_and_roll_back(engine: AsyncEngine) -> None:
    async def insert_twice() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO items (name) VALUES ('a')"))
            await conn.execute(text("INSERT INTO items (name) VALUES ('a')"))

    with pytest.raises(IntegrityError):
        await insert_twice()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM items"))).scalar() == 0


async def test_a_transaction_that_only_read_ends_without_a_trip(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as conn:  # a pooled connection, opened before counting
        await conn.execute(text("SELECT 1"))
    trips = count_trips(monkeypatch)
    async with engine.begin() as conn:  # commits: nothing to commit
        await conn.execute(text("SELECT n FROM items"))
    async with engine.connect() as conn:  # rolls back: nothing to roll back
        await conn.execute(text("SELECT n FROM items"))
    assert trips == ["_run", "_run"]  # the two statements; no COMMIT, no ROLLBACK
    trips.clear()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO items (name) VALUES ('a')"))
    assert trips == ["_run", "commit"]
    trips.clear()
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO items (name) VALUES ('b')"))
    assert trips == ["_run", "rollback"]
    async with engine.connect() as conn:
        names = (await conn.execute(text("SELECT name FROM items"))).scalars().all()
    assert names == ["a"]


async def test_a_marked_read_runs_in_the_loop_and_a_marked_write_does_not(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = table("items", column("n"), column("name"))
    trips = count_trips(monkeypatch)
    async with engine.begin() as conn:
        await conn.execute(in_the_loop(items.insert().values(name="a")))
        assert trips == ["_run"]  # writes: in the connection's thread
        # In the loop, within the same transaction: it sees the row not yet committed.
        read = in_the_loop(select(items.c.n, items.c.name).where(items.c.name == "a"))
        assert [tuple(r) for r in await conn.execute(read)] == [(1, "a")]
        assert trips == ["_run"]
        # Unmarked, the same read makes its trip.
        await conn.execute(select(items.c.n))
        assert trips == ["_run", "_run"]
    async with engine.connect() as conn:
        missing = await conn.execute(in_the_loop(select(items.c.n).where(items.c.n == 7)))
        assert missing.all() == []
        with pytest.raises(OperationalError):
            await conn.execute(in_the_loop(select(column("nope")).select_from(items)))
    assert trips == ["_run", "_run", "commit"]


@pytest.fixture
async def service_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """As a service creates it: commits do not checkpoint, so small writes may
    run in the loop (the WAL is left to grow: the test is short)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'service.db'}", checkpoint_in_background=True)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE items (n INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    async with engine.connect() as conn:  # the pooled connection, opened before counting
        await conn.execute(text("SELECT 1"))
    yield engine
    await engine.dispose()


_items = table("items", column("n"), column("name"))


def _add(name: str) -> Any:
    return in_the_loop(_items.insert().values(name=name))


async def _names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(_items.c.name).order_by(_items.c.n))
        return list(rows.scalars())


async def test_marked_writes_after_the_first_and_their_commit_run_in_the_loop(
    service_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = count_trips(monkeypatch)
    async with service_engine.begin() as conn:
        await conn.execute(_add("a"))
        assert trips == ["_run"]  # the first write takes the lock: in its thread
        await conn.execute(_add("b"))
        renamed = await conn.execute(
            in_the_loop(_items.update().where(_items.c.name == "a").values(name="a!"))
        )
        assert renamed.rowcount == 1
        assert trips == ["_run"]
    assert trips == ["_run"]  # committed in the loop too
    assert await _names(service_engine) == ["a!", "b"]
    # The next transaction holds no lock: its first write makes the trip again.
    trips.clear()
    async with service_engine.begin() as conn:
        await conn.execute(_add("c"))
        await conn.execute(_add("d"))
    assert trips == ["_run"]
    assert await _names(service_engine) == ["a!", "b", "c", "d"]


async def test_writes_run_in_the_loop_roll_back_and_fail_as_any(
    service_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = count_trips(monkeypatch)
    async with service_engine.connect() as conn:
        await conn.execute(_add("a"))
        await conn.execute(_add("b"))
        await conn.rollback()
    assert trips == ["_run", "rollback"]
    assert await _names(service_engine) == []

    async def twice() -> None:
        async with service_engine.begin() as conn:
            await conn.execute(_add("a"))
            await conn.execute(_add("a"))  # in the loop, and refused

    with pytest.raises(IntegrityError):
        await twice()
    assert await _names(service_engine) == []


async def test_a_transaction_with_an_unmarked_write_commits_in_its_thread(
    service_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = count_trips(monkeypatch)
    async with service_engine.begin() as conn:
        await conn.execute(_add("a"))
        await conn.execute(_items.insert().values(name="b"))  # unmarked: a bulk job's
        await conn.execute(_add("c"))
    assert trips == ["_run", "_run", "commit"]
    assert await _names(service_engine) == ["a", "b", "c"]


async def test_without_background_checkpoints_marked_writes_make_their_trips(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    trips = count_trips(monkeypatch)
    async with engine.begin() as conn:
        await conn.execute(_add("a"))
        await conn.execute(_add("b"))
    assert trips == ["_run", "_run", "commit"]
    assert await _names(engine) == ["a", "b"]


async def test_a_few_rows_inserted_after_a_write_go_in_the_loop_many_do_not(
    service_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = MetaData()
    items = Table("items", rows, Column("n", Integer, primary_key=True), Column("name", String))
    sessions = session_factory(service_engine)
    trips = count_trips(monkeypatch)
    async with sessions() as session:
        await session.execute(_add("first"))
        await insert_rows(session, items, [{"name": "x1"}, {"name": "x2"}])
        await session.commit()
    assert trips == ["_run"]
    trips.clear()
    async with sessions() as session:
        await session.execute(_add("second"))
        await insert_rows(session, items, [{"name": f"y{i}"} for i in range(20)])
        await session.commit()
    assert trips == ["_run", "execute", "commit"]
    names = await _names(service_engine)
    assert names == ["first", "x1", "x2", "second", *(f"y{i}" for i in range(20))]


async def test_a_savepoint_inside_a_transaction_and_its_release_run_in_the_loop(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips = count_trips(monkeypatch)
    async with engine.begin() as conn:
        await conn.execute(_items.insert().values(name="a"))
        assert trips == ["_run"]
        async with conn.begin_nested():  # SAVEPOINT and RELEASE: no trip
            await conn.execute(in_the_loop(select(_items.c.n).where(_items.c.name == "a")))
        assert trips == ["_run"]
        nested = await conn.begin_nested()
        await conn.execute(_items.insert().values(name="b"))
        await nested.rollback()  # ROLLBACK TO makes its trip, and undoes "b"
        assert trips == ["_run", "_run", "_run"]
    assert trips[-1] == "commit"
    trips.clear()
    # A savepoint that opens the transaction makes its trip, and so does its RELEASE
    # (it commits): "c" is there afterwards.
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SAVEPOINT outer_one")
        await conn.execute(_items.insert().values(name="c"))
        await conn.exec_driver_sql("RELEASE SAVEPOINT outer_one")
        assert trips == ["_run", "_run", "_run"]
    async with engine.connect() as conn:
        names = (await conn.execute(select(_items.c.name).order_by(_items.c.name))).scalars()
        assert names.all() == ["a", "c"]
