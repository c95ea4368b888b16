"""A service's own migrated test database, for the fixtures of its tests/conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_devstack.databases import service_database_urls


def migrated_database_url(
    service: str, migrations: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A fresh database of the selected backend (CROSSTALK_TEST_DB), at the head revision."""
    label = f"{service[:2]}{uuid.uuid4().hex[:6]}"
    url = service_database_urls((service,), tmp_path_factory.mktemp("db"), label)[service]
    upgrade_to_head(migrations, url)
    return url


@asynccontextmanager
async def database_sessions(url: str) -> AsyncIterator[async_sessionmaker[Any]]:
    """Sessions on the database; the engine is disposed of afterwards."""
    engine = create_engine(url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
