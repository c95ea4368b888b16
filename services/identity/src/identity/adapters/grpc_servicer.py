"""IdentityService over gRPC: maps protos to use cases and back, nothing more.

The caller comes from ``require_caller`` (the verified access token, checked
against ``adapters/permissions.py`` by the shared interceptor before any
method here runs); every use case is scoped by the caller's tenant.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from google.protobuf.empty_pb2 import Empty
from opentelemetry import trace

from crosstalk.identity.v1 import auth_pb2, resources_pb2
from crosstalk.identity.v1 import identity_service_pb2 as pb
from crosstalk.identity.v1 import identity_service_pb2_grpc as pb_grpc
from crosstalk_common.api.field_mask import resolve_update_paths
from crosstalk_common.api.pagination import ListRequest, ListWindow, PageTokenCodec
from crosstalk_common.api.proto_fields import populated_fields
from crosstalk_common.api.resource_names import optional_resource_id, resource_id, resource_ids_of
from crosstalk_common.api.timestamps import time_field, timestamp_or_none
from crosstalk_common.clock import utc_now
from crosstalk_common.grpc.auth import require_caller
from identity.adapters import mapping
from identity.app.auth import TokenPair
from identity.app.context import Actor, Origin, check_request_id
from identity.app.ports import MemberFilter
from identity.app.use_cases import IdentityApp
from identity.domain.model import (
    DEPARTMENT_FIELDS,
    GROUP_FIELDS,
    MEMBER_FIELDS,
    ROLE_FIELDS,
    SETTINGS_FIELDS,
    AuditFilter,
    SignUp,
)

Context = Any  # grpc.aio.ServicerContext


def _metadata(context: Context, key: str) -> str:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode(errors="replace")
    return ""


# Set by the gateway to the client address it trusts (gateway.yaml client_address);
# a client's own copy is removed at the edge. X-Forwarded-For is never read: its
# first entries are whatever the client wrote.
CLIENT_IP_HEADER = "x-crosstalk-client-ip"


def origin_of(context: Context) -> Origin:
    """Where the request came from: the gateway's client address, else the TCP peer."""
    address = _metadata(context, CLIENT_IP_HEADER).strip()
    peer = str(context.peer() or "")
    if not address and peer.startswith(("ipv4:", "ipv6:")):
        address = peer.split(":", 1)[1].rsplit(":", 1)[0].strip("[]")
    span = trace.get_current_span().get_span_context()
    return Origin(
        ip_address=address,
        user_agent=_metadata(context, "user-agent"),
        trace_id=format(span.trace_id, "032x") if span.is_valid else "",
    )


def actor_of(context: Context) -> Actor:
    caller = require_caller(context)
    return Actor(
        tenant_id=caller.tenant_id,
        subject=caller.subject,
        permissions=frozenset(caller.permissions),
        session_id=caller.session_id,
        origin=origin_of(context),
    )


