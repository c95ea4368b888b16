"""SQLite writers of one process take turns at the engine's WriteGate: callers first, then
in the order they came.

No durations are asserted: the tests hold a write transaction open on
purpose and check who got in, in which order, and that nobody failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.write_gate import (
    CALLERS_IN_A_ROW,
    WriteGate,
    begin_writing,
    gate_of,
    writes,
)
from crosstalk_common.serving import serving_a_caller


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE entries (n INTEGER PRIMARY KEY, who TEXT)"))
    yield engine
    await engine.dispose()


def the_gate(engine: AsyncEngine) -> WriteGate:
    gate = gate_of(engine)
    assert gate is not None
    return gate


async def until(condition: Callable[[], bool]) -> None:
    """Yields to the event loop until the condition holds (the gate offers no event)."""
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def write(engine: AsyncEngine, who: str) -> None:
    async with session_factory(engine)() as session:
        await session.execute(text("INSERT INTO entries (who) VALUES (:who)"), {"who": who})
        await session.commit()


async def hold_the_write_lock(engine: AsyncEngine, release: asyncio.Event, who: str = "") -> None:
    """A transaction that holds the write lock until ``release``, as a bulk job's batch
    does (writing ``who`` first, if given)."""
    async with session_factory(engine)() as session:
        await begin_writing(session)
        if who:
            await session.execute(text("INSERT INTO entries (who) VALUES (:who)"), {"who": who})
        await release.wait()
        await session.commit()


async def entries(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT who FROM entries ORDER BY n"))
        return [r.who for r in rows]


def test_what_counts_as_a_write() -> None:
    assert writes("INSERT INTO t VALUES (1)")
    assert writes("  update t set a = 1")
    assert writes("DELETE FROM t")
    assert writes("BEGIN IMMEDIATE")
    assert writes("WITH gone AS (SELECT 1) DELETE FROM t WHERE a IN (SELECT * FROM gone)")
    assert not writes("SELECT * FROM t")
    assert not writes("WITH x AS (SELECT 1) SELECT * FROM x")
    assert not writes("PRAGMA wal_checkpoint(PASSIVE)")
    assert not writes("BEGIN")
    assert not writes("SAVEPOINT sa_savepoint_1")


async def test_writers_queued_behind_a_long_transaction_go_in_the_order_they_came(
    engine: AsyncEngine,
) -> None:
    gate = the_gate(engine)
    release = asyncio.Event()

    batch = asyncio.create_task(hold_the_write_lock(engine, release, "batch"))
    await until(lambda: gate.taken)
    writers = []
    for k in range(6):
        writers.append(asyncio.create_task(write(engine, f"w{k}")))
        queued = k + 1
        await until(lambda: gate.waiting == queued)  # noqa: B023 (awaited at once)
    # Reads go on beside the writer: they see what is committed.
    assert await entries(engine) == []

    release.set()
    await asyncio.gather(batch, *writers)  # none fails with "database is locked"
    assert await entries(engine) == ["batch", "w0", "w1", "w2", "w3", "w4", "w5"]
    assert not gate.taken


async def test_a_rolled_back_writer_lets_the_next_one_in(engine: AsyncEngine) -> None:
    gate = the_gate(engine)
    release = asyncio.Event()

    async def failing() -> None:
        async with session_factory(engine)() as session:
            await session.execute(text("INSERT INTO entries (who) VALUES ('failed')"))
            await release.wait()
            raise RuntimeError("the use case failed")

    first = asyncio.create_task(failing())
    await until(lambda: gate.taken)
    second = asyncio.create_task(write(engine, "second"))
    await until(lambda: gate.waiting == 1)
    release.set()
    with pytest.raises(RuntimeError):
        await first
    await second
    assert await entries(engine) == ["second"]
    assert not gate.taken


async def test_a_write_outside_a_transaction_gives_the_gate_back_with_its_connection(
    engine: AsyncEngine,
) -> None:
    gate = the_gate(engine)
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("INSERT INTO entries (who) VALUES ('auto')"))
        assert gate.taken
    assert not gate.taken
    await write(engine, "after")
    assert await entries(engine) == ["auto", "after"]


async def test_a_writer_whose_connection_was_invalidated_rolls_back_and_frees_the_gate(
    engine: AsyncEngine,
) -> None:
    """A call cancelled inside a statement (a gRPC deadline running out) leaves
    SQLAlchemy to invalidate the connection; rolling back must not fail on it."""
    gate = the_gate(engine)
    async with session_factory(engine)() as session:
        await session.execute(text("INSERT INTO entries (who) VALUES ('cancelled')"))
        assert gate.taken
        await (await session.connection()).invalidate()
        await session.rollback()
    assert not gate.taken
    await write(engine, "next")
    assert await entries(engine) == ["next"]


async def _as_caller(engine: AsyncEngine, who: str) -> None:
    serving_a_caller()  # this task serves a gRPC call
    await write(engine, who)


async def _queue_behind_a_long_batch(
    engine: AsyncEngine, writers: list[tuple[str, bool]]
) -> list[str]:
    """Holds the write lock, queues ``writers`` (name, serves a caller) one by one
    in that order, lets go, and returns the order they wrote in."""
    gate = the_gate(engine)
    release = asyncio.Event()

    batch = asyncio.create_task(hold_the_write_lock(engine, release, "batch"))
    await until(lambda: gate.taken)
    tasks = []
    for queued, (who, caller) in enumerate(writers, start=1):
        tasks.append(asyncio.create_task((_as_caller if caller else write)(engine, who)))
        await until(lambda: gate.waiting == queued)  # noqa: B023 (awaited at once)
    release.set()
    await asyncio.gather(batch, *tasks)
    assert not gate.taken
    return (await entries(engine))[1:]


async def test_a_writer_serving_a_caller_goes_before_background_writers(
    engine: AsyncEngine,
) -> None:
    order = await _queue_behind_a_long_batch(
        engine, [("consumer-1", False), ("relay", False), ("call-1", True), ("call-2", True)]
    )
    assert order == ["call-1", "call-2", "consumer-1", "relay"]


async def test_a_background_writer_still_goes_after_a_few_callers_in_a_row(
    engine: AsyncEngine,
) -> None:
    callers = [(f"call-{k}", True) for k in range(CALLERS_IN_A_ROW + 2)]
    order = await _queue_behind_a_long_batch(engine, [("consumer", False), *callers])
    expected = [who for who, _ in callers]
    expected.insert(CALLERS_IN_A_ROW, "consumer")
    assert order == expected


async def test_a_writer_cancelled_in_the_queue_is_skipped(engine: AsyncEngine) -> None:
    gate = the_gate(engine)
    release = asyncio.Event()

    batch = asyncio.create_task(hold_the_write_lock(engine, release))
    await until(lambda: gate.taken)
    gone = asyncio.create_task(_as_caller(engine, "gone"))
    await until(lambda: gate.waiting == 1)
    stays = asyncio.create_task(write(engine, "stays"))
    await until(lambda: gate.waiting == 2)
    gone.cancel()
    await until(lambda: gate.waiting == 1)
    release.set()
    await asyncio.gather(batch, stays)
    assert await entries(engine) == ["stays"]
    assert not gate.taken
