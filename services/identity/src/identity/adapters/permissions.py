"""The permission each IdentityService RPC needs (enforced by crosstalk_common's interceptor).

"public": no token (the request carries its own credential, or creates one).
"authenticated": any valid access token; the use case then narrows it down
(e.g. another member's sessions need members.manage, another principal's
CheckPermission needs members.read).
"""

from __future__ import annotations

PUBLIC = "public"
AUTHENTICATED = "authenticated"

METHOD_PERMISSIONS: dict[str, str] = {
    # tenant
    "SignUp": PUBLIC,
    "GetTenant": AUTHENTICATED,
    "GetTenantSettings": AUTHENTICATED,
    "UpdateTenantSettings": "tenant.manage",
    # authentication and sessions
    "Login": PUBLIC,
    "RefreshToken": PUBLIC,
    "GetJwks": PUBLIC,
    "ExchangeApiKey": PUBLIC,
    # The service's secret is the credential (ADR 0026).
    "IssueServiceToken": PUBLIC,
    "Logout": AUTHENTICATED,
    "ListSessions": AUTHENTICATED,
    "RevokeSession": AUTHENTICATED,
    # members
    "CreateMember": "members.manage",
    "GetMember": "members.read",
    "ListMembers": "members.read",
    # members.manage, except for a member's own profile, languages, capacity
    # and availability (the use case checks: app/members.py).
    "UpdateMember": AUTHENTICATED,
    "DeleteMember": "members.manage",
    "DisableMember": "members.manage",
    "EnableMember": "members.manage",
    "SetMemberPassword": "members.manage",
    "PreviewMemberImport": "members.manage",
    "CommitMemberImport": "members.manage",
    # departments ("Create and change roles and departments")
    "CreateDepartment": "roles.manage",
    "GetDepartment": "members.read",
    "ListDepartments": "members.read",
    "UpdateDepartment": "roles.manage",
    "DeleteDepartment": "roles.manage",
    # groups carry permissions, so changing them is managing roles
    "CreateGroup": "roles.manage",
    "GetGroup": "members.read",
    "ListGroups": "members.read",
    "UpdateGroup": "roles.manage",
    "DeleteGroup": "roles.manage",
    # roles and permissions
    "CreateRole": "roles.manage",
    "GetRole": "members.read",
    "ListRoles": "members.read",
    "UpdateRole": "roles.manage",
    "DeleteRole": "roles.manage",
    "ListPermissions": AUTHENTICATED,
    "CheckPermission": AUTHENTICATED,
    # API keys
    "CreateApiKey": "api_keys.manage",
    "GetApiKey": "api_keys.manage",
    "ListApiKeys": "api_keys.manage",
    "RevokeApiKey": "api_keys.manage",
    # audit log
    "ListAuditEvents": "audit.read",
}
