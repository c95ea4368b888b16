"""The filter index: every tenant's customers as columns in this process's memory.

Filters over a million customers are too slow for SQL on both databases
(every condition is checked row by row, and tag conditions probe another
table per row); numpy answers them in milliseconds. See ADR 0010.

Each tenant's table is loaded on first use: at once for a small tenant,
in the background for a large one (``background_from`` customers and up),
while SQL answers. Before every use the index reads the change feed that
the database's triggers keep (migrations 0007, 0008) and reloads the customers
written since, so a filter sees every committed write, from any replica.
It reads through its own connection, so it never sees (nor keeps) another
transaction's uncommitted rows.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Node, iter_leaves
from crosstalk_common.visibility import Visibility
from customers.adapters.filter_index.columns import Mask
from customers.adapters.filter_index.evaluate import matching, visible
from customers.adapters.filter_index.loading import (
    FIELDS_CHANGED,
    FeedRead,
    change_mark,
    existing_ids,
    load_changed,
    load_definitions,
    read_feed,
    stream_customers,
    stream_pairs,
)
from customers.adapters.filter_index.table import SET_FIELDS, CustomerTable, micros
from customers.adapters.tables import customers

log = logging.getLogger(__name__)


@dataclass
class _Tenant:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    table: CustomerTable | None = None
    mark: int = 0
    building: asyncio.Task[None] | None = None


class FilterIndex:
    """Answers filtered pages and counts; ``None`` means "ask SQL"."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        background_from: int = 50_000,
        catch_up_at_once: int = 20_000,
    ) -> None:
        self._engine = engine
        self._background_from = background_from
        self._catch_up_at_once = catch_up_at_once
        self._tenants: dict[str, _Tenant] = {}

    async def ready(self, tenant_id: str) -> CustomerTable:
        """The tenant's table once loaded (benches and tests wait for it)."""
        while True:
            table = await self._current(tenant_id)
            if table is not None:
                return table
            building = self._tenants[tenant_id].building
            if building is not None:
                await asyncio.wait({building})

    def loaded(self, tenant_id: str) -> int | None:
        """How many customers the tenant's loaded table holds; None if none is loaded."""
        state = self._tenants.get(tenant_id)
        table = None if state is None or state.building is not None else state.table
        return None if table is None else table.size

    async def count(
        self,
        tenant_id: str,
        visibility: Visibility,
        condition: Node,
    ) -> int | None:
        found = await self._matching(tenant_id, visibility, condition)
        return None if found is None else int(found[1].sum())

    async def page_ids(
        self,
        tenant_id: str,
        visibility: Visibility,
        condition: Node,
        *,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[str] | None:
        """Matching ids in (create_time, id) order, after the cursor ``after``."""
        found = await self._matching(tenant_id, visibility, condition)
        if found is None:
            return None
        table, mask = found
        start = 0
        if after is not None:
            created = micros(after[0])
            low = int(np.searchsorted(table.created[: table.size], created, side="left"))
            high = int(np.searchsorted(table.created[: table.size], created, side="right"))
            start = low + sum(1 for cid in table.ids[low:high] if cid <= after[1])
        slots = np.flatnonzero(mask[start:])[:limit] + start
        return [str(cid) for cid in table.ids[slots]]

    async def _matching(
        self,
        tenant_id: str,
        visibility: Visibility,
        condition: Node,
    ) -> tuple[CustomerTable, Mask] | None:
        table = await self._current(tenant_id)
        if table is None or any(leaf.field not in table.columns for leaf in iter_leaves(condition)):
            return None  # loading, or a field the table lacks: SQL answers
        candidates = visible(table, visibility)
        return table, matching(table, condition, candidates, utc_now())

    async def _current(self, tenant_id: str) -> CustomerTable | None:
        """The tenant's table, caught up with every committed write; None while it
        loads or catches up with many writes in the background."""
        state = self._tenants.setdefault(tenant_id, _Tenant())
        if state.building is not None:
            return None
        async with state.lock:
            table = state.table
            if table is not None:
                async with self._engine.connect() as conn:
                    feed = await read_feed(conn, tenant_id, state.mark)
                    if not feed.changed and not feed.lost:
                        state.mark = feed.mark
                        return table
                    # New custom fields, or writes no longer in the log: load afresh.
                    afresh = feed.lost or any(
                        cid.startswith(FIELDS_CHANGED) for cid in feed.changed
                    )
                    if not afresh and len(feed.changed) <= self._catch_up_at_once:
                        if await self._catch_up(conn, tenant_id, state, table, feed):
                            return table
                        afresh = True
                if not afresh and len(feed.changed) < table.size // 2:
                    state.building = asyncio.create_task(
                        self._later(tenant_id, state, self._catch_up_alone(tenant_id, state, table))
                    )
                    return None
            async with self._engine.connect() as conn:
                size = await _tenant_size(conn, tenant_id)
            if size < self._background_from:
                await self._build(tenant_id, state)
                return state.table
            state.table = None
            state.building = asyncio.create_task(
                self._later(tenant_id, state, self._build(tenant_id, state))
            )
            return None

    async def _catch_up(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        state: _Tenant,
        table: CustomerTable,
        feed: FeedRead,
    ) -> bool:
        """Reload the customers written since the last look; False if that is not
        enough and the table must be loaded afresh."""
        loaded = await load_changed(conn, tenant_id, table.definitions, state.mark, feed.mark)
        gone = set(feed.changed) - set(loaded.ids)
        if gone and await existing_ids(conn, tenant_id, gone):
            # Not deleted: their log rows were pruned between the two reads.
            return False
        if len(loaded.ids) > 1_000:
            await asyncio.to_thread(table.apply, loaded, gone)
        else:
            table.apply(loaded, gone=gone)
        state.mark = feed.mark
        return True

    async def _catch_up_alone(self, tenant_id: str, state: _Tenant, table: CustomerTable) -> None:
        async with self._engine.connect() as conn:
            # Read again: more may have been written (or pruned) since.
            feed = await read_feed(conn, tenant_id, state.mark)
            if not feed.lost and await self._catch_up(conn, tenant_id, state, table, feed):
                return
        await self._build(tenant_id, state)

    async def _later(self, tenant_id: str, state: _Tenant, work: Awaitable[None]) -> None:
        """Background loading or catching up; SQL answers the tenant meanwhile."""
        try:
            async with state.lock:
                await work
        except Exception:
            state.table = None  # loaded again on next use
            log.exception("filter index: loading tenant %s failed", tenant_id)
        finally:
            state.building = None

    async def _build(self, tenant_id: str, state: _Tenant) -> None:
        started = time.perf_counter()
        # Millions of small objects are made and kept: the cyclic collector
        # would walk them again and again while they are made, and after.
        gc.disable()
        try:
            async with self._engine.connect() as conn:
                mark = await change_mark(conn)
                definitions = await load_definitions(conn, tenant_id)
                table = CustomerTable(definitions)
                async for part in stream_customers(conn, tenant_id, definitions):
                    await asyncio.to_thread(table.extend, part)
                for name in SET_FIELDS:
                    async for pairs in stream_pairs(conn, tenant_id, name):
                        await asyncio.to_thread(table.add_pairs, name, pairs)
            await asyncio.to_thread(table.finish)
        finally:
            gc.enable()
        if table.size >= self._background_from:
            gc.freeze()  # a large table's objects stay; later collections skip them
        state.table, state.mark = table, mark
        if table.size >= self._background_from:
            log.info(
                "filter index: %d customers of tenant %s loaded in %.1f s",
                table.size,
                tenant_id,
                time.perf_counter() - started,
            )


async def _tenant_size(conn: AsyncConnection, tenant_id: str) -> int:
    total = await conn.scalar(
        select(func.count()).select_from(customers).where(customers.c.tenant_id == tenant_id)
    )
    return int(total or 0)
