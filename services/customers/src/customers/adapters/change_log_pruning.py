"""Keeping the customer change log (migration 0008) short.

Every write to a customer appends to ``customer_change_log``; the filter
index only needs what it has not read yet. Rows older than ``keep`` are
deleted, and ``customer_change_log_horizon`` records the last ``seq``
deleted: a filter index whose mark is not past it has missed writes and
loads the tenant afresh (a replica that filtered nothing for ``keep``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.clock import utc_now
from customers.adapters.tables import customer_change_log, customer_change_log_horizon

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeLogRetention:
    keep: timedelta = timedelta(hours=24)
    interval_seconds: float = 600.0


class ChangeLogPruner:
    def __init__(self, engine: AsyncEngine, retention: ChangeLogRetention | None = None) -> None:
        self._engine = engine
        self._retention = retention or ChangeLogRetention()

    async def prune_once(self, now: datetime | None = None) -> int:
        """Delete the rows written before ``now - keep``; returns how many."""
        cutoff = int(((now or utc_now()) - self._retention.keep).timestamp())
        entry, horizon = customer_change_log.c, customer_change_log_horizon.c
        async with self._engine.begin() as conn:
            through = await conn.scalar(
                select(func.max(entry.seq)).where(entry.written_at < cutoff)
            )
            if through is not None and conn.dialect.name == "sqlite":
                # seq is SQLite's rowid: it goes on from the largest one left,
                # so the newest row stays and numbers never restart.
                newest = await conn.scalar(select(func.max(entry.seq)))
                through = min(int(through), int(newest) - 1)
            if through is None or through <= 0:
                return 0
            deleted = await conn.execute(delete(customer_change_log).where(entry.seq <= through))
            await conn.execute(
                update(customer_change_log_horizon)
                .where(horizon.id == 1, horizon.pruned_through < through)
                .values(pruned_through=through)
            )
        return int(getattr(deleted, "rowcount", 0))

    async def run(self, stop: asyncio.Event) -> None:
        """The worker: one pass every ``interval_seconds`` until stopped."""
        while not stop.is_set():
            try:
                deleted = await self.prune_once()
                if deleted:
                    log.info("deleted %d customer change log rows", deleted)
            except Exception:
                log.exception("customer change log pruning failed; will retry")
            await sleep_unless_stopped(stop, self._retention.interval_seconds)
