"""Shared fixtures of the common library's tests.

``sql_engine`` is an in-memory SQLite engine by default, or PostgreSQL when
``CROSSTALK_TEST_DB=postgres`` (URL from ``CROSSTALK_TEST_PG_URL``). Tests
that create tables on it use ``unique_table_name`` and drop what they create.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def selected_backend() -> str:
    backend = os.environ.get("CROSSTALK_TEST_DB", "sqlite").strip().lower() or "sqlite"
    if backend not in ("sqlite", "postgres"):
        raise pytest.UsageError(f"CROSSTALK_TEST_DB must be sqlite or postgres, got {backend!r}")
    return backend


@pytest.fixture(scope="session")
def db_backend() -> str:
    return selected_backend()


@pytest.fixture(scope="session")
def sql_engine(db_backend: str) -> Iterator[Engine]:
    if db_backend == "postgres":
        engine = create_engine(os.environ.get("CROSSTALK_TEST_PG_URL", DEFAULT_PG_URL))
    else:
        engine = create_engine("sqlite://")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def unique_table_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"
