"""What a principal may do right now: the claims of its next access token.

A member's permissions are their role's plus those of every group they belong
to; the data scope is the role's. For the DEPARTMENT scope the member sees
their department and, when the role's include_sub_departments or the tenant's
setting says so, every department below it. An API key holds its role's
permissions and scope, and belongs to no department.
"""

from __future__ import annotations

from dataclasses import dataclass

from crosstalk_common.permissions import DataScope
from identity.app.ports import UnitOfWork
from identity.domain.departments import DepartmentTree, visible_departments
from identity.domain.model import Member, Role


@dataclass(frozen=True)
class Access:
    permissions: frozenset[str]
    data_scope: DataScope
    department_id: str
    visible_departments: frozenset[str]


async def member_access(uow: UnitOfWork, member: Member) -> Access:
    tenant = member.tenant_id
    role = await uow.roles.get(tenant, member.role)
    permissions: set[str] = set(role.permissions) if role is not None else set()
    scope = role.data_scope if role is not None else DataScope.OWN
    if member.groups:
        for group in await uow.organisation.groups(tenant, member.groups):
            permissions |= group.permissions
    visible: frozenset[str] = frozenset()
    if scope is DataScope.DEPARTMENT and member.department_id:
        settings = await uow.tenants.get_settings(tenant)
        include = settings.include_sub_departments or (
            role is not None and role.include_sub_departments
        )
        tree = DepartmentTree(await uow.organisation.department_tree(tenant))
        visible = visible_departments(tree, member.department_id, include_sub_departments=include)
    return Access(frozenset(permissions), scope, member.department_id, visible)


def role_access(role: Role | None) -> Access:
    if role is None:
        return Access(frozenset(), DataScope.OWN, "", frozenset())
    return Access(role.permissions, role.data_scope, "", frozenset())
