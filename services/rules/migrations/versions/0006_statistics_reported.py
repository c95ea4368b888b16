"""rule_hourly_stats_reported: the counter values last reported to reporting
(rule.statistics_reported carries the increments since)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNTERS = (
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
    op.create_table(
        "rule_hourly_stats_reported",
        sa.Column("tenant_id", sa.String(length=36), primary_key=True),
        sa.Column("rule_id", sa.String(length=36), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        *(sa.Column(name, sa.Integer(), nullable=False, server_default="0") for name in _COUNTERS),
    )


def downgrade() -> None:
    op.drop_table("rule_hourly_stats_reported")
