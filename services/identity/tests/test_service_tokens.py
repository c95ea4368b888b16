"""Service tokens (ADR 0026): one service, one tenant, the service's fixed grants, signed
as the service issuer, never issued to a request that came through the gateway."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk.identity.v1 import identity_service_pb2 as pb
from crosstalk_common.auth.claims import SERVICE_ISSUER
from crosstalk_common.auth.tokens import verify_access_token
from crosstalk_common.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from crosstalk_common.permissions import DataScope
from services.identity.tests.conftest import Env, FakeClock, build_env
from services.identity.tests.test_grpc import Stub, bearer, sign_up_and_login, stub  # noqa: F401

SECRET = "the-messaging-service-secret-of-these-tests-0123456789"


@pytest.fixture
async def env(engine: AsyncEngine, clock: FakeClock) -> Env:
    built = await build_env(engine, clock)
    tokens = replace(built.app.service_tokens, secrets={"messaging": SECRET, "rogue": SECRET})
    return replace(built, app=replace(built.app, service_tokens=tokens))


async def test_a_token_for_one_tenant_with_the_services_grants(env: Env, clock: FakeClock) -> None:
    tenant, _, _ = await env.sign_up()
    issued = await env.app.service_tokens.issue(
        "messaging", SECRET, tenant.id, through_gateway=False
    )
    claims = verify_access_token(issued.access_token, await env.key_source.public_keys())
    assert claims.subject == "services/messaging"
    assert claims.tenant_id == tenant.id
    assert claims.permissions == frozenset({"customers.read", "translation.use"})
    assert claims.data_scope is DataScope.ALL
    assert claims.expires_at - claims.issued_at == 600
    assert issued.expires_at.replace(microsecond=0) == (clock.now + timedelta(minutes=10)).replace(
        microsecond=0
    )
    assert claims.issuer == SERVICE_ISSUER


@pytest.mark.parametrize(
    ("service", "secret"),
    [
        ("messaging", SECRET[:-1] + "x"),  # a wrong secret
        ("messaging", SECRET + "x"),  # longer
        ("rogue", SECRET),  # a secret configured for a service without grants
        ("customers", SECRET),  # a service without a secret here
    ],
)
async def test_a_wrong_credential_is_refused(env: Env, service: str, secret: str) -> None:
    tenant, _, _ = await env.sign_up()
    with pytest.raises(Unauthenticated) as caught:
        await env.app.service_tokens.issue(service, secret, tenant.id, through_gateway=False)
    assert caught.value.reason == "INVALID_SERVICE_CREDENTIAL"


async def test_bad_requests_through_the_gateway_and_unknown_tenants(env: Env) -> None:
    tenant, _, _ = await env.sign_up()
    tokens = env.app.service_tokens
    with pytest.raises(InvalidArgument) as bad:
        await tokens.issue("", "", "", through_gateway=False)
    assert {v.field for v in bad.value.violations} == {"service", "secret", "tenant"}
    with pytest.raises(PermissionDenied) as outside:
        await tokens.issue("messaging", SECRET, tenant.id, through_gateway=True)
    assert outside.value.reason == "SERVICE_TOKEN_FROM_OUTSIDE"
    with pytest.raises(NotFound):
        await tokens.issue("messaging", SECRET, "no-such-tenant", through_gateway=False)


async def test_over_grpc_the_token_acts_within_its_tenant_only(stub: Stub) -> None:  # noqa: F811
    mine, _ = await sign_up_and_login(stub, "Service Co")
    other, _ = await sign_up_and_login(stub, "Other Co")
    issued = await stub.IssueServiceToken(
        pb.IssueServiceTokenRequest(service="messaging", tenant=mine.tenant.name, secret=SECRET)
    )
    assert issued.access_token_expire_time.seconds > 0
    auth = bearer(issued.access_token)
    tenant = await stub.GetTenant(pb.GetTenantRequest(name=mine.tenant.name), metadata=auth)
    assert tenant.name == mine.tenant.name
    with pytest.raises(grpc.aio.AioRpcError) as foreign:
        await stub.GetTenant(pb.GetTenantRequest(name=other.tenant.name), metadata=auth)
    assert foreign.value.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED)
    # Members are not among its grants.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.ListMembers(pb.ListMembersRequest(), metadata=auth)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # The gateway sets the client address on whatever it forwards: refused.
    with pytest.raises(grpc.aio.AioRpcError) as outside:
        await stub.IssueServiceToken(
            pb.IssueServiceTokenRequest(
                service="messaging", tenant=mine.tenant.name, secret=SECRET
            ),
            metadata=(("x-crosstalk-client-ip", "203.0.113.9"),),
        )
    assert outside.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as bad_name:
        await stub.IssueServiceToken(
            pb.IssueServiceTokenRequest(service="messaging", tenant="nope", secret=SECRET)
        )
    assert bad_name.value.code() == grpc.StatusCode.INVALID_ARGUMENT
