"""members' capacity and availability (languages exist since 0002)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 02:00:00

Messaging's assignment gives a conversation to a member who is AVAILABLE, has
room under their capacity (0: no limit) and speaks the customer's language.
Existing members are AVAILABLE with no limit.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("capacity", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("availability", sa.String(10), nullable=False, server_default="available")
        )


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.drop_column("availability")
        batch.drop_column("capacity")
