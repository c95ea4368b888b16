"""Access tokens and per-RPC permissions, through a real grpc.aio server."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from google.protobuf import empty_pb2

from crosstalk_common.auth.claims import AUDIENCE, ISSUER, SERVICE_ISSUER, AccessClaims
from crosstalk_common.auth.tokens import (
    LEEWAY_SECONDS,
    public_jwk,
    public_key_from_jwk,
    sign_access_token,
    verify_access_token,
)
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.errors import Unauthenticated
from crosstalk_common.grpc.auth import (
    AUTHENTICATED,
    PUBLIC,
    AuthInterceptor,
    Caller,
    acting_as,
    current_principal,
    full_method_names,
    require_caller,
)
from crosstalk_common.grpc.errors import ErrorMappingInterceptor
from crosstalk_common.permissions import DataScope

KEY = Ed25519PrivateKey.generate()
KID = "key-1"
SERVICE = "test.v1.GuardedService"
SHARED_SECRET = "a-shared-secret-that-is-long-enough!"


def claims(**changes: Any) -> AccessClaims:
    now = int(time.time())
    values: dict[str, Any] = {
        "subject": "members/m-1",
        "tenant_id": "tenant-a",
        "permissions": frozenset({"customers.read"}),
        "data_scope": DataScope.OWN,
        "department_id": "d-1",
        "visible_departments": frozenset(),
        "issued_at": now,
        "expires_at": now + 600,
        "token_id": str(uuid.uuid4()),
    }
    values.update(changes)
    return AccessClaims(**values)


class StaticKeys:
    def __init__(self, keys: Mapping[str, Ed25519PublicKey]) -> None:
        self.keys = dict(keys)
        self.calls = 0

    async def public_keys(self) -> Mapping[str, Ed25519PublicKey]:
        self.calls += 1
        return self.keys


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_tokens() -> dict[str, str]:
    good = sign_access_token(claims(), KEY, KID)
    header, payload, signature = good.split(".")
    other_tenant = json.loads(base64.urlsafe_b64decode(payload + "==")) | {"tid": "tenant-b"}
    return {
        "expired": sign_access_token(
            claims(issued_at=int(time.time()) - 7200, expires_at=int(time.time()) - 3600), KEY, KID
        ),
        "tampered": f"{header}.{_b64(other_tenant)}.{signature}",
        "alg none": f"{_b64({'alg': 'none', 'kid': KID, 'typ': 'JWT'})}.{payload}.",
        "wrong key": sign_access_token(claims(), Ed25519PrivateKey.generate(), KID),
        "unknown key": sign_access_token(claims(), KEY, "no-such-key"),
        "wrong audience": jwt.encode(
            claims().to_payload() | {"aud": "someone-else"}, KEY, "EdDSA", headers={"kid": KID}
        ),
        "wrong issuer": jwt.encode(
            claims().to_payload() | {"iss": "evil"}, KEY, "EdDSA", headers={"kid": KID}
        ),
        "symmetric": jwt.encode(
            claims().to_payload(), SHARED_SECRET, "HS256", headers={"kid": KID}
        ),
        "garbage": "not-a-jwt",
        # Only services/... subjects are signed as the service issuer, and only as it.
        "member as service issuer": jwt.encode(
            claims().to_payload() | {"iss": SERVICE_ISSUER}, KEY, "EdDSA", headers={"kid": KID}
        ),
        "service as member issuer": jwt.encode(
            claims(subject="services/messaging").to_payload() | {"iss": ISSUER},
            KEY,
            "EdDSA",
            headers={"kid": KID},
        ),
    }


def test_a_signed_token_round_trips() -> None:
    original = claims()
    token = sign_access_token(original, KEY, KID)
    assert verify_access_token(token, {KID: KEY.public_key()}) == original
    assert original.to_payload()["iss"] == ISSUER
    assert original.to_payload()["aud"] == AUDIENCE


def test_a_services_token_is_signed_as_the_service_issuer_and_verifies() -> None:
    original = claims(subject="services/messaging", data_scope=DataScope.ALL)
    assert original.to_payload()["iss"] == SERVICE_ISSUER
    token = sign_access_token(original, KEY, KID)
    assert verify_access_token(token, {KID: KEY.public_key()}) == original


def test_the_jwk_form_of_a_key_verifies_its_tokens() -> None:
    jwk = public_jwk(KEY.public_key(), KID)
    assert jwk["kty"] == "OKP"
    assert jwk["crv"] == "Ed25519"
    assert "d" not in jwk  # never the private part
    token = sign_access_token(claims(), KEY, KID)
    assert verify_access_token(token, {KID: public_key_from_jwk(jwk)}).subject == "members/m-1"


@pytest.mark.parametrize("kind", sorted(forged_tokens()))
def test_forged_tokens_are_refused(kind: str) -> None:
    with pytest.raises(Unauthenticated):
        verify_access_token(forged_tokens()[kind], {KID: KEY.public_key()})


async def test_the_verifier_fetches_keys_again_for_an_unknown_kid() -> None:
    rotated = Ed25519PrivateKey.generate()
    source = StaticKeys({KID: KEY.public_key()})
    verifier = TokenVerifier(source, min_refresh_interval=0.0)
    await verifier.verify(sign_access_token(claims(), KEY, KID))
    source.keys["key-2"] = rotated.public_key()  # identity rotated its key
    verified = await verifier.verify(sign_access_token(claims(), rotated, "key-2"))
    assert verified.tenant_id == "tenant-a"
    assert source.calls == 2


async def test_a_remembered_token_needs_no_second_check_while_its_key_is_published() -> None:
    source = StaticKeys({KID: KEY.public_key()})
    verifier = TokenVerifier(source)
    token = sign_access_token(claims(), KEY, KID)
    first, again = await verifier.verify(token), await verifier.verify(token)
    assert again == first
    assert source.calls == 1


async def test_a_remembered_token_is_refused_once_expired() -> None:
    # Valid for about one more second, the clock leeway included.
    expires_at = int(time.time()) - LEEWAY_SECONDS + 1
    token = sign_access_token(claims(expires_at=expires_at), KEY, KID)
    verifier = TokenVerifier(StaticKeys({KID: KEY.public_key()}))
    await verifier.verify(token)
    await asyncio.sleep(expires_at + LEEWAY_SECONDS + 1.1 - time.time())
    with pytest.raises(Unauthenticated, match="expired"):
        await verifier.verify(token)


async def test_a_remembered_token_is_refused_once_its_key_is_withdrawn() -> None:
    source = StaticKeys({KID: KEY.public_key()})
    # Keys older than max_age are fetched again, on a remembered token's call too.
    verifier = TokenVerifier(source, max_age=0.0, min_refresh_interval=0.0)
    token = sign_access_token(claims(), KEY, KID)
    await verifier.verify(token)
    rotated = Ed25519PrivateKey.generate()
    source.keys = {"key-2": rotated.public_key()}  # identity rotated KEY out
    with pytest.raises(Unauthenticated, match="unknown key"):
        await verifier.verify(token)
    assert (await verifier.verify(sign_access_token(claims(), rotated, "key-2"))).subject


# -- the interceptor --------------------------------------------------------------------


def _handlers() -> grpc.GenericRpcHandler:
    codec: dict[str, Any] = {
        "request_deserializer": empty_pb2.Empty.FromString,
        "response_serializer": empty_pb2.Empty.SerializeToString,
    }

    async def echo_caller(request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
        caller = require_caller(context)
        await context.send_initial_metadata(
            [("tenant", caller.tenant_id), ("scope", caller.data_scope.value)]
        )
        return empty_pb2.Empty()

    async def open_door(request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
        return empty_pb2.Empty()

    methods = ["Read", "Write", "Mine", "Public", "Undeclared"]
    handlers = {
        m: grpc.unary_unary_rpc_method_handler(open_door if m == "Public" else echo_caller, **codec)
        for m in methods
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    permissions = full_method_names(
        SERVICE,
        {
            "Read": "customers.read",
            "Write": "customers.write",
            "Mine": AUTHENTICATED,
            "Public": PUBLIC,
        },
    )
    verifier = TokenVerifier(StaticKeys({KID: KEY.public_key()}))
    server = grpc.aio.server(
        interceptors=[
            ErrorMappingInterceptor("test.crosstalk.io"),
            AuthInterceptor(verifier, permissions),
        ]
    )
    server.add_generic_rpc_handlers([_handlers()])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan
    await server.stop(None)


async def _call(
    channel: grpc.aio.Channel, method: str, token: str | None
) -> tuple[grpc.StatusCode, dict[str, str]]:
    rpc = channel.unary_unary(
        f"/{SERVICE}/{method}",
        request_serializer=empty_pb2.Empty.SerializeToString,
        response_deserializer=empty_pb2.Empty.FromString,
    )
    metadata = [("authorization", f"Bearer {token}")] if token else []
    call = rpc(empty_pb2.Empty(), metadata=metadata, timeout=5)
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code(), {}
    return grpc.StatusCode.OK, {k: str(v) for k, v in (await call.initial_metadata() or [])}


async def test_a_permitted_caller_reaches_the_handler_with_its_claims(
    channel: grpc.aio.Channel,
) -> None:
    code, seen = await _call(channel, "Read", sign_access_token(claims(), KEY, KID))
    assert code == grpc.StatusCode.OK
    assert seen["tenant"] == "tenant-a"
    assert seen["scope"] == "own"


async def test_a_missing_permission_is_denied(channel: grpc.aio.Channel) -> None:
    token = sign_access_token(claims(), KEY, KID)
    assert (await _call(channel, "Write", token))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert (await _call(channel, "Mine", token))[0] == grpc.StatusCode.OK


async def test_an_undeclared_method_is_closed_to_everyone(channel: grpc.aio.Channel) -> None:
    everything = claims(permissions=frozenset({"customers.read", "customers.write"}))
    token = sign_access_token(everything, KEY, KID)
    assert (await _call(channel, "Undeclared", token))[0] == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("kind", sorted(forged_tokens()))
async def test_forged_tokens_are_unauthenticated(channel: grpc.aio.Channel, kind: str) -> None:
    code, _ = await _call(channel, "Read", forged_tokens()[kind])
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_no_token_is_unauthenticated_except_on_public_methods(
    channel: grpc.aio.Channel,
) -> None:
    assert (await _call(channel, "Read", None))[0] == grpc.StatusCode.UNAUTHENTICATED
    assert (await _call(channel, "Public", None))[0] == grpc.StatusCode.OK


def test_permission_maps_must_name_catalogued_permissions() -> None:
    with pytest.raises(ValueError, match=r"customers\.fly"):
        full_method_names(SERVICE, {"Read": "customers.fly"})


def test_acting_as_makes_a_caller_current_for_the_block_only() -> None:
    caller = Caller(
        tenant_id="t-1",
        subject="apiKeys/k-1",
        permissions=frozenset({"messages.ingest"}),
        data_scope=DataScope.ALL,
        department_id="",
        visible_departments=frozenset(),
        token="tok",
    )
    with pytest.raises(Unauthenticated):
        require_caller()
    with acting_as(caller):
        assert require_caller() is caller
        assert current_principal() == "t-1/apiKeys/k-1"
    with pytest.raises(Unauthenticated):
        require_caller()
