"""Checkpointing SQLite's write-ahead log off the write path.

Left to itself, SQLite copies the log back into the database file at the
end of any commit that leaves the log over 1,000 pages, and the committing
transaction waits for it. A bulk job's batch writes about 10,000 pages and
paid about a quarter of its time this way. A service's engine therefore
turns that off (``create_engine(..., checkpoint_in_background=True)``) and
runs ``WalCheckpointer``: every second a PASSIVE checkpoint, which waits for
no reader or writer; and once the whole log is copied but has grown past
``restart_from_pages``, a TRUNCATE checkpoint, which waits for the current
transactions, holds new writers back meanwhile, and starts the log afresh,
so the file does not stay large. On stop it checkpoints what is left.

PostgreSQL needs none of this: the worker does nothing there.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.aio import sleep_unless_stopped

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WalState:
    """What ``PRAGMA wal_checkpoint`` reports: pages in the log, pages copied back."""

    busy: bool
    log_pages: int
    checkpointed_pages: int


class WalCheckpointer:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        interval_seconds: float = 1.0,
        restart_from_pages: int = 65_536,  # 256 MiB of 4 KiB pages
    ) -> None:
        self._engine = engine
        self._interval = interval_seconds
        self._restart_from = restart_from_pages

    @property
    def needed(self) -> bool:
        return self._engine.dialect.name == "sqlite"

    async def checkpoint(self, mode: str) -> WalState:
        """One checkpoint in SQLite's mode (PASSIVE, FULL, RESTART or TRUNCATE)."""
        async with self._engine.connect() as conn:
            result = await conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")
            busy, pages, copied = tuple(result.one())
        return WalState(bool(busy), int(pages), int(copied))

    async def checkpoint_once(self) -> WalState:
        """Copy what the log holds back into the database file; restart a large log."""
        state = await self.checkpoint("PASSIVE")
        if state.log_pages >= self._restart_from and state.checkpointed_pages == state.log_pages:
            state = await self.checkpoint("TRUNCATE")
        return state

    async def run(self, stop: asyncio.Event) -> None:
        if not self.needed:
            return
        while not stop.is_set():
            try:
                await self.checkpoint_once()
            except Exception:
                log.exception("WAL checkpoint failed; will retry")
            await sleep_unless_stopped(stop, self._interval)
        try:
            await self.checkpoint("TRUNCATE")
        except Exception:
            log.exception("final WAL checkpoint failed; SQLite completes it on next open")
