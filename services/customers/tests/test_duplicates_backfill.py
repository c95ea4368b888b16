"""0005 fills customer_contact_keys from the emails and phones customers already have."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from crosstalk_common.db.engine import sync_url
from crosstalk_common.db.migrations import alembic_config, upgrade_to_head
from crosstalk_devstack.databases import service_database_urls

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def test_existing_customers_get_contact_keys(tmp_path: Path) -> None:
    url = service_database_urls(("customers",), tmp_path, "m5")["customers"]
    command.upgrade(alembic_config(MIGRATIONS, url), "0004")
    engine = create_engine(sync_url(url))
    now = datetime.now(UTC)
    people = {
        "c1": ('["Anna@Example.com", "not-an-email"]', '["+49 170 1234567", "12"]'),
        "c2": ("[]", '["(030) 123-4567"]'),
        "c3": ("[]", "[]"),
    }
    with engine.begin() as conn:
        for cid, (emails, phones) in people.items():
            conn.execute(
                text(
                    "INSERT INTO customers (id, tenant_id, display_name, emails, phones, country,"
                    " language, score, version, created_at, updated_at) VALUES (:id, 't1', 'x',"
                    " :emails, :phones, '', '', 0, 1, :now, :now)"
                ),
                {"id": cid, "emails": emails, "phones": phones, "now": now},
            )
    upgrade_to_head(MIGRATIONS, url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT customer_id, tenant_id, kind, value FROM customer_contact_keys"
                " ORDER BY customer_id, kind, value"
            )
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("c1", "t1", "email", "anna@example.com"),
        ("c1", "t1", "phone", "+491701234567"),
        ("c2", "t1", "phone", "0301234567"),
    ]
