"""The database engine as a service process runs it, for benches.

``ServiceRuntime`` creates its engine with ``checkpoint_in_background`` and
runs a ``WalCheckpointer`` beside the service's work; a bench that drives the
service's use cases directly does the same, so that SQLite commits cost
what they cost in the service.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.db.engine import create_engine
from crosstalk_common.db.wal_checkpoint import WalCheckpointer


@asynccontextmanager
async def service_engine(url: str, *, write_gate: bool = True) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url, checkpoint_in_background=True, write_gate=write_gate)
    stop = asyncio.Event()
    checkpointer = asyncio.create_task(WalCheckpointer(engine).run(stop))
    try:
        yield engine
    finally:
        stop.set()
        await checkpointer
        await engine.dispose()
