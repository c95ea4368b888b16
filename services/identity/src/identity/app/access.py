"""What a principal may do right now: the claims of its next access token.

A member's permissions are their role's plus those of every group they belong
to; the data scope is the role's. For the DEPARTMENT scope the member sees
their department and, when the role's own include_sub_departments says so,
every department below it (the tenant's setting of that name is only the
default of new roles: it never widens a role). An API key holds its role's
permissions and scope, and belongs to no department.

``caller_access`` is the same for the caller of an action, read afresh from
the database (a token may be up to one lifetime old): what the authority
rules in ``identity.domain.authority`` compare against.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from crosstalk_common.permissions import DataScope
from identity.app.context import Actor
from identity.app.ports import UnitOfWork
from identity.domain.authority import NO_ACCESS, Access, require_within
from identity.domain.departments import DepartmentTree, visible_departments
from identity.domain.model import ApiKeyState, Member, Role

__all__ = [
    "Access",
    "caller_access",
    "compose_access",
    "member_access",
    "require_may_act_on",
    "role_access",
]


def compose_access(
    member: Member,
    role: Role | None,
    group_permissions: Iterable[frozenset[str]],
    *,
    tree: DepartmentTree | None,
) -> Access:
    """A member's access from their role, their groups' permissions and the
    department tree (needed for the DEPARTMENT scope only)."""
    permissions: set[str] = set(role.permissions) if role is not None else set()
    for extra in group_permissions:
        permissions |= extra
    scope = role.data_scope if role is not None else DataScope.OWN
    visible: frozenset[str] = frozenset()
    include = False
    if scope is DataScope.DEPARTMENT:
        include = role is not None and role.include_sub_departments
        if member.department_id and tree is not None:
            visible = visible_departments(
                tree, member.department_id, include_sub_departments=include
            )
    return Access(
        frozenset(permissions),
        scope,
        member.department_id,
        visible,
        member_id=member.id,
        role_id=member.role,
        includes_sub_departments=include,
    )


async def member_access(uow: UnitOfWork, member: Member) -> Access:
    tenant = member.tenant_id
    role = await uow.roles.get(tenant, member.role)
    groups = await uow.organisation.groups(tenant, member.groups) if member.groups else []
    tree: DepartmentTree | None = None
    if role is not None and role.data_scope is DataScope.DEPARTMENT and member.department_id:
        tree = DepartmentTree(await uow.organisation.department_tree(tenant))
    return compose_access(member, role, (g.permissions for g in groups), tree=tree)


def role_access(role: Role | None) -> Access:
    if role is None:
        return NO_ACCESS
    return Access(
        role.permissions,
        role.data_scope,
        "",
        frozenset(),
        role_id=role.id,
        includes_sub_departments=(
            role.data_scope is DataScope.DEPARTMENT and role.include_sub_departments
        ),
    )


async def caller_access(uow: UnitOfWork, actor: Actor, now: datetime) -> Access:
    """The caller's access as it stands now; none for a member since disabled or
    deleted, a revoked or expired API key, or the system."""
    tenant = actor.tenant_id
    if actor.member_id:
        member = await uow.members.get(tenant, actor.member_id)
        if member is None or not member.active:
            return NO_ACCESS
        return await member_access(uow, member)
    if actor.subject.startswith("apiKeys/"):
        key = await uow.api_keys.get(tenant, actor.subject.removeprefix("apiKeys/"))
        if key is None or key.state(now) is not ApiKeyState.ACTIVE:
            return NO_ACCESS
        return role_access(await uow.roles.get(tenant, key.role))
    return NO_ACCESS


async def require_may_act_on(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    what: str,
    target: Member | None,
    *,
    becoming: Member | None = None,
) -> None:
    """The one check before any action on a member (``identity.domain.authority``).

    ``target`` as it is must lie within the caller's access (acting on oneself
    is no escalation: other rules say what one may do to oneself), and so must
    ``becoming``, the member as the action leaves them (a new member, or a
    changed role, department or groups). ``what`` completes "you cannot ...".
    """
    caller = await caller_access(uow, actor, now)
    if target is not None and target.id != actor.member_id:
        require_within(caller, await member_access(uow, target), what)
    if becoming is not None:
        require_within(caller, await member_access(uow, becoming), what)
