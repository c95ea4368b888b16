"""Service tokens: short-lived access tokens for Crosstalk's own services, each for one
tenant, so background work (an event consumer) can call a peer that needs a caller
(ADR 0026).

The service proves itself with its secret (``<SERVICE>_SERVICE_SECRET``), compared in
constant time. The token holds the service's fixed grants (``SERVICE_GRANTS``) for the one
tenant asked for, is signed as ``SERVICE_ISSUER`` (which the gateway refuses), and is
never issued to a request that came through the gateway.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from crosstalk_common.auth.claims import AccessClaims
from crosstalk_common.errors import (
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from crosstalk_common.permissions import DataScope
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.app.context import Clock
from identity.app.ports import TokenSigner, UnitOfWork
from identity.domain.service_principals import SERVICE_GRANTS, service_subject

SERVICE_TOKEN_TTL = timedelta(minutes=10)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True)
class ServiceToken:
    access_token: str
    expires_at: datetime


@dataclass(frozen=True)
class ServiceTokens:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    signer: TokenSigner
    clock: Clock
    # service -> its secret (only services of SERVICE_GRANTS are ever looked up).
    secrets: Mapping[str, str] = field(repr=False, default_factory=dict)
    ttl: timedelta = SERVICE_TOKEN_TTL

    async def issue(
        self, service: str, secret: str, tenant_id: str, *, through_gateway: bool
    ) -> ServiceToken:
        problems = [
            FieldViolation(name, "must not be empty")
            for name, value in (("service", service), ("tenant", tenant_id), ("secret", secret))
            if not value
        ]
        if problems:
            raise InvalidArgument(problems)
        if through_gateway:
            raise PermissionDenied(
                "services",
                "service tokens are issued to Crosstalk's services inside the cluster only",
                reason="SERVICE_TOKEN_FROM_OUTSIDE",
            )
        known = self.secrets.get(service, "") if service in SERVICE_GRANTS else ""
        # Compared as digests, so neither the length nor the content leaks by timing.
        if not hmac.compare_digest(_digest(secret), _digest(known)) or not known:
            raise Unauthenticated(
                "the service credential is not valid", reason="INVALID_SERVICE_CREDENTIAL"
            )
        async with self.new_uow() as uow:
            tenant = await uow.tenants.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("crosstalk.io/Tenant", f"tenants/{tenant_id}")
        now = self.clock()
        issued = int(now.timestamp())
        expires = issued + int(self.ttl.total_seconds())
        claims = AccessClaims(
            subject=service_subject(service),
            tenant_id=tenant.id,
            permissions=SERVICE_GRANTS[service],
            data_scope=DataScope.ALL,
            department_id="",
            visible_departments=frozenset(),
            issued_at=issued,
            expires_at=expires,
            token_id=str(uuid.uuid4()),
        )
        token = await self.signer.sign(claims)
        return ServiceToken(token, datetime.fromtimestamp(expires, UTC))
