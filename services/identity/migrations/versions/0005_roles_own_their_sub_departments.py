"""roles decide alone whether they reach sub-departments

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 06:00:00

Until now a DEPARTMENT-scope role reached the sub-departments when its own
include_sub_departments or its tenant's setting of that name was true. From
now on the role's flag alone decides and the tenant's setting is the default
of new roles (built-in roles, which cannot be edited, follow it). So that no
member sees more or less than before, a role of a tenant whose setting is true
takes include_sub_departments = true when it is a built-in role or a
DEPARTMENT-scope one (the flag means nothing for the other scopes); a tenant
with no settings row has the default setting, true.

Downgrade leaves the flags as they are: under the old rule a flag set here
only repeats what the tenant's setting already granted.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE roles SET include_sub_departments = true, version = version + 1"
        " WHERE NOT include_sub_departments"
        " AND (built_in OR data_scope = 'department')"
        # A tenant without a settings row has the default: true.
        " AND tenant_id NOT IN"
        " (SELECT tenant_id FROM tenant_settings WHERE NOT include_sub_departments)"
    )


def downgrade() -> None:
    pass
