"""durable timers of the time triggers

rule_timers: one row per wait of a rule for a subject (core_loop §4), unique
by (tenant, rule, rule version, subject, cycle); its id is derived from that
key. The poller claims pending rows that are due (state, due_at).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rule_timers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column("cycle", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("customer", sa.String(length=100), nullable=False),
        sa.Column("conversation", sa.String(length=100), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("cursor", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "tenant_id", "rule_id", "rule_version", "subject", "cycle", name="uq_rule_timers_key"
        ),
    )
    with op.batch_alter_table("rule_timers", schema=None) as batch_op:
        batch_op.create_index("ix_rule_timers_due", ["state", "due_at"], unique=False)
        batch_op.create_index(
            "ix_rule_timers_subject", ["tenant_id", "subject", "state"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rule_timers", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_timers_subject")
        batch_op.drop_index("ix_rule_timers_due")
    op.drop_table("rule_timers")
