"""measure_open_days and measure_open_day_buckets: the day rows of days still
open, which every fold adds to; once a day is over its rows move, in the key's
order, to measure_days / measure_day_buckets (settled), so a query over many
days reads a few pages per day. measure_day_shifts.settled_through is the last
settled stored day of each shift (-1: none yet; the rows already in the day
tables stay there)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ("tenant_id", "measure", "kind", "shift", "day", "dims_key")
# Each open table has its settled table's columns (as 0006 made them).
_OPEN = {
    "measure_open_days": ("measure_days", _KEY),
    "measure_open_day_buckets": ("measure_day_buckets", (*_KEY, "bucket")),
}


def upgrade() -> None:
    bind = op.get_bind()
    for name, (settled_name, key) in _OPEN.items():
        settled = sa.Table(settled_name, sa.MetaData(), autoload_with=bind)
        op.create_table(
            name,
            *(
                sa.Column(c.name, c.type, nullable=c.nullable, server_default=c.server_default)
                for c in settled.columns
            ),
            sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"),
            sqlite_with_rowid=False,
        )
        op.create_index(f"ix_{name}_day", name, ["shift", "day"])
        if bind.dialect.name == "postgresql":
            # Each fold updates these rows: room on the page keeps the new
            # version there (a HOT update, no index entry), pruned on access.
            op.execute(f"ALTER TABLE {name} SET (fillfactor = 50)")
    op.add_column(
        "measure_day_shifts",
        sa.Column("settled_through", sa.Integer(), nullable=False, server_default="-1"),
    )


def downgrade() -> None:
    raise NotImplementedError("reporting's read models are rebuilt from the stream")
