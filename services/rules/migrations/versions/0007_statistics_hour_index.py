"""ix_rule_hourly_stats_hour: the statistics reporter's read of the last two days
searches this index instead of scanning every rule's every hour

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_rule_hourly_stats_hour", "rule_hourly_stats", ["hour"])


def downgrade() -> None:
    op.drop_index("ix_rule_hourly_stats_hour", table_name="rule_hourly_stats")
