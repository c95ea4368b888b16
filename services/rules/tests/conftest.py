"""Fixtures of the rules service's tests: a migrated database and units of work on it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rules.adapters.tables import outbox
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.bootstrap import MIGRATIONS
from tests.service_databases import database_sessions, migrated_database_url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return migrated_database_url("rules", MIGRATIONS, tmp_path_factory)


@pytest.fixture(scope="session")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with database_sessions(database_url) as sessions:
        yield sessions


@pytest.fixture
def new_uow(sessions: async_sessionmaker[AsyncSession]) -> Callable[[], RulesUnitOfWork]:
    def factory() -> RulesUnitOfWork:
        return RulesUnitOfWork(sessions, outbox)

    return factory


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"
