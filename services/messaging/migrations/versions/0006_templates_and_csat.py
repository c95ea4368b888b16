"""reply templates with versions, CSAT surveys

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Which version of its template a message was rendered from.
    op.add_column(
        "messages",
        sa.Column("template_version", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_table(
        "reply_templates",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("owner_member_id", sa.String(36), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("category", sa.String(100), nullable=False, server_default=""),
        sa.Column("default_language", sa.String(35), nullable=False),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("languages", sa.Text(), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_reply_templates_list", "reply_templates", ["tenant_id", "display_name", "id"]
    )
    op.create_table(
        "reply_template_versions",
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("template_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(100), nullable=False, server_default=""),
        sa.Column("restored_from", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("template_id", "version", name="pk_reply_template_versions"),
    )
    op.create_table(
        "csat_surveys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(36), nullable=False),
        sa.Column("conversation_id", sa.String(36), nullable=False),
        sa.Column("customer", sa.String(100), nullable=False),
        sa.Column("assignee", sa.String(100), nullable=False, server_default=""),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("comment", sa.Text(), nullable=False, server_default=""),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_id", sa.String(200), nullable=False, server_default=""),
    )
    op.create_index("ix_csat_surveys_list", "csat_surveys", ["tenant_id", "sent_at", "id"])
    op.create_index(
        "ix_csat_surveys_conversation",
        "csat_surveys",
        ["tenant_id", "conversation_id", "state"],
    )
    op.create_index(
        "uq_csat_surveys_request",
        "csat_surveys",
        ["tenant_id", "request_id"],
        unique=True,
        sqlite_where=sa.text("request_id != ''"),
        postgresql_where=sa.text("request_id != ''"),
    )


def downgrade() -> None:
    op.drop_index("uq_csat_surveys_request", table_name="csat_surveys")
    op.drop_index("ix_csat_surveys_conversation", table_name="csat_surveys")
    op.drop_index("ix_csat_surveys_list", table_name="csat_surveys")
    op.drop_table("csat_surveys")
    op.drop_table("reply_template_versions")
    op.drop_index("ix_reply_templates_list", table_name="reply_templates")
    op.drop_table("reply_templates")
    op.drop_column("messages", "template_version")
