"""Who may act on whom: the one rule behind every action on another principal.

A principal's *access* is what its next access token would carry: its
effective permissions (its role's plus, for a member, its groups') and its
data scope with the departments that scope covers. Nobody may act on, create,
or hand out something that reaches further than they do themselves:

* a caller may act on a member (set their password, disable, enable, delete,
  change any of their fields, see or end their sessions) only when that
  member's access lies within the caller's: ``require_within``. After a
  change (role, department, groups), the member's new access must lie within
  the caller's too, which is what makes creating a member and assigning a role,
  a group or a department safe;
* a caller may create or change a role only when the role, as it is and as it
  becomes, lies within the caller's access: its permissions a subset of the
  caller's, its data scope no wider (``require_role_within``). Nobody changes
  or deletes the role they hold themselves (``require_not_own_role``);
* a caller whose scope is not ALL moves departments only within the
  departments they see (``require_move_within``).

"Within" for data scopes means: every record the other sees, the caller sees
too. ALL covers everything; DEPARTMENT covers the listed departments (their
records, and the members who belong to them); OWN covers only the records the
principal owns. An administrator (all permissions, ALL scope) is therefore
within reach of every other administrator and of nobody below them.
"""

from __future__ import annotations

from dataclasses import dataclass

from crosstalk_common.errors import PermissionDenied
from crosstalk_common.permissions import DataScope
from identity.domain.model import Role

ESCALATION = "PRIVILEGE_ESCALATION"
OWN_ROLE = "OWN_ROLE"
# How much of the tenant's data each scope can cover, for roles (which belong to no department).
_BREADTH = {DataScope.OWN: 0, DataScope.DEPARTMENT: 1, DataScope.ALL: 2}


@dataclass(frozen=True)
class Access:
    """What a principal may do right now: the claims of its next access token."""

    permissions: frozenset[str]
    data_scope: DataScope
    # The member's department ("" when none, and for API keys).
    department_id: str
    # DEPARTMENT scope: the departments whose records the principal sees.
    visible_departments: frozenset[str]
    # "" for API keys; an OWN-scoped member sees the records this member owns.
    member_id: str = ""
    # The role the principal holds ("" when unknown).
    role_id: str = ""
    # DEPARTMENT scope: whether it reaches the departments below the member's own.
    includes_sub_departments: bool = False


NO_ACCESS = Access(frozenset(), DataScope.OWN, "", frozenset())


def sees_everything_of(caller: Access, other: Access) -> bool:
    """Whether every record ``other``'s data scope covers is in ``caller``'s too."""
    if caller.data_scope is DataScope.ALL:
        return True
    if other.data_scope is DataScope.ALL:
        return False
    if other.data_scope is DataScope.DEPARTMENT:
        if caller.data_scope is DataScope.DEPARTMENT:
            return other.visible_departments <= caller.visible_departments
        return not other.visible_departments  # an OWN caller covers only an empty department set
    # OWN: the records the other owns (an API key owns none).
    if not other.member_id:
        return True
    if caller.data_scope is DataScope.DEPARTMENT:
        return bool(other.department_id) and other.department_id in caller.visible_departments
    return caller.member_id == other.member_id


def beyond(caller: Access, other: Access) -> str | None:
    """Why ``other`` reaches further than ``caller`` (permissions, then data scope), or None."""
    missing = sorted(other.permissions - caller.permissions)
    if missing:
        return f"it holds permissions you lack ({', '.join(missing)})"
    if not sees_everything_of(caller, other):
        return f"its data scope ({_describe(other)}) reaches beyond yours ({_describe(caller)})"
    return None


def require_within(caller: Access, other: Access, what: str) -> None:
    """PERMISSION_DENIED (``PRIVILEGE_ESCALATION``) unless ``other`` lies within the
    caller's access. ``what`` completes "you cannot ...", e.g. "set the password of members/42".
    """
    problem = beyond(caller, other)
    if problem is not None:
        raise _escalation(caller, other.permissions, f"you cannot {what}: {problem}")


def role_scope_beyond(
    caller: Access, data_scope: DataScope, includes_sub_departments: bool
) -> bool:
    """Whether a role's data scope is wider than the caller's.

    A role belongs to no department, so scopes compare by breadth (OWN <
    DEPARTMENT < ALL); a DEPARTMENT role reaching sub-departments is wider
    than a DEPARTMENT caller who does not. ``includes_sub_departments`` is the
    role's own flag: the tenant's setting is only the default of new roles.
    """
    if _BREADTH[data_scope] != _BREADTH[caller.data_scope]:
        return _BREADTH[data_scope] > _BREADTH[caller.data_scope]
    return (
        data_scope is DataScope.DEPARTMENT
        and includes_sub_departments
        and not caller.includes_sub_departments
    )


def require_role_within(caller: Access, role: Role, what: str) -> None:
    """PERMISSION_DENIED (``PRIVILEGE_ESCALATION``) unless ``role`` lies within the caller's
    access: its permissions among the caller's, its data scope no wider."""
    missing = sorted(role.permissions - caller.permissions)
    if missing:
        raise _escalation(
            caller,
            role.permissions,
            f"you cannot {what}: it holds permissions you lack ({', '.join(missing)})",
        )
    includes = role.include_sub_departments
    if role_scope_beyond(caller, role.data_scope, includes):
        raise PermissionDenied(
            "",
            f"you cannot {what}: its data scope ({_breadth(role.data_scope, includes)}) "
            f"is wider than yours ({_breadth(caller.data_scope, caller.includes_sub_departments)})",
            reason=ESCALATION,
            metadata={"dataScope": role.data_scope.value},
        )


def require_move_within(caller: Access, department_id: str, new_parent_id: str) -> None:
    """Moving a department changes what every DEPARTMENT-scoped member above its old and
    new places sees. A caller whose scope is not ALL moves only departments they see,
    under a department they see: they cannot pull another department into their reach."""
    if caller.data_scope is DataScope.ALL:
        return
    seen = caller.visible_departments
    if department_id in seen and new_parent_id in seen:
        return
    raise PermissionDenied(
        "",
        f"you cannot move departments/{department_id} there: with your data scope you move "
        "only departments within yours, under one within yours",
        reason=ESCALATION,
        metadata={"department": f"departments/{department_id}"},
    )


def require_not_own_role(caller: Access, role_id: str, what: str) -> None:
    """Nobody changes or deletes the role they hold (that would raise their own access)."""
    if caller.role_id and caller.role_id == role_id:
        raise PermissionDenied(
            "",
            f"you cannot {what}: you hold this role yourself; ask someone whose access covers it",
            reason=OWN_ROLE,
            metadata={"role": f"roles/{role_id}"},
        )


def _escalation(caller: Access, permissions: frozenset[str], message: str) -> PermissionDenied:
    missing = sorted(permissions - caller.permissions)
    return PermissionDenied(missing[0] if missing else "", message, reason=ESCALATION)


def _describe(access: Access) -> str:
    if access.data_scope is DataScope.DEPARTMENT:
        count = len(access.visible_departments)
        return f"department, {count} department{'s' if count != 1 else ''}"
    return access.data_scope.value


def _breadth(scope: DataScope, includes_sub_departments: bool) -> str:
    if scope is DataScope.DEPARTMENT and includes_sub_departments:
        return "department with sub-departments"
    return scope.value
