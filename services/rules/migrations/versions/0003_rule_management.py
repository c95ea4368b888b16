"""rule versions, etags, descriptions, time triggers, runs

Rule management (issue 16): the rules row keeps the description, time trigger,
creator, the saved segments copied into its condition (with their conditions)
and its tag labels (for ListRules' tag filter); ListRules reads
by priority; rule_versions keeps every version's content.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 01:50:00
"""

import base64
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("time_trigger", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("creator", sa.String(length=36), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("segments", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("tag_labels", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("request_id", sa.String(length=36), nullable=True))
        batch_op.create_index("uq_rules_request", ["tenant_id", "request_id"], unique=True)
        batch_op.create_index(
            "ix_rules_tenant_priority", ["tenant_id", "priority", "created_at", "id"], unique=False
        )
    op.create_table(
        "rule_versions",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "rule_id", "version"),
    )
    _keep_current_versions()


def _keep_current_versions() -> None:
    """Rules saved before versions were kept get their current version recorded
    (the content as adapters/rule_versions.py stores it), so they can be listed
    and rolled back to, and their tag labels (ListRules' tag filter)."""
    bind = op.get_bind()
    rules = sa.table(
        "rules",
        *(
            sa.column(name)
            for name in (
                "id",
                "tenant_id",
                "display_name",
                "trigger",
                "condition",
                "actions",
                "priority",
                "stop_processing",
                "enabled",
                "cooldown_seconds",
                "rollout_percent",
                "version",
                "created_at",
                "updated_at",
            )
        ),
    )
    versions = sa.table(
        "rule_versions",
        sa.column("tenant_id"),
        sa.column("rule_id"),
        sa.column("version"),
        sa.column("content", sa.JSON()),
        sa.column("author"),
        sa.column("created_at"),
    )
    rows = bind.execute(sa.select(rules)).mappings().all()
    if not rows:
        return
    actions = sa.JSON().result_processor(bind.dialect, None)
    entries = []
    for row in rows:
        listed = row["actions"]
        if isinstance(listed, str | bytes) and actions is not None:
            listed = actions(listed)
        content = {
            "id": row["id"],
            "tenant_id": row["tenant_id"],
            "display_name": row["display_name"],
            "trigger": row["trigger"],
            "condition": base64.b64encode(bytes(row["condition"])).decode(),
            "actions": listed,
            "priority": row["priority"],
            "stop_processing": bool(row["stop_processing"]),
            "enabled": bool(row["enabled"]),
            "cooldown_seconds": row["cooldown_seconds"],
            "rollout_percent": row["rollout_percent"],
            "version": row["version"],
            "created_at": _iso(row["created_at"]),
            "updated_at": _iso(row["updated_at"]),
            "description": "",
            "time_trigger": None,
            "creator": "",
            "segments": [],
            "tag_labels": "",
        }
        entries.append(
            {
                "tenant_id": row["tenant_id"],
                "rule_id": row["id"],
                "version": row["version"],
                "content": content,
                "author": "",
                "created_at": row["updated_at"],
            }
        )
    op.bulk_insert(versions, entries)
    labels = sa.table("rules", sa.column("id"), sa.column("tag_labels"))
    for entry in entries:
        content = entry["content"]
        found = sorted(
            {
                str(tag).strip().lower()
                for action in content["actions"] or ()
                for kind in ("add_tag", "remove_tag")
                for tag in (action.get(kind) or {}).get("tags", ())
            }
        )
        if found:
            bind.execute(
                labels.update()
                .where(labels.c.id == entry["rule_id"])
                .values(tag_labels="".join(f"|{label}" for label in found) + "|")
            )


def _iso(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def downgrade() -> None:
    op.drop_table("rule_versions")
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.drop_index("ix_rules_tenant_priority")
        batch_op.drop_index("uq_rules_request")
        for column in (
            "request_id",
            "consecutive_failures",
            "tag_labels",
            "segments",
            "creator",
            "time_trigger",
            "description",
        ):
            batch_op.drop_column(column)
