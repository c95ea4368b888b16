"""Identity's public keys, asked over gRPC (IdentityService.GetJwks, public)."""

from __future__ import annotations

from collections.abc import Mapping

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crosstalk.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from crosstalk_common.auth.tokens import public_key_from_jwk
from crosstalk_common.errors import Unavailable
from crosstalk_common.grpc.channels import open_channel

JWKS_DEADLINE_SECONDS = 2.0


class IdentityJwks:
    def __init__(self, identity_address: str) -> None:
        self._channel = open_channel(identity_address)
        self._stub = identity_service_pb2_grpc.IdentityServiceStub(self._channel)

    async def public_keys(self) -> Mapping[str, Ed25519PublicKey]:
        try:
            jwks = await self._stub.GetJwks(
                identity_service_pb2.GetJwksRequest(), timeout=JWKS_DEADLINE_SECONDS
            )
        except grpc.aio.AioRpcError as err:
            raise Unavailable(f"identity's keys cannot be fetched: {err.code().name}") from err
        keys = {}
        for jwk in jwks.keys:
            fields = {"kty": jwk.kty, "crv": jwk.crv, "x": jwk.x, "kid": jwk.kid}
            try:
                keys[jwk.kid] = public_key_from_jwk(fields)
            except ValueError:
                continue  # a key type this verifier does not use
        return keys

    async def close(self) -> None:
        await self._channel.close()
