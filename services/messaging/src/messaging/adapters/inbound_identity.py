"""Who a public inbound delivery acts as: the channel's API key, exchanged with identity
(ExchangeApiKey, itself public) for an access token, which messaging verifies like any
caller's and forwards to customers and translation. Tokens are kept per key until a
minute before they expire."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from crosstalk.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from crosstalk_common.api.timestamps import from_timestamp
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.errors import PermissionDenied, Unauthenticated, Unavailable
from crosstalk_common.grpc.auth import acting_as
from crosstalk_common.grpc.channels import open_channel
from messaging.adapters.token_cache import ExpiringTokens, verified_caller

EXCHANGE_DEADLINE_SECONDS = 3.0
INGEST_PERMISSION = "messages.ingest"


class ApiKeyIdentity:
    def __init__(self, identity_address: str, verifier: TokenVerifier) -> None:
        self._channel = open_channel(identity_address)
        self._stub = identity_service_pb2_grpc.IdentityServiceStub(self._channel)
        self._verifier = verifier
        # Keyed by sha256(key): the key itself is not kept.
        self._tokens = ExpiringTokens()

    async def _exchange(self, api_key: str) -> tuple[str, float]:
        try:
            reply = await self._stub.ExchangeApiKey(
                identity_service_pb2.ExchangeApiKeyRequest(secret=api_key),
                timeout=EXCHANGE_DEADLINE_SECONDS,
            )
        except grpc.aio.AioRpcError as err:
            if err.code() in (
                grpc.StatusCode.UNAUTHENTICATED,
                grpc.StatusCode.PERMISSION_DENIED,
                grpc.StatusCode.INVALID_ARGUMENT,
                grpc.StatusCode.NOT_FOUND,
            ):
                raise Unauthenticated(
                    "the channel's ingest API key was refused by identity; set a valid "
                    "secrets.ingest_api_key"
                ) from None
            raise Unavailable(f"identity could not exchange the API key: {err.details()}") from None
        expires = from_timestamp(reply.access_token_expire_time).timestamp()
        return str(reply.access_token), expires

    @asynccontextmanager
    async def acting_as(self, tenant_id: str, api_key: str) -> AsyncIterator[None]:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        token = await self._tokens.get(digest, lambda: self._exchange(api_key))
        caller = await verified_caller(self._verifier, token, tenant_id)
        if not caller.can(INGEST_PERMISSION):
            raise PermissionDenied(INGEST_PERMISSION)
        with acting_as(caller):
            yield

    async def close(self) -> None:
        await self._channel.close()
