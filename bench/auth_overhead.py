"""What authentication, permission and scope cost per RPC.

Two grpc.aio servers in one process, the same trivial handler: one with only
the error interceptor, one with the error interceptor and the AuthInterceptor
(EdDSA signature check, claims, permission lookup, caller with its data
scope). A client calls each sequentially; the difference of the medians is
the cost added per RPC. The verification step alone is also timed in-process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import empty_pb2

from bench.stats import percentile, summary_ms
from crosstalk_common.auth.claims import AccessClaims
from crosstalk_common.auth.tokens import sign_access_token, verify_access_token
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.grpc.auth import AuthInterceptor, full_method_names, require_caller
from crosstalk_common.grpc.errors import ErrorMappingInterceptor
from crosstalk_common.permissions import BUILT_IN_ROLES, DataScope

SERVICE = "bench.v1.Probe"
N = 5000
KEY = Ed25519PrivateKey.generate()


class Keys:
    async def public_keys(self) -> dict[str, Any]:
        return {"k": KEY.public_key()}


def _token() -> str:
    now = int(time.time())
    role = BUILT_IN_ROLES["senior"]
    claims = AccessClaims(
        subject="members/bench",
        tenant_id="tenant",
        permissions=role.permissions,
        data_scope=DataScope.DEPARTMENT,
        department_id="d1",
        visible_departments=frozenset({"d1", "d2"}),
        issued_at=now,
        expires_at=now + 3600,
        token_id=str(uuid.uuid4()),
    )
    return sign_access_token(claims, KEY, "k")


async def _server(with_auth: bool) -> tuple[grpc.aio.Server, int]:
    async def handle(request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
        if with_auth:
            require_caller(context).visibility  # noqa: B018 - what a handler reads
        return empty_pb2.Empty()

    interceptors: list[Any] = [ErrorMappingInterceptor("bench")]
    if with_auth:
        perms = full_method_names(SERVICE, {"Get": "customers.read"})
        interceptors.append(AuthInterceptor(TokenVerifier(Keys()), perms))
    server = grpc.aio.server(interceptors=interceptors)
    handler = grpc.unary_unary_rpc_method_handler(
        handle,
        request_deserializer=empty_pb2.Empty.FromString,
        response_serializer=empty_pb2.Empty.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(SERVICE, {"Get": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def _timed(port: int, token: str) -> list[float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        rpc = channel.unary_unary(
            f"/{SERVICE}/Get",
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        metadata = [("authorization", f"Bearer {token}")]
        for _ in range(500):
            await rpc(empty_pb2.Empty(), metadata=metadata, timeout=5)
        samples = []
        for _ in range(N):
            t0 = time.perf_counter()
            await rpc(empty_pb2.Empty(), metadata=metadata, timeout=5)
            samples.append(time.perf_counter() - t0)
        return samples


async def main() -> None:
    token = _token()
    plain, plain_port = await _server(False)
    guarded, guarded_port = await _server(True)
    rounds = [
        (await _timed(plain_port, token), await _timed(guarded_port, token)) for _ in range(2)
    ]
    await plain.stop(None)
    await guarded.stop(None)
    without = [s for pair in rounds for s in pair[0]]
    with_auth = [s for pair in rounds for s in pair[1]]
    keys = {"k": KEY.public_key()}
    verify = []
    for _ in range(N):
        t0 = time.perf_counter()
        verify_access_token(token, keys)
        verify.append(time.perf_counter() - t0)
    print("auth + permission + scope per RPC (grpc.aio, same process, sequential)")
    print(summary_ms("RPC without auth", without))
    print(summary_ms("RPC with AuthInterceptor", with_auth))
    added = percentile([s * 1000 for s in with_auth], 50) - percentile(
        [s * 1000 for s in without], 50
    )
    print(f"{'added per RPC (difference of p50s)':<44} {added:7.3f} ms  [target <= 0.2 ms]")
    print(summary_ms("token verification alone (EdDSA + claims)", verify))


if __name__ == "__main__":
    asyncio.run(main())
