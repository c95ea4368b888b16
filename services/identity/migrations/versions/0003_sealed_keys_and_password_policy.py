"""sealed signing keys, password policy minimum

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 20:30:00

- ``signing_keys.private_key_pem`` becomes ``private_key``: the key sealed with
  the KEK (ADR 0015). A migration has no KEK, so existing plaintext rows are
  sealed by identity at its next start (``SqlSigningKeys.maintain``), before it
  serves; the keys themselves do not change, so no token becomes invalid.
- Tenants' ``min_password_length`` is at least 12, the platform's floor.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PASSWORD_FLOOR = 12


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.alter_column("private_key_pem", new_column_name="private_key")
    op.execute(
        sa.text(
            "UPDATE tenant_settings SET min_password_length = :floor "
            "WHERE min_password_length < :floor"
        ).bindparams(floor=PASSWORD_FLOOR)
    )


def downgrade() -> None:
    # Code before 0003 cannot read sealed keys: after a downgrade delete the
    # rows of signing_keys (identity creates a new key; everyone signs in again).
    with op.batch_alter_table("signing_keys") as batch:
        batch.alter_column("private_key", new_column_name="private_key_pem")
