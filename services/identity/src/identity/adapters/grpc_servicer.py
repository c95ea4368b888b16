"""IdentityService over gRPC: proto mapping only."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from crosstalk.identity.v1 import identity_service_pb2 as pb
from crosstalk.identity.v1 import identity_service_pb2_grpc as pb_grpc
from crosstalk.identity.v1 import resources_pb2
from crosstalk_common.errors import FieldViolation, InvalidArgument
from crosstalk_common.grpc.auth import require_caller
from identity.app.use_cases import IdentityService
from identity.domain.model import Member, SignUp, Tenant

Context = Any


def _ts(value: Any) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def tenant_to_pb(tenant: Tenant) -> resources_pb2.Tenant:
    return resources_pb2.Tenant(
        name=f"tenants/{tenant.id}",
        display_name=tenant.display_name,
        industry=tenant.industry,
        team_size=tenant.team_size,
        working_language=tenant.working_language,
        create_time=_ts(tenant.created_at),
    )


def member_to_pb(member: Member) -> resources_pb2.Member:
    return resources_pb2.Member(
        name=f"members/{member.id}",
        email=member.email,
        display_name=member.display_name,
        role=member.role,
        state=resources_pb2.MEMBER_STATE_ACTIVE,
        create_time=_ts(member.created_at),
    )


class IdentityServicer(pb_grpc.IdentityServiceServicer):
    def __init__(self, service: IdentityService) -> None:
        self._service = service

    async def SignUp(self, request: pb.SignUpRequest, context: Context) -> pb.SignUpResponse:
        tenant, admin = await self._service.sign_up(
            SignUp(
                company_name=request.company_name,
                industry=request.industry,
                team_size=request.team_size,
                working_language=request.working_language,
                admin_email=request.admin_email,
                admin_display_name=request.admin_display_name,
                admin_password=request.admin_password,
            )
        )
        return pb.SignUpResponse(tenant=tenant_to_pb(tenant), admin=member_to_pb(admin))

    async def GetTenant(
        self, request: pb.GetTenantRequest, context: Context
    ) -> resources_pb2.Tenant:
        caller = require_caller(context)
        prefix = "tenants/"
        if not request.name.startswith(prefix) or len(request.name) == len(prefix):
            raise InvalidArgument([FieldViolation("name", "must look like 'tenants/{tenant}'")])
        tenant = await self._service.get_tenant(caller.tenant_id, request.name[len(prefix) :])
        return tenant_to_pb(tenant)
