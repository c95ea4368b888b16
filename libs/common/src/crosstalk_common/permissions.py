"""The permission catalogue and the built-in role templates.

Permission ids are "<area>.<action>". Identity hands them out (roles, tokens,
ListPermissions); every service enforces them per RPC (see grpc/auth.py).
The catalogue is part of the platform's contract: renaming an id breaks the
roles tenants have saved, so ids are only ever added.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class Permission:
    id: str
    service: str
    description: str


_CATALOGUE = [
    Permission("tenant.manage", "identity", "Change the tenant's settings"),
    Permission("members.read", "identity", "See members, departments and groups"),
    Permission("members.manage", "identity", "Add, change, import and disable members"),
    Permission("roles.manage", "identity", "Create and change roles and departments"),
    Permission("api_keys.manage", "identity", "Create and revoke API keys"),
    Permission("audit.read", "identity", "Read the audit log"),
    Permission("customers.read", "customers", "See customers in the caller's data scope"),
    Permission("customers.write", "customers", "Create, change and delete customers"),
    Permission("customers.resolve_identity", "customers", "Find or create a customer by handle"),
    Permission("customers.bulk_edit", "customers", "Tag, score or assign many customers at once"),
    Permission("customers.import", "customers", "Import customers from files"),
    Permission("customers.export", "customers", "Export customer data"),
    Permission("customers.merge", "customers", "Merge duplicate customers"),
    Permission("customers.blacklist", "customers", "Blacklist and unblacklist customers"),
    Permission("customers.configure", "customers", "Manage tags, scores, tiers and fields"),
    Permission("rules.read", "rules", "See rules and their runs"),
    Permission("rules.edit", "rules", "Create, change, enable and test rules"),
    Permission("messages.ingest", "messaging", "Hand inbound messages to Crosstalk"),
    Permission("conversations.read", "messaging", "See conversations in the data scope"),
    Permission("conversations.reply", "messaging", "Answer customers"),
    Permission("conversations.assign", "messaging", "Assign conversations and set status"),
    Permission("cases.manage", "messaging", "Open and move after-sales cases"),
    Permission("templates.use", "messaging", "Use reply templates"),
    Permission("templates.manage_shared", "messaging", "Manage the team's shared templates"),
    Permission("channels.manage", "messaging", "Configure channels"),
    Permission("translation.use", "translation", "Detect, translate and analyse text"),
    Permission("translation.manage", "translation", "Manage glossaries, presets and keywords"),
    Permission("reports.read", "reporting", "See dashboards and metrics"),
    Permission("reports.export", "reporting", "Export and schedule reports"),
]

CATALOGUE: dict[str, Permission] = {p.id: p for p in _CATALOGUE}
ALL_PERMISSIONS: frozenset[str] = frozenset(CATALOGUE)


class DataScope(StrEnum):
    """Which records a role sees: everything, its department('s tree), or its own."""

    ALL = "all"
    DEPARTMENT = "department"
    OWN = "own"


@dataclass(frozen=True)
class RoleTemplate:
    id: str
    display_name: str
    description: str
    permissions: frozenset[str]
    data_scope: DataScope


_AGENT_WORK = frozenset(
    {
        "customers.read",
        "customers.write",
        "customers.resolve_identity",
        "conversations.read",
        "conversations.reply",
        "templates.use",
        "translation.use",
        "rules.read",
        "reports.read",
        "members.read",
    }
)
_ADMIN_ONLY = frozenset(
    {"tenant.manage", "members.manage", "roles.manage", "api_keys.manage", "audit.read"}
)

BUILT_IN_ROLES: dict[str, RoleTemplate] = {
    role.id: role
    for role in [
        RoleTemplate(
            "admin",
            "Administrator",
            "Everything, including members, roles, settings and the audit log",
            ALL_PERMISSIONS,
            DataScope.ALL,
        ),
        RoleTemplate(
            "senior",
            "Senior agent",
            "Daily work plus rules, shared templates, bulk edits and exports",
            ALL_PERMISSIONS - _ADMIN_ONLY,
            DataScope.DEPARTMENT,
        ),
        RoleTemplate(
            "normal",
            "Agent",
            "Daily conversations with templates, on their own customers",
            _AGENT_WORK | {"conversations.assign", "cases.manage"},
            DataScope.OWN,
        ),
        RoleTemplate(
            "restricted",
            "Restricted agent",
            "Reads and answers; no exports, no bulk edits, no rule changes",
            _AGENT_WORK - {"customers.write"},
            DataScope.OWN,
        ),
    ]
}


def unknown_permissions(ids: set[str] | frozenset[str] | list[str]) -> list[str]:
    return sorted(set(ids) - ALL_PERMISSIONS)
