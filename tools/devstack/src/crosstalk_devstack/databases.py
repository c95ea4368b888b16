"""Test databases: SQLite files, or one fresh PostgreSQL database per service."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
from psycopg import sql

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_reachable(admin_url: str) -> bool:
    try:
        with psycopg.connect(admin_url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def fresh_postgres_database(admin_url: str, name: str) -> str:
    """(Re)create an empty database and return its URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


def service_database_urls(services: tuple[str, ...], var_dir: Path, label: str) -> dict[str, str]:
    """One database per service for the selected backend (CROSSTALK_TEST_DB)."""
    backend = os.environ.get("CROSSTALK_TEST_DB", "sqlite")
    if backend == "sqlite":
        (var_dir / "db").mkdir(parents=True, exist_ok=True)
        return {s: f"sqlite:///{var_dir / 'db' / s}.db" for s in services}
    if backend != "postgres":
        raise ValueError(f"CROSSTALK_TEST_DB must be sqlite or postgres, got {backend!r}")
    admin = os.environ.get("CROSSTALK_TEST_PG_URL", DEFAULT_PG_URL)
    # CROSSTALK_TEST_PG_PREFIX keeps two runs on one cluster apart (names stay <= 63 bytes).
    prefix = os.environ.get("CROSSTALK_TEST_PG_PREFIX", "crosstalk")
    return {s: fresh_postgres_database(admin, f"{prefix}_{label}_{s}"[:63]) for s in services}
