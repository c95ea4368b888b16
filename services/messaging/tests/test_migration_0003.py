"""0003 keys conversations by channel identity: existing rows are re-keyed by their latest
message's sender, several conversations of one identity are merged into the open (else
the latest) one, and follow-ups, counts and times are worked out from the messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text

from crosstalk_common.db.engine import sync_url
from crosstalk_common.db.migrations import alembic_config
from crosstalk_devstack.databases import service_database_urls

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_old_conversations_are_rekeyed_merged_and_counted(tmp_path: Path) -> None:
    url = service_database_urls(("messaging",), tmp_path, "m3")["messaging"]
    config = alembic_config(MIGRATIONS, url)
    command.upgrade(config, "0002")
    engine = create_engine(sync_url(url))
    # Before 0003: a closed and an open conversation of one customer on one channel (the
    # closed one left behind), and an open one of another sender.
    conversations = [
        ("old", "closed", T0, T0 + timedelta(hours=1)),
        ("open", "unread", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=2)),
        ("bob", "unread", T0, T0),
    ]
    messages = [
        ("m1", "old", "ana@b.co", T0),
        ("m2", "old", "ana@b.co", T0 + timedelta(hours=1)),
        ("m3", "open", "ana@b.co", T0 + timedelta(days=1)),
        ("m4", "open", "ana@b.co", T0 + timedelta(days=1, hours=2)),
        ("m5", "bob", "bob@b.co", T0),
    ]
    with engine.begin() as conn:
        for cid, status, created, last in conversations:
            conn.execute(
                text(
                    "INSERT INTO conversations (id, tenant_id, customer, channel, store, status,"
                    " last_message_at, created_at) VALUES (:id, 't1', :customer, 'email', '',"
                    " :status, :last, :created)"
                ),
                {
                    "id": cid,
                    "customer": "customers/bob" if cid == "bob" else "customers/ana",
                    "status": status,
                    "last": last,
                    "created": created,
                },
            )
        for mid, cid, sender, at in messages:
            conn.execute(
                text(
                    "INSERT INTO messages (id, tenant_id, conversation_id, customer, channel,"
                    " store, sender_external_id, direction, text, language, external_id,"
                    " created_at) VALUES (:id, 't1', :cid, 'customers/x', 'email', '', :sender,"
                    " 'inbound', 'hi', 'de', '', :at)"
                ),
                {"id": mid, "cid": cid, "sender": sender, "at": at},
            )

    command.upgrade(config, "0003")

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, sender_external_id, status, follow_ups, message_count, language"
                " FROM conversations ORDER BY id"
            )
        ).all()
        moved = (
            conn.execute(text("SELECT conversation_id FROM messages WHERE id IN ('m1', 'm2')"))
            .scalars()
            .all()
        )
        last_inbound, inbox_at = conn.execute(
            text("SELECT last_inbound_at, inbox_at FROM conversations WHERE id = 'open'")
        ).one()
    engine.dispose()

    assert [tuple(r) for r in rows] == [
        ("bob", "bob@b.co", "unread", 1, 1, "de"),
        ("open", "ana@b.co", "unread", 4, 4, "de"),
    ]
    assert moved == ["open", "open"]
    assert str(last_inbound)[:16] == str(inbox_at)[:16]
    assert str(last_inbound).startswith("2026-12-02 11:00")
