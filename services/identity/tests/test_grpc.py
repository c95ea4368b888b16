"""The servicer through a real grpc.aio server with the shared auth interceptor."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from crosstalk.identity.v1 import auth_pb2, resources_pb2
from crosstalk.identity.v1 import identity_service_pb2 as pb
from crosstalk.identity.v1 import identity_service_pb2_grpc as pb_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.grpc.auth import full_method_names
from crosstalk_common.grpc.server import ServiceDefinition, build_server
from identity.adapters.grpc_servicer import IdentityServicer
from identity.adapters.permissions import METHOD_PERMISSIONS
from identity.bootstrap import SERVICE_NAME
from services.identity.tests.conftest import PASSWORD, Env

Stub = pb_grpc.IdentityServiceStub


@pytest.fixture
async def stub(env: Env) -> AsyncIterator[Stub]:
    servicer = IdentityServicer(env.app, PageTokenCodec(b"test-secret"), env.keys.jwks)
    definition = ServiceDefinition(
        name="identity",
        host="127.0.0.1",
        port=0,
        servicers=[(pb_grpc.add_IdentityServiceServicer_to_server, servicer)],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=TokenVerifier(env.key_source),
    )
    server, _, port = build_server(definition)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield pb_grpc.IdentityServiceStub(channel)
    finally:
        await channel.close()
        await server.stop(None)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def sign_up_and_login(stub: Stub, company: str) -> tuple[pb.SignUpResponse, str]:
    email = f"admin-{uuid.uuid4().hex[:10]}@example.com"
    signed_up = await stub.SignUp(
        pb.SignUpRequest(
            company_name=company,
            working_language="en",
            admin_email=email,
            admin_display_name="Ada",
            admin_password=PASSWORD,
        )
    )
    login = await stub.Login(pb.LoginRequest(email=email, password=PASSWORD))
    return signed_up, login.access_token


def test_every_rpc_declares_a_permission() -> None:
    service = pb.DESCRIPTOR.services_by_name["IdentityService"]
    assert set(METHOD_PERMISSIONS) == {m.name for m in service.methods}
    for public in ("SignUp", "Login", "RefreshToken", "GetJwks", "ExchangeApiKey"):
        assert METHOD_PERMISSIONS[public] == "public"
    for own in ("Logout", "ListSessions", "RevokeSession"):
        assert METHOD_PERMISSIONS[own] == "authenticated"


async def test_members_through_grpc_with_tokens_pages_and_errors(stub: Stub) -> None:
    signed_up, token = await sign_up_and_login(stub, "Grpc Co")
    auth = bearer(token)
    tenant = await stub.GetTenant(pb.GetTenantRequest(name=signed_up.tenant.name), metadata=auth)
    assert tenant.display_name == "Grpc Co"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListMembers(pb.ListMembersRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

    created = []
    for n in range(3):
        created.append(
            await stub.CreateMember(
                pb.CreateMemberRequest(
                    member=resources_pb2.Member(
                        email=f"agent{n}-{uuid.uuid4().hex[:8]}@example.com",
                        display_name=f"Agent {n}",
                        role="roles/restricted",
                    ),
                    initial_password=PASSWORD,
                ),
                metadata=auth,
            )
        )
    names = []
    page_token = ""
    while True:
        page = await stub.ListMembers(
            pb.ListMembersRequest(page_size=2, page_token=page_token), metadata=auth
        )
        names += [m.name for m in page.members]
        page_token = page.next_page_token
        if not page_token:
            break
    assert sorted(names) == sorted([signed_up.admin.name, *(m.name for m in created)])

    renamed = await stub.UpdateMember(
        pb.UpdateMemberRequest(
            member=resources_pb2.Member(name=created[0].name, display_name="Renamed", phone="x"),
            update_mask=FieldMask(paths=["display_name"]),
        ),
        metadata=auth,
    )
    assert (renamed.display_name, renamed.phone) == ("Renamed", "")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateMember(
            pb.CreateMemberRequest(member=resources_pb2.Member(email="nope", display_name="N")),
            metadata=auth,
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)
    assert status is not None
    violations = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [v.field for v in bad.field_violations]
    assert violations == ["member.email"]

    # a restricted agent may read members but not add them
    agent = await stub.Login(pb.LoginRequest(email=created[1].email, password=PASSWORD))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateMember(
            pb.CreateMemberRequest(member=resources_pb2.Member(email="a@b.co", display_name="A")),
            metadata=bearer(agent.access_token),
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED

    # another tenant's member does not exist
    _, other_token = await sign_up_and_login(stub, "Other Co")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetMember(
            pb.GetMemberRequest(name=created[0].name), metadata=bearer(other_token)
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_public_auth_rpcs_over_grpc(stub: Stub) -> None:
    signed_up, token = await sign_up_and_login(stub, "Keys Co")
    jwks = await stub.GetJwks(pb.GetJwksRequest())
    assert jwks.keys
    assert all(k.kty == "OKP" and k.alg == "EdDSA" for k in jwks.keys)

    created = await stub.CreateApiKey(
        pb.CreateApiKeyRequest(
            api_key=auth_pb2.ApiKey(display_name="Adapter", role="roles/normal")
        ),
        metadata=bearer(token),
    )
    exchanged = await stub.ExchangeApiKey(pb.ExchangeApiKeyRequest(secret=created.secret))
    assert exchanged.token_type == "Bearer"
    assert not exchanged.refresh_token
    listed = await stub.ListMembers(
        pb.ListMembersRequest(), metadata=bearer(exchanged.access_token)
    )
    assert [m.name for m in listed.members] == [signed_up.admin.name]

    email = signed_up.admin.email
    for _ in range(5):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Login(pb.LoginRequest(email=email, password="wrong password!"))
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Login(pb.LoginRequest(email=email, password=PASSWORD))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(caught.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details if d.Is(info.DESCRIPTOR))
    assert info.reason == "LOGIN_LOCKED"
    assert info.metadata["retryAfterSeconds"] == "30"
