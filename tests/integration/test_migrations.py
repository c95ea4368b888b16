"""Each service's Alembic migrations build exactly the schema its code uses."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from crosstalk_common.db.engine import sync_url
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_devstack.databases import service_database_urls
from crosstalk_devstack.stack import SERVICES

ROOT = Path(__file__).resolve().parents[2]


def _on_this_dialect(dialect: str) -> Callable[..., bool]:
    """Leaves out the model's objects meant for other databases only
    (``info={"dialects": (...)}`` on an index, say)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        dialects = getattr(obj, "info", {}).get("dialects")
        return reflected or not dialects or dialect in dialects

    return include


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_the_models(service: str, tmp_path: Path) -> None:
    url = service_database_urls((service,), tmp_path, "migrations")[service]
    migrations = ROOT / "services" / service / "migrations"
    upgrade_to_head(migrations, url)
    upgrade_to_head(migrations, url)  # idempotent: a restart re-runs it
    metadata = importlib.import_module(f"{service}.adapters.tables").metadata
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_object": _on_this_dialect(conn.dialect.name)}
        )
        differences = compare_metadata(context, metadata)
    engine.dispose()
    assert differences == [], f"{service}: models and migrations differ: {differences}"
