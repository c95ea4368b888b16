"""SQLite statements run in one trip to aiosqlite's thread and answer as before:
rows, row counts, last row ids, RETURNING, executemany and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.db.engine import create_engine
from crosstalk_common.db.sqlite_one_trip import OneTripCursor


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