def _created_key(created_at: datetime | None, item_id: str) -> list[str]:
    return [(created_at or utc_now()).isoformat(), item_id]


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    def __init__(
        self, app: IdentityApp, page_tokens: PageTokenCodec, jwks: Callable[[], Any]
    ) -> None:
        self._app = app
        self._tokens = page_tokens
        self._jwks = jwks

    # --- paging -----------------------------------------------------------------

    def _window(self, actor: Actor, request: ListRequest, params: Sequence[object]) -> ListWindow:
        return self._tokens.window(
            request, actor.tenant_id, actor.subject, type(request).__name__, *params
        )

    # --- tenant ---------------------------------------------------------------------

    async def SignUp(self, request: pb.SignUpRequest, context: Context) -> pb.SignUpResponse:
        tenant, admin = await self._app.tenants.sign_up(
            SignUp(
                company_name=request.company_name,
                industry=request.industry,
                team_size=request.team_size,
                working_language=request.working_language,
                admin_email=request.admin_email,
                admin_display_name=request.admin_display_name,
                admin_password=request.admin_password,
            ),
            origin_of(context),
        )
        return pb.SignUpResponse(
            tenant=mapping.tenant_to_pb(tenant), admin=mapping.member_to_pb(admin)
        )

    async def GetTenant(
        self, request: pb.GetTenantRequest, context: Context
    ) -> resources_pb2.Tenant:
        caller = require_caller(context)
        tenant_id = resource_id(request.name, "tenants")
        tenant = await self._app.tenants.get_tenant(caller.tenant_id, tenant_id)
        return mapping.tenant_to_pb(tenant)

    def _settings_pb(self, settings: Any) -> resources_pb2.TenantSettings:
        lifetimes = self._app.auth.lifetimes
        return mapping.settings_to_pb(
            settings,
            access_ttl=settings.access_ttl(lifetimes).total_seconds(),
            refresh_ttl=settings.refresh_ttl(lifetimes).total_seconds(),
            lockout=self._app.auth.lockout,
        )

    @staticmethod
    def _settings_tenant(name: str, field: str) -> str:
        (tenant_id,) = resource_ids_of(name, "tenants/{tenant}/settings", field=field)
        return tenant_id

    async def GetTenantSettings(
        self, request: pb.GetTenantSettingsRequest, context: Context
    ) -> resources_pb2.TenantSettings:
        actor = actor_of(context)
        tenant_id = self._settings_tenant(request.name, "name")
        return self._settings_pb(await self._app.tenants.get_settings(actor, tenant_id))

    async def UpdateTenantSettings(
        self, request: pb.UpdateTenantSettingsRequest, context: Context
    ) -> resources_pb2.TenantSettings:
        actor = actor_of(context)
        body = request.tenant_settings
        tenant_id = self._settings_tenant(body.name, "tenant_settings.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=SETTINGS_FIELDS,
        )
        updated = await self._app.tenants.update_settings(
            actor, tenant_id, mapping.settings_changes(body, paths), body.etag
        )
        return self._settings_pb(updated)

    # --- authentication -------------------------------------------------------------------

    @staticmethod
    def _login_response(pair: TokenPair) -> pb.LoginResponse:
        return pb.LoginResponse(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token,
            token_type="Bearer",  # noqa: S106 (a token type, not a secret)
            access_token_expire_time=timestamp_or_none(pair.access_expires_at),
            refresh_token_expire_time=timestamp_or_none(pair.refresh_expires_at),
            session=(
                f"members/{pair.member.id}/sessions/{pair.session_id}"
                if pair.member is not None and pair.session_id
                else ""
            ),
            member=mapping.member_to_pb(pair.member) if pair.member is not None else None,
        )

    async def Login(self, request: pb.LoginRequest, context: Context) -> pb.LoginResponse:
        pair = await self._app.auth.login(request.email, request.password, origin_of(context))
        return self._login_response(pair)

    async def RefreshToken(
        self, request: pb.RefreshTokenRequest, context: Context
    ) -> pb.LoginResponse:
        return self._login_response(await self._app.auth.refresh(request.refresh_token))

    async def ExchangeApiKey(
        self, request: pb.ExchangeApiKeyRequest, context: Context
    ) -> pb.LoginResponse:
        pair, _ = await self._app.auth.exchange_api_key(request.secret)
        return self._login_response(pair)

    async def IssueServiceToken(
        self, request: pb.IssueServiceTokenRequest, context: Context
    ) -> pb.IssueServiceTokenResponse:
        issued = await self._app.service_tokens.issue(
            request.service,
            request.secret,
            resource_id(request.tenant, "tenants", field="tenant") if request.tenant else "",
            # Envoy sets the client address on every request it forwards.
            through_gateway=bool(_metadata(context, CLIENT_IP_HEADER)),
        )
        return pb.IssueServiceTokenResponse(
            access_token=issued.access_token,
            access_token_expire_time=timestamp_or_none(issued.expires_at),
        )

    async def Logout(self, request: pb.LogoutRequest, context: Context) -> Empty:
        await self._app.auth.logout(actor_of(context), request.refresh_token)
        return Empty()

    async def ListSessions(
        self, request: pb.ListSessionsRequest, context: Context
    ) -> pb.ListSessionsResponse:
        actor = actor_of(context)
        member_id = resource_id(request.parent, "members", field="parent")
        window = self._window(actor, request, [member_id, request.show_inactive])
        found = await self._app.auth.sessions(
            actor,
            member_id,
            show_inactive=request.show_inactive,
            after=window.after,
            limit=window.limit,
        )
        page, token = window.cut(found, lambda s: _created_key(s.created_at, s.id))
        return pb.ListSessionsResponse(
            sessions=[mapping.session_to_pb(s) for s in page], next_page_token=token
        )

    async def RevokeSession(
        self, request: pb.RevokeSessionRequest, context: Context
    ) -> auth_pb2.Session:
        actor = actor_of(context)
        member_id, session_id = resource_ids_of(request.name, "members/{member}/sessions/{session}")
        session = await self._app.auth.revoke_session(actor, member_id, session_id)
        return mapping.session_to_pb(session)

    async def GetJwks(self, request: pb.GetJwksRequest, context: Context) -> auth_pb2.JsonWebKeySet:
        keys = await self._jwks()
        return auth_pb2.JsonWebKeySet(keys=[mapping.jwk_to_pb(k) for k in keys])

    # --- members --------------------------------------------------------------------------

    async def CreateMember(
        self, request: pb.CreateMemberRequest, context: Context
    ) -> resources_pb2.Member:
        actor = actor_of(context)
        check_request_id(request.request_id)
        draft = mapping.member_from_pb(request.member, actor.tenant_id)
        member = await self._app.members.create(
            actor, draft, request.initial_password, request.request_id
        )
        return mapping.member_to_pb(member)

    async def GetMember(
        self, request: pb.GetMemberRequest, context: Context
    ) -> resources_pb2.Member:
        actor = actor_of(context)
        member_id = resource_id(request.name, "members")
        return mapping.member_to_pb(await self._app.members.get(actor, member_id))

    async def ListMembers(
        self, request: pb.ListMembersRequest, context: Context
    ) -> pb.ListMembersResponse:
        actor = actor_of(context)
        department = optional_resource_id(request.department, "departments", field="department")
        where = MemberFilter(
            department_ids=frozenset({department}) if department else None,
            group_id=optional_resource_id(request.group, "groups", field="group"),
            role=optional_resource_id(request.role, "roles", field="role"),
            state=mapping.member_state_from_pb(request.state),
            query=request.query.strip(),
        )
        window = self._window(
            actor,
            request,
            [
                department,
                request.include_sub_departments,
                where.group_id,
                where.role,
                request.state,
                where.query,
            ],
        )
        found = await self._app.members.page(
            actor,
            where,
            include_sub_departments=request.include_sub_departments,
            after=window.after,
            limit=window.limit,
        )
        page, token = window.cut(found, lambda m: _created_key(m.created_at, m.id))
        return pb.ListMembersResponse(
            members=[mapping.member_to_pb(m) for m in page], next_page_token=token
        )

    async def UpdateMember(
        self, request: pb.UpdateMemberRequest, context: Context
    ) -> resources_pb2.Member:
        actor = actor_of(context)
        member_id = resource_id(request.member.name, "members", field="member.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(request.member),
            updatable=MEMBER_FIELDS,
        )
        draft = mapping.member_from_pb(request.member, actor.tenant_id)
        if "availability" in paths:
            mapping.availability_from_pb(request.member.availability, field="member.availability")
        member = await self._app.members.update(actor, member_id, draft, paths, request.member.etag)
        return mapping.member_to_pb(member)

    async def DeleteMember(self, request: pb.DeleteMemberRequest, context: Context) -> Empty:
        actor = actor_of(context)
        await self._app.members.delete(actor, resource_id(request.name, "members"), request.etag)
        return Empty()

    async def DisableMember(
        self, request: pb.DisableMemberRequest, context: Context
    ) -> resources_pb2.Member:
        actor = actor_of(context)
        member = await self._app.members.disable(
            actor, resource_id(request.name, "members"), request.reason
        )
        return mapping.member_to_pb(member)

    async def EnableMember(
        self, request: pb.EnableMemberRequest, context: Context
    ) -> resources_pb2.Member:
        actor = actor_of(context)
        member = await self._app.members.enable(actor, resource_id(request.name, "members"))
        return mapping.member_to_pb(member)

    async def SetMemberPassword(
        self, request: pb.SetMemberPasswordRequest, context: Context
    ) -> resources_pb2.Member:
        actor = actor_of(context)
        member = await self._app.members.set_password(
            actor, resource_id(request.name, "members"), request.password
        )
        return mapping.member_to_pb(member)

    async def PreviewMemberImport(
        self, request: pb.PreviewMemberImportRequest, context: Context
    ) -> pb.PreviewMemberImportResponse:
        actor = actor_of(context)
        plan = await self._app.imports.preview(
            actor,
            request.content,
            mapping.file_format_from_pb(request.format),
            [(m.column, m.field) for m in request.column_mappings],
            request.update_existing,
        )
        return pb.PreviewMemberImportResponse(
            rows=[
                pb.MemberImportRow(row=row, member=member, existing=existing)
                for row, member, existing in mapping.preview_rows(plan)
            ],
            row_errors=[mapping.row_error_to_pb(e) for e in plan.errors[:1000]],
            total_rows=plan.total_rows,
            valid_rows=len(plan.members),
        )

    async def CommitMemberImport(
        self, request: pb.CommitMemberImportRequest, context: Context
    ) -> pb.CommitMemberImportResponse:
        actor = actor_of(context)
        check_request_id(request.request_id)
        result = await self._app.imports.commit(
            actor,
            request.content,
            mapping.file_format_from_pb(request.format),
            [(m.column, m.field) for m in request.column_mappings],
            skip_invalid_rows=request.skip_invalid_rows,
            update_existing=request.update_existing,
            request_id=request.request_id,
        )
        return pb.CommitMemberImportResponse(
            created_count=result.created,
            updated_count=result.updated,
            skipped_count=result.skipped,
            row_errors=[mapping.row_error_to_pb(e) for e in result.errors[:1000]],
        )

    # --- departments ---------------------------------------------------------------------

    async def CreateDepartment(
        self, request: pb.CreateDepartmentRequest, context: Context
    ) -> resources_pb2.Department:
        actor = actor_of(context)
        draft = mapping.department_from_pb(request.department, actor.tenant_id)
        return mapping.department_to_pb(await self._app.departments.create(actor, draft))

    async def GetDepartment(
        self, request: pb.GetDepartmentRequest, context: Context
    ) -> resources_pb2.Department:
        actor = actor_of(context)
        department_id = resource_id(request.name, "departments")
        return mapping.department_to_pb(await self._app.departments.get(actor, department_id))

    async def ListDepartments(
        self, request: pb.ListDepartmentsRequest, context: Context
    ) -> pb.ListDepartmentsResponse:
        actor = actor_of(context)
        parent = optional_resource_id(
            request.parent_department, "departments", field="parent_department"
        )
        window = self._window(actor, request, [parent])
        found = await self._app.departments.page(
            actor, parent or None, after=window.after, limit=window.limit
        )
        page, token = window.cut(found, lambda d: [str(d.sort_order), d.id])
        return pb.ListDepartmentsResponse(
            departments=[mapping.department_to_pb(d) for d in page], next_page_token=token
        )

    async def UpdateDepartment(
        self, request: pb.UpdateDepartmentRequest, context: Context
    ) -> resources_pb2.Department:
        actor = actor_of(context)
        body = request.department
        department_id = resource_id(body.name, "departments", field="department.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=DEPARTMENT_FIELDS,
        )
        draft = mapping.department_from_pb(body, actor.tenant_id)
        updated = await self._app.departments.update(actor, department_id, draft, paths, body.etag)
        return mapping.department_to_pb(updated)

    async def DeleteDepartment(
        self, request: pb.DeleteDepartmentRequest, context: Context
    ) -> Empty:
        actor = actor_of(context)
        await self._app.departments.delete(
            actor, resource_id(request.name, "departments"), request.etag
        )
        return Empty()

    # --- groups ----------------------------------------------------------------------------

    async def CreateGroup(
        self, request: pb.CreateGroupRequest, context: Context
    ) -> resources_pb2.Group:
        actor = actor_of(context)
        draft = mapping.group_from_pb(request.group, actor.tenant_id)
        return mapping.group_to_pb(await self._app.groups.create(actor, draft))

    async def GetGroup(self, request: pb.GetGroupRequest, context: Context) -> resources_pb2.Group:
        actor = actor_of(context)
        return mapping.group_to_pb(
            await self._app.groups.get(actor, resource_id(request.name, "groups"))
        )

    async def ListGroups(
        self, request: pb.ListGroupsRequest, context: Context
    ) -> pb.ListGroupsResponse:
        actor = actor_of(context)
        kind = mapping.group_kind_from_pb(request.kind, field="kind")
        member_id = optional_resource_id(request.member, "members", field="member")
        window = self._window(actor, request, [request.kind, member_id])
        found = await self._app.groups.page(
            actor, kind=kind, member_id=member_id, after=window.after, limit=window.limit
        )
        page, token = window.cut(found, lambda g: _created_key(g.created_at, g.id))
        return pb.ListGroupsResponse(
            groups=[mapping.group_to_pb(g) for g in page], next_page_token=token
        )

    async def UpdateGroup(
        self, request: pb.UpdateGroupRequest, context: Context
    ) -> resources_pb2.Group:
        actor = actor_of(context)
        body = request.group
        group_id = resource_id(body.name, "groups", field="group.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=GROUP_FIELDS,
        )
        draft = mapping.group_from_pb(body, actor.tenant_id)
        updated = await self._app.groups.update(actor, group_id, draft, paths, body.etag)
        return mapping.group_to_pb(updated)

    async def DeleteGroup(self, request: pb.DeleteGroupRequest, context: Context) -> Empty:
        actor = actor_of(context)
        await self._app.groups.delete(actor, resource_id(request.name, "groups"), request.etag)
        return Empty()

    # --- roles -------------------------------------------------------------------------------

    async def CreateRole(
        self, request: pb.CreateRoleRequest, context: Context
    ) -> resources_pb2.Role:
        actor = actor_of(context)
        draft = mapping.role_from_pb(request.role, actor.tenant_id, require_scope=True)
        role = await self._app.roles.create(actor, draft, list(request.role.permissions))
        return mapping.role_to_pb(role)

    async def GetRole(self, request: pb.GetRoleRequest, context: Context) -> resources_pb2.Role:
        actor = actor_of(context)
        return mapping.role_to_pb(
            await self._app.roles.get(actor, resource_id(request.name, "roles"))
        )

    async def ListRoles(
        self, request: pb.ListRolesRequest, context: Context
    ) -> pb.ListRolesResponse:
        actor = actor_of(context)
        window = self._window(actor, request, [])
        found = await self._app.roles.page(actor, after=window.after, limit=window.limit)
        page, token = window.cut(found, lambda r: _created_key(r.created_at, r.id))
        return pb.ListRolesResponse(
            roles=[mapping.role_to_pb(r) for r in page], next_page_token=token
        )

    async def UpdateRole(
        self, request: pb.UpdateRoleRequest, context: Context
    ) -> resources_pb2.Role:
        actor = actor_of(context)
        body = request.role
        role_id = resource_id(body.name, "roles", field="role.name")
        paths = resolve_update_paths(
            list(request.update_mask.paths),
            populated=populated_fields(body),
            updatable=ROLE_FIELDS,
        )
        draft = mapping.role_from_pb(body, actor.tenant_id, require_scope="data_scope" in paths)
        updated = await self._app.roles.update(
            actor, role_id, draft, list(body.permissions), paths, body.etag
        )
        return mapping.role_to_pb(updated)

    async def DeleteRole(self, request: pb.DeleteRoleRequest, context: Context) -> Empty:
        actor = actor_of(context)
        await self._app.roles.delete(actor, resource_id(request.name, "roles"), request.etag)
        return Empty()

    async def ListPermissions(
        self, request: pb.ListPermissionsRequest, context: Context
    ) -> pb.ListPermissionsResponse:
        actor = actor_of(context)
        window = self._window(actor, request, [request.service])
        after = window.after
        found = [
            p for p in self._app.roles.permissions(request.service) if not after or p.id > after[0]
        ]
        page, token = window.cut(found, lambda p: [p.id])
        return pb.ListPermissionsResponse(
            permissions=[
                resources_pb2.Permission(
                    permission=p.id,
                    display_name=p.description,
                    description=p.description,
                    service=p.service,
                )
                for p in page
            ],
            next_page_token=token,
        )

    async def CheckPermission(
        self, request: pb.CheckPermissionRequest, context: Context
    ) -> pb.CheckPermissionResponse:
        actor = actor_of(context)
        result = await self._app.roles.check(
            actor, request.principal, request.permission, request.target_owner
        )
        return pb.CheckPermissionResponse(
            allowed=result.allowed,
            data_scope=mapping.data_scope_to_pb(result.data_scope),
            reason=result.reason,
        )

    # --- API keys ---------------------------------------------------------------------------

    async def CreateApiKey(
        self, request: pb.CreateApiKeyRequest, context: Context
    ) -> pb.CreateApiKeyResponse:
        actor = actor_of(context)
        check_request_id(request.request_id)
        body = request.api_key
        key, secret = await self._app.api_keys.create(
            actor,
            body.display_name,
            optional_resource_id(body.role, "roles", field="api_key.role"),
            time_field(body, "expire_time"),
            request.request_id,
        )
        return pb.CreateApiKeyResponse(api_key=mapping.api_key_to_pb(key, utc_now()), secret=secret)

    async def GetApiKey(self, request: pb.GetApiKeyRequest, context: Context) -> auth_pb2.ApiKey:
        actor = actor_of(context)
        key = await self._app.api_keys.get(actor, resource_id(request.name, "apiKeys"))
        return mapping.api_key_to_pb(key, utc_now())

    async def ListApiKeys(
        self, request: pb.ListApiKeysRequest, context: Context
    ) -> pb.ListApiKeysResponse:
        actor = actor_of(context)
        window = self._window(actor, request, [request.show_inactive])
        found = await self._app.api_keys.page(
            actor, show_inactive=request.show_inactive, after=window.after, limit=window.limit
        )
        page, token = window.cut(found, lambda k: _created_key(k.created_at, k.id))
        now = utc_now()
        return pb.ListApiKeysResponse(
            api_keys=[mapping.api_key_to_pb(k, now) for k in page], next_page_token=token
        )

    async def RevokeApiKey(
        self, request: pb.RevokeApiKeyRequest, context: Context
    ) -> auth_pb2.ApiKey:
        actor = actor_of(context)
        key = await self._app.api_keys.revoke(actor, resource_id(request.name, "apiKeys"))
        return mapping.api_key_to_pb(key, utc_now())

    # --- audit ------------------------------------------------------------------------------

    async def ListAuditEvents(
        self, request: pb.ListAuditEventsRequest, context: Context
    ) -> pb.ListAuditEventsResponse:
        actor = actor_of(context)
        where = AuditFilter(
            actor=request.actor.strip(),
            action=request.action.strip(),
            target=request.target.strip(),
            start_time=time_field(request, "start_time"),
            end_time=time_field(request, "end_time"),
        )
        window = self._window(
            actor,
            request,
            [
                where.actor,
                where.action,
                where.target,
                where.start_time.isoformat() if where.start_time else "",
                where.end_time.isoformat() if where.end_time else "",
            ],
        )
        found = await self._app.audit.page(actor, where, after=window.after, limit=window.limit)
        page, token = window.cut(found, lambda e: [e.event_time.isoformat(), e.id])
        return pb.ListAuditEventsResponse(
            audit_events=[mapping.audit_to_pb(e) for e in page], next_page_token=token
        )
