"""customer and conversation projections, durable timers, evaluation log, statistics

The engine's tables: projections of customers (CustomerSnapshot) and
conversations (messaging's events), the evaluation log of trigger facts, per
rule and hour counters, the tenant's rule settings; a run's outcome, facts,
condition trace and action results; a rule's shadow flag. (Durable timers are
not in this revision.)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = (
    "evaluated",
    "matched",
    "fired",
    "shadow",
    "suppressed_cooldown",
    "suppressed_rollout",
    "suppressed_stop",
    "suppressed_loop_guard",
    "suppressed_blacklist",
    "actions_succeeded",
    "actions_failed",
)


def upgrade() -> None:
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("shadow", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("rule_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trigger", sa.String(length=40), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("conversation", sa.String(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("outcome", sa.String(length=30), nullable=False, server_default="matched")
        )
        batch_op.add_column(sa.Column("summary", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("facts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("trace", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("actions", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("causation_depth", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=False, server_default=""))
        batch_op.create_index(
            "ix_rule_runs_tenant_created", ["tenant_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_rule_runs_tenant_rule_created",
            ["tenant_id", "rule_id", "created_at", "id"],
            unique=False,
        )
    op.create_table(
        "customer_projections",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("customer", sa.String(length=100), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "customer"),
    )
    op.create_table(
        "conversation_projections",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("conversation", sa.String(length=100), nullable=False),
        sa.Column("customer", sa.String(length=100), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "conversation"),
    )
    op.create_table(
        "evaluation_log",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("trigger", sa.String(length=40), nullable=False),
        sa.Column("customer", sa.String(length=100), nullable=False),
        sa.Column("conversation", sa.String(length=100), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("causing_run", sa.String(length=120), nullable=False),
        sa.Column("causation_depth", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "event_id"),
    )
    with op.batch_alter_table("evaluation_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_evaluation_log_tenant_time", ["tenant_id", "occurred_at"], unique=False
        )
    op.create_table(
        "rule_hourly_stats",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False, server_default="0") for name in COUNTERS),
        sa.PrimaryKeyConstraint("tenant_id", "rule_id", "hour"),
    )
    op.create_table(
        "rule_settings",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("business_hours", sa.JSON(), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("retention_seconds", sa.Integer(), nullable=False),
        sa.Column("webhook_secret", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id"),
    )


def downgrade() -> None:
    op.drop_table("rule_settings")
    op.drop_table("rule_hourly_stats")
    with op.batch_alter_table("evaluation_log", schema=None) as batch_op:
        batch_op.drop_index("ix_evaluation_log_tenant_time")
    op.drop_table("evaluation_log")
    op.drop_table("conversation_projections")
    op.drop_table("customer_projections")
    with op.batch_alter_table("rule_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_rule_runs_tenant_rule_created")
        batch_op.drop_index("ix_rule_runs_tenant_created")
        for name in (
            "error",
            "causation_depth",
            "actions",
            "trace",
            "facts",
            "summary",
            "outcome",
            "conversation",
            "trigger",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("rules", schema=None) as batch_op:
        batch_op.drop_column("shadow")
