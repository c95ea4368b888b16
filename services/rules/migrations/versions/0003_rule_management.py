"""rule versions, etags, descriptions, time triggers, runs

Rule management (issue 16): the rules row keeps the description, time trigger,
creator, the saved segments copied into its condition (with their conditions)
and its tag labels (for ListRules' tag filter); ListRules reads
by priority; rule_versions keeps every version's content.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 01:50:00
"""

from collections.abc import Sequence

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
