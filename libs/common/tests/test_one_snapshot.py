"""read_one_snapshot: a unit of work's reads agree though a writer commits between them
(on both databases); without it the second read sees the commit."""

from __future__ import annotations

import pytest
from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.db.engine import session_factory
from crosstalk_common.db.one_snapshot import read_one_snapshot

from . import test_savepoint_atomicity as scratch

# The same engine and scratch table as the savepoint tests.
engine = scratch.engine
table = scratch.table


async def _reads_around_a_commit(engine: AsyncEngine, table: Table, *, snapshot: bool) -> list[int]:
    counted = select(func.count()).select_from(table)
    sessions = session_factory(engine)
    async with sessions() as reader:
        if snapshot:
            await read_one_snapshot(reader)
        first = int((await reader.execute(counted)).scalar_one())
        async with sessions() as writer:
            await writer.execute(insert(table).values(id=1, label="between"))
            await writer.commit()
        second = int((await reader.execute(counted)).scalar_one())
    return [first, second]


async def test_reads_after_read_one_snapshot_see_the_first_reads_data(
    engine: AsyncEngine, table: Table
) -> None:
    assert await _reads_around_a_commit(engine, table, snapshot=True) == [0, 0]
    async with session_factory(engine)() as later:
        assert int((await later.execute(select(func.count()).select_from(table))).scalar_one()) == 1


async def test_without_it_each_read_sees_what_was_committed_when_it_ran(
    engine: AsyncEngine, table: Table
) -> None:
    assert await _reads_around_a_commit(engine, table, snapshot=False) == [0, 1]


async def test_the_snapshot_transaction_refuses_writes_on_postgresql(
    engine: AsyncEngine, table: Table
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("READ ONLY is PostgreSQL's; SQLite's BEGIN only fixes the snapshot")
    async with session_factory(engine)() as session:
        await read_one_snapshot(session)
        with pytest.raises(Exception, match="read-only transaction"):
            await session.execute(insert(table).values(id=2, label="refused"))
