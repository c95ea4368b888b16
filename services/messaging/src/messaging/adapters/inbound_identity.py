"""Who a public inbound delivery acts as: the channel's API key, exchanged with identity
(ExchangeApiKey, itself public) for an access token, which messaging verifies like any
caller's and forwards to customers and translation. Tokens are kept per key until a
minute before they expire."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from crosstalk.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from crosstalk_common.api.timestamps import from_timestamp
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.errors import PermissionDenied, Unauthenticated, Unavailable
from crosstalk_common.grpc.auth import Caller, acting_as
from crosstalk_common.grpc.channels import open_channel

EXCHANGE_DEADLINE_SECONDS = 3.0
_RENEW_BEFORE_SECONDS = 60.0
INGEST_PERMISSION = "messages.ingest"


class ApiKeyIdentity:
    def __init__(self, identity_address: str, verifier: TokenVerifier) -> None:
        self._channel = open_channel(identity_address)
        self._stub = identity_service_pb2_grpc.IdentityServiceStub(self._channel)
        self._verifier = verifier
        # sha256(key) -> (token, expires at, monotonic)
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    async def _token(self, api_key: str) -> str:
        digest = hashlib.sha256(api_key.encode()).hexdigest()
        known = self._tokens.get(digest)
        if known is not None and known[1] - _RENEW_BEFORE_SECONDS > time.time():
            return known[0]
        async with self._lock:
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
                raise Unavailable(
                    f"identity could not exchange the API key: {err.details()}"
                ) from None
            expires = from_timestamp(reply.access_token_expire_time).timestamp()
            self._tokens[digest] = (reply.access_token, expires)
            return str(reply.access_token)

    @asynccontextmanager
    async def acting_as(self, tenant_id: str, api_key: str) -> AsyncIterator[None]:
        token = await self._token(api_key)
        caller = Caller.from_claims(await self._verifier.verify(token), token)
        if caller.tenant_id != tenant_id:
            raise Unauthenticated("the channel's ingest API key belongs to another tenant")
        if not caller.can(INGEST_PERMISSION):
            raise PermissionDenied(INGEST_PERMISSION)
        with acting_as(caller):
            yield

    async def close(self) -> None:
        await self._channel.close()
