"""Fixtures of the rules service's tests: a migrated database and units of work on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_devstack.databases import service_database_urls
from rules.adapters.tables import outbox
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.bootstrap import MIGRATIONS


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    label = f"ru{uuid.uuid4().hex[:6]}"
    url = service_database_urls(("rules",), tmp_path_factory.mktemp("db"), label)["rules"]
    upgrade_to_head(MIGRATIONS, url)
    return url


@pytest.fixture(scope="session")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
def new_uow(sessions: async_sessionmaker[AsyncSession]) -> Callable[[], RulesUnitOfWork]:
    def factory() -> RulesUnitOfWork:
        return RulesUnitOfWork(sessions, outbox)

    return factory


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"
