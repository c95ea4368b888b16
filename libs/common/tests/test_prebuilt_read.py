"""PrebuiltRead: a plain SELECT run on a pooled connection's driver gives the row a
Connection gives (IN lists, JSON, times, booleans, no row), runs in the loop on SQLite
when marked, and reports a driver error as SQLAlchemy does (both databases)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    column,
    insert,
    select,
    table,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import greenlet_spawn

from crosstalk_common.clock import as_utc
from crosstalk_common.db.prebuilt_read import PrebuiltRead
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from crosstalk_devstack.sqlite_trips import count_trips

from . import test_savepoint_atomicity as scratch

engine = scratch.engine

AT = datetime(2026, 3, 4, 5, 6, 7, 890_000, tzinfo=UTC)


@pytest.fixture
async def rows(engine: AsyncEngine) -> AsyncIterator[Table]:
    made = Table(
        f"t_{uuid.uuid4().hex[:12]}",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("owner", String(20), nullable=False),
        Column("tags", JSON, nullable=False),
        Column("seen_at", DateTime(timezone=True)),
        Column("flagged", Boolean, nullable=False),
    )
    async with engine.begin() as conn:
        await conn.run_sync(made.metadata.create_all)
        await conn.execute(
            insert(made),
            [
                {"id": 1, "owner": "a", "tags": ["x", "y"], "seen_at": AT, "flagged": True},
                {"id": 2, "owner": "b", "tags": [], "seen_at": None, "flagged": False},
            ],
        )
    yield made
    async with engine.begin() as conn:
        await conn.run_sync(made.metadata.drop_all)


async def _both(engine: AsyncEngine, statement: Any, parameters: dict[str, Any]) -> list[Any]:
    """The row through a Connection and through the prebuilt read, as tuples."""
    async with engine.connect() as conn:
        expected = (await conn.execute(statement, parameters)).first()
    got = await greenlet_spawn(PrebuiltRead(engine.sync_engine, statement).first_row, parameters)
    return [None if expected is None else tuple(expected), None if got is None else tuple(got)]


async def test_the_row_is_the_one_a_connection_gives(
    engine: AsyncEngine, rows: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fell_back(*_: Any) -> None:
        raise AssertionError("the prebuilt read fell back to a Connection")

    # Read on the driver: had it failed there, a Connection would have answered.
    monkeypatch.setattr(PrebuiltRead, "_through_a_connection", fell_back)
    by_id = select(rows).where(rows.c.id == bindparam("id"), rows.c.owner.in_(["a", "c"]))
    expected, got = await _both(engine, by_id, {"id": 1})
    assert got == expected == (1, "a", ["x", "y"], got[3], True)
    assert as_utc(got[3]) == AT  # SQLite's is naive, as through a Connection
    # Outside the IN list, and no row at all.
    assert await _both(engine, by_id, {"id": 2}) == [None, None]
    assert await _both(engine, by_id, {"id": 9}) == [None, None]
    row = await greenlet_spawn(
        PrebuiltRead(engine.sync_engine, select(rows).where(rows.c.id == 2)).first_row, {}
    )
    assert (row.id, row.tags, row.seen_at, row.flagged) == (2, [], None, False)
    assert engine.sync_engine.pool.checkedout() == 0


def test_only_plain_selects_are_taken(engine: AsyncEngine) -> None:
    items = table("items", column("n"))
    with pytest.raises(ValueError, match="plain SELECTs"):
        PrebuiltRead(engine.sync_engine, items.insert().values(n=1))  # type: ignore[arg-type]
    if engine.dialect.name == "postgresql":  # SQLite has no FOR UPDATE
        with pytest.raises(ValueError, match="plain SELECTs"):
            PrebuiltRead(engine.sync_engine, select(items.c.n).with_for_update())


async def test_a_driver_error_is_sqlalchemys_and_the_connection_goes_back(
    engine: AsyncEngine,
) -> None:
    missing = select(column("n")).select_from(table(f"t_missing_{uuid.uuid4().hex[:8]}"))
    read = PrebuiltRead(engine.sync_engine, missing)
    with pytest.raises(DBAPIError) as caught:
        await greenlet_spawn(read.first_row, {})
    assert caught.value.orig is not None  # what the gRPC layer reads to map it
    assert engine.sync_engine.pool.checkedout() == 0


async def test_a_marked_read_runs_in_the_loop_on_sqlite(
    engine: AsyncEngine, rows: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the mark is SQLite's")
    trips = count_trips(monkeypatch)
    marked = PrebuiltRead(engine.sync_engine, in_the_loop(select(rows.c.id).where(rows.c.id == 1)))
    assert tuple(await greenlet_spawn(marked.first_row, {})) == (1,)
    assert trips == []
    unmarked = PrebuiltRead(engine.sync_engine, select(rows.c.id).where(rows.c.id == 1))
    assert tuple(await greenlet_spawn(unmarked.first_row, {})) == (1,)
    assert trips == ["_run"]
