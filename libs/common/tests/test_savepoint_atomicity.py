"""A unit of work whose first write is in a savepoint still commits or rolls back whole.

On SQLite, Python's sqlite3 opens a transaction only before INSERT/UPDATE/DELETE;
a SAVEPOINT issued first used to open a transaction of its own, which its RELEASE
committed, so a failure later in the unit of work left that first write behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.db.engine import create_engine, session_factory

from .conftest import DEFAULT_PG_URL, selected_backend


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if selected_backend() == "postgres":
        url = os.environ.get("CROSSTALK_TEST_PG_URL", DEFAULT_PG_URL)
    else:
        url = f"sqlite:///{tmp_path / 'savepoints.db'}"
    made = create_engine(url)
    yield made
    await made.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[Table]:
    made = Table(
        f"t_{uuid.uuid4().hex[:12]}",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("label", String(20), nullable=False),
    )
    async with engine.begin() as conn:
        await conn.run_sync(made.metadata.create_all)
    yield made
    async with engine.begin() as conn:
        await conn.run_sync(made.metadata.drop_all)


async def _count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_a_write_in_a_first_savepoint_rolls_back_with_its_unit_of_work(
    engine: AsyncEngine, table: Table
) -> None:
    sessions = session_factory(engine)

    async def fail_half_way() -> None:
        async with sessions() as session, session.begin():
            # A read first, as a use case does, then "insert unless it exists".
            await session.execute(select(table.c.id).where(table.c.id == 1))
            async with session.begin_nested():
                await session.execute(insert(table).values(id=1, label="first"))
            await session.execute(insert(table).values(id=2, label="second"))
            raise RuntimeError("the use case fails half way")

    with pytest.raises(RuntimeError, match="half way"):
        await fail_half_way()
    assert await _count(engine, table) == 0


async def test_a_write_in_a_first_savepoint_commits_with_its_unit_of_work(
    engine: AsyncEngine, table: Table
) -> None:
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        async with session.begin_nested():
            await session.execute(insert(table).values(id=1, label="first"))
        await session.execute(insert(table).values(id=2, label="second"))
    assert await _count(engine, table) == 2


async def test_a_failed_savepoint_undoes_only_itself(engine: AsyncEngine, table: Table) -> None:
    sessions = session_factory(engine)
    async with sessions() as session, session.begin():
        await session.execute(insert(table).values(id=1, label="kept"))

        async def conflict() -> None:
            async with session.begin_nested():
                await session.execute(insert(table).values(id=2, label="undone"))
                raise RuntimeError("conflict")

        with pytest.raises(RuntimeError):
            await conflict()
    async with engine.connect() as conn:
        labels = (await conn.execute(select(table.c.label))).scalars().all()
    assert labels == ["kept"]
