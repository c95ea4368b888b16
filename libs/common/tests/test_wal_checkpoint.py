"""A service's SQLite commits leave the write-ahead log alone; the checkpointer
copies it back in the background and starts a large log afresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.db.engine import create_engine
from crosstalk_common.db.wal_checkpoint import WalCheckpointer

metadata = MetaData()
notes = Table(
    "notes", metadata, Column("id", Integer, primary_key=True), Column("text", String(200))
)


@pytest.fixture
async def engines() -> AsyncIterator[list[AsyncEngine]]:
    made: list[AsyncEngine] = []
    yield made
    for engine in made:
        await engine.dispose()


async def _write(
    engines: list[AsyncEngine], url: str, pages: int, *, background: bool
) -> tuple[WalCheckpointer, Path]:
    engine = create_engine(url, checkpoint_in_background=background)
    engines.append(engine)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    # About 20 rows of 200 bytes per 4 KiB page, committed in many transactions.
    for _ in range(pages // 50):
        async with engine.begin() as conn:
            await conn.execute(insert(notes), [{"text": "x" * 190} for _ in range(1000)])
    return WalCheckpointer(engine, restart_from_pages=pages // 2), Path(
        url.split("///")[1] + "-wal"
    )


async def test_commits_leave_the_log_to_the_checkpointer(
    tmp_path: Path, engines: list[AsyncEngine]
) -> None:
    checkpointer, wal = await _write(
        engines, f"sqlite:///{tmp_path / 'bg.db'}", 2000, background=True
    )
    first = await checkpointer.checkpoint("PASSIVE")
    # No commit copied the log back (SQLite's own would have at 1,000 pages).
    assert first.log_pages > 1500
    assert first.checkpointed_pages == first.log_pages  # copied now, by the checkpointer
    assert wal.stat().st_size > 1500 * 4096

    state = await checkpointer.checkpoint_once()  # large and all copied: start afresh
    assert state.log_pages == 0
    assert wal.stat().st_size == 0


async def test_without_it_commits_checkpoint_as_sqlite_does(
    tmp_path: Path, engines: list[AsyncEngine]
) -> None:
    checkpointer, _ = await _write(
        engines, f"sqlite:///{tmp_path / 'fg.db'}", 2000, background=False
    )
    state = await checkpointer.checkpoint("PASSIVE")
    assert state.log_pages < 1500


async def test_the_worker_checkpoints_until_stopped_and_once_more_on_stop(
    tmp_path: Path, engines: list[AsyncEngine]
) -> None:
    checkpointer, wal = await _write(
        engines, f"sqlite:///{tmp_path / 'run.db'}", 500, background=True
    )
    stop = asyncio.Event()
    stop.set()  # the final checkpoint alone
    await checkpointer.run(stop)
    assert wal.stat().st_size == 0
