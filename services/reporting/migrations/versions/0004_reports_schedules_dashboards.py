"""report files (export jobs), scheduled reports, dashboards

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_files",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("owner_member_id", sa.String(length=36), nullable=False),
        sa.Column("visibility", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scheduled_report", sa.String(length=36), nullable=False, server_default=""),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("content_type", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=False, server_default=""),
    )
    op.create_index("ix_report_files_state", "report_files", ["state", "created_at"])
    op.create_index("ix_report_files_expiry", "report_files", ["expires_at"])
    op.create_table(
        "scheduled_reports",
        sa.Column("id", sa.String(length=36), primary_key=True),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("owner_member_id", sa.String(length=36), nullable=False),
        sa.Column("visibility", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_scheduled_reports_due", "scheduled_reports", ["enabled", "next_run_at"])
    op.create_index(
        "ix_scheduled_reports_tenant", "scheduled_reports", ["tenant_id", "created_at", "id"]
    )
    op.create_table(
        "dashboards",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("tiles", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "member_id", name="pk_dashboards"),
    )


def downgrade() -> None:
    op.drop_table("dashboards")
    op.drop_table("scheduled_reports")
    op.drop_table("report_files")
