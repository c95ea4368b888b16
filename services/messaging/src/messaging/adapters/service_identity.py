"""Messaging's own identity for work no caller started (a rule's reply rendered and
translated in the rule-actions consumer): a service token identity issues it for the
event's tenant (``IssueServiceToken``, ADR 0026), verified like any caller's and then
served as the caller, so peers (translation, customers) see ``services/messaging`` of
that tenant with messaging's fixed grants. Tokens are kept per tenant until a minute
before they expire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from crosstalk.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from crosstalk_common.api.timestamps import from_timestamp
from crosstalk_common.auth.service_credentials import service_secret_from_env
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.errors import Unavailable
from crosstalk_common.grpc.auth import acting_as
from crosstalk_common.grpc.channels import open_channel
from messaging.adapters.token_cache import ExpiringTokens, verified_caller

SERVICE = "messaging"
# Shared with identity, which checks it (crosstalk_common.auth.service_credentials).
SECRET_VARIABLE = "MESSAGING_SERVICE_SECRET"  # noqa: S105 (a variable name)
ISSUE_DEADLINE_SECONDS = 3.0


class ServiceIdentity:
    def __init__(self, identity_address: str, verifier: TokenVerifier, secret: str) -> None:
        self._channel = open_channel(identity_address)
        self._stub = identity_service_pb2_grpc.IdentityServiceStub(self._channel)
        self._verifier = verifier
        self._secret = secret
        self._tokens = ExpiringTokens()

    @classmethod
    def from_env(cls, identity_address: str, verifier: TokenVerifier) -> ServiceIdentity:
        return cls(identity_address, verifier, service_secret_from_env(SERVICE))

    async def _issue(self, tenant_id: str) -> tuple[str, float]:
        try:
            reply = await self._stub.IssueServiceToken(
                identity_service_pb2.IssueServiceTokenRequest(
                    service=SERVICE, tenant=f"tenants/{tenant_id}", secret=self._secret
                ),
                timeout=ISSUE_DEADLINE_SECONDS,
            )
        except grpc.aio.AioRpcError as err:
            # Refused (a wrong SECRET_VARIABLE) or down: the event is retried either way.
            raise Unavailable(
                f"identity issued no service token to messaging ({err.code().name}: "
                f"{err.details()}); check {SECRET_VARIABLE} if it was refused"
            ) from None
        expires = from_timestamp(reply.access_token_expire_time).timestamp()
        return str(reply.access_token), expires

    @asynccontextmanager
    async def acting_for(self, tenant_id: str) -> AsyncIterator[None]:
        """Serve the block as messaging for ``tenant_id`` (peers get the service token)."""
        token = await self._tokens.get(tenant_id, lambda: self._issue(tenant_id))
        caller = await verified_caller(self._verifier, token, tenant_id)
        with acting_as(caller):
            yield

    async def close(self) -> None:
        await self._channel.close()
