"""What identity announces about tenants, members and roles, as the domain sees it.

The use cases stage these (``uow.emit``); the unit of work turns each into the
event of the contract (``tenant.created``, ``member.updated`` ...) with
``adapters/mapping.event_pb``, so the app layer builds no proto. ``actor`` is
the acting principal's subject.
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.domain.model import Member, Role, Tenant


@dataclass(frozen=True)
class TenantCreated:
    tenant: Tenant
    admin_member_id: str


@dataclass(frozen=True)
class TenantSettingsChanged:
    tenant_id: str
    changed_fields: tuple[str, ...]
    max_filter_conditions: int  # the setting after the change
    actor: str


@dataclass(frozen=True)
class MemberCreated:
    """``led_group_ids``: the groups the member leads (the unit of work fills it)."""

    member: Member
    led_group_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberUpdated:
    """``member`` as it is after the change of ``changed_fields``;
    ``led_group_ids``: the groups they lead then (the unit of work fills it)."""

    member: Member
    changed_fields: tuple[str, ...]
    led_group_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberDisabled:
    member_id: str
    reason: str
    actor: str


@dataclass(frozen=True)
class MemberDeleted:
    member_id: str
    actor: str


@dataclass(frozen=True)
class RoleChanged:
    """A role was created or changed (``role`` as it is now) or deleted (as it was)."""

    role: Role
    actor: str
    deleted: bool = False


IdentityEvent = (
    TenantCreated
    | TenantSettingsChanged
    | MemberCreated
    | MemberUpdated
    | MemberDisabled
    | MemberDeleted
    | RoleChanged
)
