"""message understanding

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:02:13.960693
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("translated_text", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column(
                "translated_language", sa.String(length=35), nullable=False, server_default=""
            )
        )
        batch_op.add_column(sa.Column("sentiment_score", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("sentiment_label", sa.String(length=10), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("intents", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("intents")
        batch_op.drop_column("sentiment_label")
        batch_op.drop_column("sentiment_score")
        batch_op.drop_column("translated_language")
        batch_op.drop_column("translated_text")
