"""0003 turns the free-text tags customers already carry into tags of an
"Automation" group, so every customer tag is a tag id afterwards."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from crosstalk_common.db.engine import sync_url
from crosstalk_common.db.migrations import alembic_config, upgrade_to_head
from crosstalk_devstack.databases import service_database_urls

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def test_free_text_tags_become_tags(tmp_path: Path) -> None:
    url = service_database_urls(("customers",), tmp_path, "m3")["customers"]
    command.upgrade(alembic_config(MIGRATIONS, url), "0002")
    engine = create_engine(sync_url(url))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for cid in ("c1", "c2"):
            conn.execute(
                text(
                    "INSERT INTO customers (id, tenant_id, display_name, emails, phones, country,"
                    " language, score, version, created_at, updated_at) VALUES (:id, 't1', 'x',"
                    " '[]', '[]', '', '', 0, 1, :now, :now)"
                ),
                {"id": cid, "now": now},
            )
            conn.execute(
                text(
                    "INSERT INTO customer_tags (customer_id, tenant_id, tag, created_at)"
                    " VALUES (:id, 't1', 'after-sales', :now)"
                ),
                {"id": cid, "now": now},
            )
    upgrade_to_head(MIGRATIONS, url)
    with engine.connect() as conn:
        tag_id, group = conn.execute(
            text("SELECT id, group_id FROM tags WHERE display_name = 'after-sales'")
        ).one()
        assert conn.execute(text("SELECT display_name FROM tag_groups")).scalars().all() == [
            "Automation"
        ]
        held = conn.execute(text("SELECT tag FROM customer_tags")).scalars().all()
    assert held == [tag_id, tag_id]
    assert group
    engine.dispose()
