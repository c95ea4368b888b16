"""Alembic, shared by every service: one env.py body and a programmatic upgrade."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, create_engine, pool
from sqlalchemy.engine import URL

from crosstalk_common.db.engine import sync_url


def alembic_config(migrations_dir: Path, database_url: str | URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    url = sync_url(database_url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(migrations_dir: Path, database_url: str | URL) -> None:
    """Bring a service's database to the newest schema (idempotent)."""
    url = sync_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(migrations_dir, url), "head")


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url or "", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
