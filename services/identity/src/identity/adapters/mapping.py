"""Proto <-> domain conversion for identity's resources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct

from crosstalk.common.v1 import tabular_pb2
from crosstalk.events.v1 import customer_events_pb2, identity_events_pb2
from crosstalk.identity.v1 import audit_pb2, auth_pb2, resources_pb2
from crosstalk_common.api.resource_names import optional_resource_id
from crosstalk_common.api.timestamps import from_timestamp, timestamp_or_none
from crosstalk_common.bus.envelope import Event
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.permissions import DataScope
from identity.app.context import SYSTEM
from identity.app.members import member_name
from identity.app.roles import role_name
from identity.domain.events import (
    IdentityEvent,
    MemberCreated,
    MemberDeleted,
    MemberDisabled,
    MemberUpdated,
    RoleChanged,
    TenantCreated,
    TenantSettingsChanged,
)
from identity.domain.importing import ImportPlan, PlannedMember, RowError
from identity.domain.lockout import LockoutPolicy
from identity.domain.model import (
    ApiKey,
    AuditEntry,
    Department,
    Group,
    GroupKind,
    Member,
    MemberAvailability,
    MemberState,
    Role,
    Session,
    Tenant,
    TenantSettings,
)


def duration(seconds: float) -> Duration:
    value = Duration()
    value.FromTimedelta(timedelta(seconds=seconds))
    return value


def _ref(collection: str, resource_id: str) -> str:
    return f"{collection}/{resource_id}" if resource_id else ""


# --- tenant ---------------------------------------------------------------------


def tenant_to_pb(tenant: Tenant) -> resources_pb2.Tenant:
    return resources_pb2.Tenant(
        name=f"tenants/{tenant.id}",
        display_name=tenant.display_name,
        industry=tenant.industry,
        team_size=tenant.team_size,
        working_language=tenant.working_language,
        create_time=timestamp_or_none(tenant.created_at),
    )


def settings_to_pb(
    settings: TenantSettings, *, access_ttl: float, refresh_ttl: float, lockout: LockoutPolicy
) -> resources_pb2.TenantSettings:
    return resources_pb2.TenantSettings(
        name=f"tenants/{settings.tenant_id}/settings",
        max_filter_conditions=settings.max_filter_conditions,
        include_sub_departments=settings.include_sub_departments,
        default_time_zone=settings.default_time_zone,
        access_token_ttl=duration(access_ttl),
        refresh_token_ttl=duration(refresh_ttl),
        min_password_length=settings.min_password_length,
        dormancy_period=duration(settings.dormancy_period_seconds),
        update_time=timestamp_or_none(settings.updated_at),
        etag=settings.etag,
        login_lockout_threshold=lockout.threshold,
        login_lockout_initial_duration=duration(lockout.initial_lock.total_seconds()),
        login_lockout_max_duration=duration(lockout.max_lock.total_seconds()),
    )


def settings_changes(pb: resources_pb2.TenantSettings, paths: list[str]) -> dict[str, Any]:
    """Update paths -> TenantSettings attributes (durations in whole seconds)."""
    problems: list[FieldViolation] = []

    def seconds(field: str, value: Duration) -> int:
        total = value.ToTimedelta().total_seconds()
        if total < 0 or not float(total).is_integer():
            problems.append(
                FieldViolation(
                    f"tenant_settings.{field}", "must be a whole, positive number of seconds"
                )
            )
        return int(total)

    changes: dict[str, Any] = {}
    for path in paths:
        if path == "access_token_ttl":
            changes["access_token_ttl_seconds"] = seconds(path, pb.access_token_ttl)
        elif path == "refresh_token_ttl":
            changes["refresh_token_ttl_seconds"] = seconds(path, pb.refresh_token_ttl)
        elif path == "dormancy_period":
            changes["dormancy_period_seconds"] = seconds(path, pb.dormancy_period)
        else:
            changes[path] = getattr(pb, path)
    if problems:
        raise InvalidArgument(problems)
    return changes


# --- members --------------------------------------------------------------------

_STATE_TO_PB = {
    MemberState.ACTIVE: resources_pb2.MEMBER_STATE_ACTIVE,
    MemberState.DISABLED: resources_pb2.MEMBER_STATE_DISABLED,
}
_STATE_FROM_PB: dict[int, MemberState] = {v: k for k, v in _STATE_TO_PB.items()}
_AVAILABILITY_TO_PB = {
    MemberAvailability.AVAILABLE: resources_pb2.MEMBER_AVAILABILITY_AVAILABLE,
    MemberAvailability.AWAY: resources_pb2.MEMBER_AVAILABILITY_AWAY,
    MemberAvailability.OFFLINE: resources_pb2.MEMBER_AVAILABILITY_OFFLINE,
}
_AVAILABILITY_FROM_PB: dict[int, MemberAvailability] = {
    v: k for k, v in _AVAILABILITY_TO_PB.items()
}


def availability_from_pb(value: int, *, field: str) -> MemberAvailability:
    found = _AVAILABILITY_FROM_PB.get(value)
    if found is None:
        raise InvalidArgument.field(field, "must be AVAILABLE, AWAY or OFFLINE")
    return found


def member_to_pb(member: Member) -> resources_pb2.Member:
    return resources_pb2.Member(
        name=f"members/{member.id}",
        email=member.email,
        display_name=member.display_name,
        phone=member.phone,
        department=_ref("departments", member.department_id),
        role=_ref("roles", member.role),
        languages=list(member.languages),
        state=_STATE_TO_PB[member.state],
        create_time=timestamp_or_none(member.created_at),
        groups=[f"groups/{g}" for g in member.groups],
        time_zone=member.time_zone,
        update_time=timestamp_or_none(member.updated_at),
        last_login_time=timestamp_or_none(member.last_login_at),
        etag=member.etag,
        has_password=member.has_password,
        capacity=member.capacity,
        availability=_AVAILABILITY_TO_PB[member.availability],
    )


def member_state_from_pb(value: int) -> MemberState | None:
    return _STATE_FROM_PB.get(value)


def member_from_pb(pb: resources_pb2.Member, tenant_id: str) -> Member:
    """A draft member: references parsed to ids, nothing else checked yet."""
    return Member(
        id="",
        tenant_id=tenant_id,
        email=pb.email,
        display_name=pb.display_name,
        role=optional_resource_id(pb.role, "roles", field="member.role"),
        created_at=datetime.now(UTC),
        phone=pb.phone,
        department_id=optional_resource_id(pb.department, "departments", field="member.department"),
        languages=tuple(pb.languages),
        time_zone=pb.time_zone,
        groups=tuple(
            optional_resource_id(g, "groups", field=f"member.groups[{i}]")
            for i, g in enumerate(pb.groups)
        ),
        capacity=pb.capacity,
        # Unset: a new member is AVAILABLE (UpdateMember refuses an unset one it is told to set).
        availability=_AVAILABILITY_FROM_PB.get(pb.availability, MemberAvailability.AVAILABLE),
    )


# --- organisation ------------------------------------------------------------------


def department_to_pb(department: Department) -> resources_pb2.Department:
    return resources_pb2.Department(
        name=f"departments/{department.id}",
        display_name=department.display_name,
        parent=_ref("departments", department.parent_id),
        manager=_ref("members", department.manager_id),
        sort_order=department.sort_order,
        member_count=department.member_count,
        create_time=timestamp_or_none(department.created_at),
        update_time=timestamp_or_none(department.updated_at),
        etag=department.etag,
    )


def department_from_pb(pb: resources_pb2.Department, tenant_id: str) -> Department:
    return Department(
        id="",
        tenant_id=tenant_id,
        display_name=pb.display_name,
        parent_id=optional_resource_id(pb.parent, "departments", field="department.parent"),
        manager_id=optional_resource_id(pb.manager, "members", field="department.manager"),
        sort_order=pb.sort_order,
    )


_KIND_TO_PB = {
    GroupKind.SALES: resources_pb2.GROUP_KIND_SALES,
    GroupKind.SERVICE: resources_pb2.GROUP_KIND_SERVICE,
    GroupKind.MARKETING: resources_pb2.GROUP_KIND_MARKETING,
    GroupKind.CUSTOM: resources_pb2.GROUP_KIND_CUSTOM,
}
_KIND_FROM_PB: dict[int, GroupKind] = {v: k for k, v in _KIND_TO_PB.items()}


def group_kind_from_pb(value: int, *, field: str) -> GroupKind | None:
    if value == resources_pb2.GROUP_KIND_UNSPECIFIED:
        return None
    kind = _KIND_FROM_PB.get(value)
    if kind is None:
        raise InvalidArgument.field(field, f"unknown group kind {value}")
    return kind


def group_to_pb(group: Group) -> resources_pb2.Group:
    return resources_pb2.Group(
        name=f"groups/{group.id}",
        display_name=group.display_name,
        kind=_KIND_TO_PB[group.kind],
        members=[f"members/{m}" for m in group.member_ids],
        leader=_ref("members", group.leader_id),
        create_time=timestamp_or_none(group.created_at),
        update_time=timestamp_or_none(group.updated_at),
        etag=group.etag,
        permissions=sorted(group.permissions),
    )


def group_from_pb(pb: resources_pb2.Group, tenant_id: str) -> Group:
    return Group(
        id="",
        tenant_id=tenant_id,
        display_name=pb.display_name,
        # UNSPECIFIED means a custom team.
        kind=group_kind_from_pb(pb.kind, field="group.kind") or GroupKind.CUSTOM,
        member_ids=tuple(
            optional_resource_id(m, "members", field=f"group.members[{i}]")
            for i, m in enumerate(pb.members)
        ),
        leader_id=optional_resource_id(pb.leader, "members", field="group.leader"),
        permissions=frozenset(pb.permissions),
    )


# --- roles -----------------------------------------------------------------------------

_SCOPE_TO_PB = {
    DataScope.ALL: resources_pb2.DATA_SCOPE_ALL,
    DataScope.DEPARTMENT: resources_pb2.DATA_SCOPE_DEPARTMENT,
    DataScope.OWN: resources_pb2.DATA_SCOPE_OWN,
}
_SCOPE_FROM_PB: dict[int, DataScope] = {v: k for k, v in _SCOPE_TO_PB.items()}


def data_scope_to_pb(scope: DataScope | None) -> resources_pb2.DataScope.ValueType:
    return _SCOPE_TO_PB[scope] if scope is not None else resources_pb2.DATA_SCOPE_UNSPECIFIED


def role_to_pb(role: Role) -> resources_pb2.Role:
    return resources_pb2.Role(
        name=f"roles/{role.id}",
        display_name=role.display_name,
        description=role.description,
        permissions=sorted(role.permissions),
        data_scope=_SCOPE_TO_PB[role.data_scope],
        include_sub_departments=role.include_sub_departments,
        built_in=role.built_in,
        create_time=timestamp_or_none(role.created_at),
        update_time=timestamp_or_none(role.updated_at),
        etag=role.etag,
    )


def role_from_pb(pb: resources_pb2.Role, tenant_id: str, *, require_scope: bool) -> Role:
    scope = _SCOPE_FROM_PB.get(pb.data_scope)
    if scope is None and require_scope:
        raise InvalidArgument.field(
            "role.data_scope", "must be DATA_SCOPE_ALL, DATA_SCOPE_DEPARTMENT or DATA_SCOPE_OWN"
        )
    return Role(
        id="",
        tenant_id=tenant_id,
        display_name=pb.display_name,
        description=pb.description,
        permissions=frozenset(pb.permissions),
        data_scope=scope or DataScope.OWN,
        include_sub_departments=pb.include_sub_departments,
    )


# --- credentials and sessions -------------------------------------------------------------

_API_KEY_STATE = {
    "active": auth_pb2.API_KEY_STATE_ACTIVE,
    "revoked": auth_pb2.API_KEY_STATE_REVOKED,
    "expired": auth_pb2.API_KEY_STATE_EXPIRED,
}


def api_key_to_pb(key: ApiKey, now: datetime) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        name=f"apiKeys/{key.id}",
        display_name=key.display_name,
        role=_ref("roles", key.role),
        key_prefix=key.key_prefix,
        state=_API_KEY_STATE[key.state(now).value],
        creator=key.creator,
        create_time=timestamp_or_none(key.created_at),
        expire_time=timestamp_or_none(key.expires_at),
        last_use_time=timestamp_or_none(key.last_used_at),
        revoke_time=timestamp_or_none(key.revoked_at),
    )


def session_to_pb(session: Session) -> auth_pb2.Session:
    return auth_pb2.Session(
        name=f"members/{session.member_id}/sessions/{session.id}",
        user_agent=session.user_agent,
        ip_address=session.ip_address,
        create_time=timestamp_or_none(session.created_at),
        last_refresh_time=timestamp_or_none(session.last_refresh_at),
        expire_time=timestamp_or_none(session.expires_at),
        revoke_time=timestamp_or_none(session.revoked_at),
    )


def jwk_to_pb(jwk: dict[str, str]) -> auth_pb2.JsonWebKey:
    fields = ("kty", "kid", "use", "alg", "n", "e", "crv", "x", "y")
    return auth_pb2.JsonWebKey(**{k: jwk[k] for k in fields if k in jwk})


# --- audit ---------------------------------------------------------------------------------


def _struct(value: dict[str, Any] | None) -> Struct | None:
    if value is None:
        return None
    struct = Struct()
    ParseDict(value, struct)
    return struct


def audit_to_pb(entry: AuditEntry) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        name=f"auditEvents/{entry.id}",
        actor=entry.actor,
        event_time=timestamp_or_none(entry.event_time),
        action=entry.action,
        target=entry.target,
        before=_struct(entry.before),
        after=_struct(entry.after),
        ip_address=entry.ip_address,
        trace_id=entry.trace_id,
    )


def struct_to_dict(struct: Struct) -> dict[str, Any]:
    return MessageToDict(struct)


# --- import --------------------------------------------------------------------------------

FILE_FORMATS: dict[int, str] = {
    tabular_pb2.FILE_FORMAT_CSV: "csv",
    tabular_pb2.FILE_FORMAT_XLSX: "xlsx",
}


def file_format_from_pb(value: int) -> str:
    found = FILE_FORMATS.get(value)
    if found is None:
        raise InvalidArgument.field("format", "must be FILE_FORMAT_CSV or FILE_FORMAT_XLSX")
    return found


def row_error_to_pb(error: RowError) -> tabular_pb2.RowError:
    return tabular_pb2.RowError(
        row=error.row, column=error.column, message=error.message, value=error.value[:200]
    )


def planned_to_pb(row: PlannedMember) -> resources_pb2.Member:
    return resources_pb2.Member(
        name=_ref("members", row.existing_member_id),
        email=row.email,
        display_name=row.display_name,
        phone=row.phone,
        department=_ref("departments", row.department_id),
        role=_ref("roles", row.role),
        languages=list(row.languages),
    )


def preview_rows(plan: ImportPlan, limit: int = 50) -> list[tuple[int, resources_pb2.Member, bool]]:
    return [
        (row.row, planned_to_pb(row), bool(row.existing_member_id)) for row in plan.members[:limit]
    ]


def _trace_id(event: Event) -> str:
    parts = event.envelope.trace_context.get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 else ""


def audit_entry_for(event: Event) -> AuditEntry | None:
    """The audit entry of another service's admin event; None for any other event."""
    payload = event.payload
    if isinstance(payload, customer_events_pb2.CustomerMerged):
        action, target, actor = "customers.merge", payload.customer, payload.actor
        after: dict[str, object] = {"merged_customers": list(payload.merged_customers)}
    elif isinstance(payload, customer_events_pb2.CustomerBlacklisted):
        action, target, actor = "customers.blacklist", payload.customer, payload.actor
        after = {"blacklisted": True, "reason": payload.reason}
    else:
        return None
    return AuditEntry(
        # The event id: a redelivered event (were the inbox ever bypassed)
        # cannot be recorded twice.
        id=event.event_id,
        tenant_id=event.tenant_id,
        actor=actor or SYSTEM,
        event_time=from_timestamp(event.envelope.occurred_time),
        action=action,
        target=target,
        after=after,
        trace_id=_trace_id(event),
    )


