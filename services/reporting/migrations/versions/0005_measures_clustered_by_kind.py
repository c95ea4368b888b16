"""measure rows keyed by (tenant, measure, kind, hour, dims_key[, bucket]): a
query reads one kind over a range of hours, which is now one stretch of the
primary key; the kind indexes go (the key's prefix does their work). On
SQLite the tables are WITHOUT ROWID, so the rows live in the key's B-tree:
one B-tree written per row instead of three, and a range read without a
lookup per row

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY_TAILS = {"measure_hours": ("dims_key",), "measure_buckets": ("dims_key", "bucket")}


def upgrade() -> None:
    bind = op.get_bind()
    for name, tail in _KEY_TAILS.items():
        old_key = ", ".join(("tenant_id", "measure", "hour", *tail))
        new_key = ["tenant_id", "measure", "kind", "hour", *tail]
        op.drop_index(f"ix_{name}_kind", table_name=name)
        if bind.dialect.name != "sqlite":
            op.drop_constraint(f"pk_{name}", name, type_="primary")
            op.create_primary_key(f"pk_{name}", name, new_key)
            continue
        # SQLite cannot change a key or drop the rowid in place: the table is
        # made again from its own DDL with the new key, and the rows copied.
        ddl = bind.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
            {"name": name},
        ).scalar_one()
        old = f"PRIMARY KEY ({old_key})"
        if old not in ddl:
            raise RuntimeError(f"{name}: unexpected DDL {ddl!r}")
        op.rename_table(name, f"{name}_old")
        op.execute(ddl.replace(old, f"PRIMARY KEY ({', '.join(new_key)})") + " WITHOUT ROWID")
        op.execute(f"INSERT INTO {name} SELECT * FROM {name}_old")  # noqa: S608 (table names)
        op.drop_table(f"{name}_old")


def downgrade() -> None:
    raise NotImplementedError("reporting's read models are rebuilt from the stream")
