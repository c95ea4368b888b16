"""PostgreSQL: leave room in customers' pages for updates in place.

Customers are updated often without touching an indexed column (a version
bump after tagging, a blacklist flag, a profile edit). PostgreSQL can then
write the new row version on the same page and skip all nine indexes (a
"HOT" update), but only if the page has room; a table filled to 100% has
none, so each such update inserted nine index entries. 85% leaves room.
Only pages written from now on get it; ``VACUUM FULL customers`` would
rewrite the existing ones (not done here: it locks the table).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 20:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE customers SET (fillfactor = 85)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE customers RESET (fillfactor)")
