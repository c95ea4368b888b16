"""PostgreSQL: reads before a transaction's first write run without BEGIN/ROLLBACK,
and the transaction still holds every write from the first one (pg_lazy_begin)."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crosstalk_common.db.engine import session_factory
from crosstalk_common.db.pg_lazy_begin import needs_transaction

from . import test_savepoint_atomicity as scratch
from .conftest import selected_backend


def test_which_statements_open_the_transaction() -> None:
    assert not needs_transaction("SELECT a FROM t WHERE b = %(b)s")
    assert not needs_transaction("  select a from t")
    assert not needs_transaction("SELECT pg_advisory_lock(7)")  # session-scoped: no need
    for statement in [
        "INSERT INTO t (a) VALUES (1)",
        "UPDATE t SET a = 1",
        "DELETE FROM t",
        "SAVEPOINT sa_savepoint_1",
        "WITH moved AS (DELETE FROM t RETURNING a) SELECT a FROM moved",
        "(SELECT a FROM t) UNION (SELECT a FROM u)",
        "SELECT a FROM t FOR UPDATE SKIP LOCKED",
        "SELECT a FROM t WHERE a = 1 FOR NO KEY UPDATE",
        "SELECT a FROM t FOR SHARE",
        "SELECT a FROM t FOR KEY SHARE",
        "SELECT pg_advisory_xact_lock_shared(hashtextextended(%(key)s, 0))",
        "SELECT pg_advisory_xact_lock(h) FROM (SELECT 1 AS h) AS s",
        "select pg_try_advisory_xact_lock(7)",
        "CREATE TABLE t (a int)",
    ]:
        assert needs_transaction(statement), statement
    assert needs_transaction("SELECT a FROM t", server_side=True)


# The same engine and scratch table as the savepoint tests.
engine = scratch.engine
table = scratch.table

pytestmark_pg = pytest.mark.skipif(
    selected_backend() != "postgres", reason="PostgreSQL only (CROSSTALK_TEST_DB=postgres)"
)


async def _status(session: AsyncSession) -> TransactionStatus:
    connection = await session.connection()
    raw: Any = connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
    return TransactionStatus(raw._connection.info.transaction_status)


@pytestmark_pg
async def test_reads_open_no_transaction_and_the_first_write_does(
    engine: AsyncEngine, table: Table
) -> None:
    sessions = session_factory(engine)
    async with sessions() as session:
        await session.execute(select(table.c.id))
        assert await _status(session) is TransactionStatus.IDLE
        await session.execute(insert(table).values(id=1, label="a"))
        assert await _status(session) is TransactionStatus.INTRANS
        await session.execute(insert(table).values(id=2, label="b"))
        await session.rollback()  # both writes go
    async with sessions() as session:
        await session.execute(select(table.c.id).where(table.c.id == 9).with_for_update())
        assert await _status(session) is TransactionStatus.INTRANS  # a lock needs it
    async with sessions() as session:
        # A connection back from a transaction rests in autocommit again.
        assert list(await session.execute(select(table.c.id))) == []
        assert await _status(session) is TransactionStatus.IDLE
        await session.execute(insert(table).values(id=3, label="c"))
        await session.commit()
    async with engine.connect() as conn:
        streamed = await conn.stream(select(table.c.label))  # a server-side cursor
        assert [row.label async for row in streamed] == ["c"]


@pytestmark_pg
async def test_a_savepoint_first_still_commits_or_rolls_back_whole(
    engine: AsyncEngine, table: Table
) -> None:
    sessions = session_factory(engine)

    async def write_then_fail() -> None:
        async with sessions() as session:
            async with session.begin_nested():
                await session.execute(insert(table).values(id=1, label="a"))
            await session.execute(text("SELECT 1"))
            raise RuntimeError("the unit of work fails after its first write")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    async with sessions() as session:
        assert list(await session.execute(select(table.c.id))) == []
