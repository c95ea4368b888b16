"""PostgreSQL: a pooled connection is pinged before use only once it sat idle a while
(idle_ping), and one the server dropped meanwhile is replaced before the caller sees it."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.db.engine import PING_AFTER_IDLE_SECONDS, create_engine

from .conftest import DEFAULT_PG_URL, selected_backend

pytestmark = pytest.mark.skipif(
    selected_backend() != "postgres", reason="PostgreSQL only (CROSSTALK_TEST_DB=postgres)"
)

_PID = text("SELECT pg_backend_pid()")


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    made = create_engine(os.environ.get("CROSSTALK_TEST_PG_URL", DEFAULT_PG_URL), pool_size=1)
    yield made
    await made.dispose()


async def _pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(_PID)).scalar_one())


async def _dropped_by_the_server(pid: int) -> None:
    other = create_engine(os.environ.get("CROSSTALK_TEST_PG_URL", DEFAULT_PG_URL))
    try:
        async with other.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await other.dispose()


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    engine: AsyncEngine,
) -> None:
    first = await _pid(engine)
    await _dropped_by_the_server(first)
    await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
    assert await _pid(engine) != first  # no error: the ping found it gone


async def test_a_connection_back_a_moment_ago_is_used_without_a_ping(
    engine: AsyncEngine,
) -> None:
    first = await _pid(engine)
    assert await _pid(engine) == first  # the same connection, handed out again
    await _dropped_by_the_server(first)
    # Not pinged (back less than PING_AFTER_IDLE_SECONDS ago): its first statement
    # fails, as on a connection that breaks while in use, and the pool drops it.
    with pytest.raises(DBAPIError) as failed:
        await _pid(engine)
    assert failed.value.connection_invalidated
    assert await _pid(engine) != first