# --- events ---------------------------------------------------------------------------------


def _member_refs(member: Member, led_group_ids: tuple[str, ...]) -> dict[str, Any]:
    """What member.created and member.updated say of the member."""
    return {
        "email": member.email,
        "display_name": member.display_name,
        "department": _ref("departments", member.department_id),
        "role": f"roles/{member.role}",
        "groups": [f"groups/{g}" for g in member.groups],
        "languages": list(member.languages),
        "capacity": member.capacity,
        "availability": _AVAILABILITY_TO_PB[member.availability],
        "enabled": member.active,
        "led_groups": [f"groups/{g}" for g in sorted(led_group_ids)],
    }


def event_pb(payload: Message | IdentityEvent) -> Message:
    """The contract's event for an IdentityEvent; a proto is staged as it is."""
    match payload:
        case Message():
            return payload
        case TenantCreated(tenant=tenant, admin_member_id=admin):
            return identity_events_pb2.TenantCreated(
                tenant=f"tenants/{tenant.id}",
                display_name=tenant.display_name,
                industry=tenant.industry,
                working_language=tenant.working_language,
                admin_member=member_name(admin),
            )
        case TenantSettingsChanged():
            return identity_events_pb2.TenantSettingsChanged(
                tenant=f"tenants/{payload.tenant_id}",
                changed_fields=sorted(payload.changed_fields),
                max_filter_conditions=payload.max_filter_conditions,
                actor=payload.actor,
            )
        case MemberCreated(member=member):
            return identity_events_pb2.MemberCreated(
                member=member_name(member.id), **_member_refs(member, payload.led_group_ids)
            )
        case MemberUpdated(member=member):
            return identity_events_pb2.MemberUpdated(
                member=member_name(member.id),
                changed_fields=sorted(payload.changed_fields),
                **_member_refs(member, payload.led_group_ids),
            )
        case MemberDisabled():
            return identity_events_pb2.MemberDisabled(
                member=member_name(payload.member_id), reason=payload.reason, actor=payload.actor
            )
        case MemberDeleted():
            return identity_events_pb2.MemberDeleted(
                member=member_name(payload.member_id), actor=payload.actor
            )
        case RoleChanged(role=role):
            return identity_events_pb2.RoleChanged(
                role=role_name(role.id),
                display_name=role.display_name,
                permissions=sorted(role.permissions),
                data_scope=data_scope_to_pb(role.data_scope),
                include_sub_departments=role.include_sub_departments,
                deleted=payload.deleted,
                actor=payload.actor,
            )
    raise TypeError(f"no event proto for {type(payload).__name__}")
