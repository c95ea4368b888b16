"""What an access token says about its bearer.

Identity signs these claims (EdDSA, Ed25519) into a short-lived JWT; Envoy
and every service verify it. Permissions and the data scope travel in the
token, so authorising an RPC needs no call to identity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crosstalk_common.errors import Unauthenticated
from crosstalk_common.permissions import DataScope

ISSUER = "crosstalk-identity"
# Identity signs a service's own tokens (background work acting for one tenant: ADR 0026)
# under another issuer, which the gateway does not accept: they work between services only.
SERVICE_ISSUER = "crosstalk-identity-services"
SERVICE_SUBJECT_PREFIX = "services/"
AUDIENCE = "crosstalk-api"
ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class AccessClaims:
    # "members/{member}" for people, "apiKeys/{api_key}" for integrations,
    # "services/{service}" for a service's background work (signed as SERVICE_ISSUER).
    subject: str
    tenant_id: str
    permissions: frozenset[str]
    data_scope: DataScope
    # The member's department ("" when none) and, for the department scope,
    # every department whose records the bearer may see (its own and, when the
    # tenant says so, those below it).
    department_id: str
    visible_departments: frozenset[str]
    issued_at: int
    expires_at: int
    token_id: str
    # The session (refresh-token family) the token belongs to; "" for API keys.
    session_id: str = ""

    @property
    def member_id(self) -> str:
        return self.subject.removeprefix("members/") if self.subject.startswith("members/") else ""

    @property
    def issuer(self) -> str:
        """A service's subject is only ever signed as SERVICE_ISSUER, anyone else's as ISSUER."""
        return SERVICE_ISSUER if self.subject.startswith(SERVICE_SUBJECT_PREFIX) else ISSUER

    def to_payload(self) -> dict[str, Any]:
        return {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": self.subject,
            "tid": self.tenant_id,
            "perm": sorted(self.permissions),
            "scope": self.data_scope.value,
            "dept": self.department_id,
            "depts": sorted(self.visible_departments),
            "iat": self.issued_at,
            "exp": self.expires_at,
            "jti": self.token_id,
            "sid": self.session_id,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> AccessClaims:
        try:
            claims = cls(
                subject=str(payload["sub"]),
                tenant_id=str(payload["tid"]),
                permissions=frozenset(str(p) for p in payload["perm"]),
                data_scope=DataScope(payload["scope"]),
                department_id=str(payload.get("dept", "")),
                visible_departments=frozenset(str(d) for d in payload.get("depts", [])),
                issued_at=int(payload["iat"]),
                expires_at=int(payload["exp"]),
                token_id=str(payload["jti"]),
                session_id=str(payload.get("sid", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise Unauthenticated(f"the access token lacks a valid claim: {exc}") from exc
        if payload.get("iss") != claims.issuer:
            # A member's token signed as a service's, or the other way round.
            raise Unauthenticated("the access token's subject does not match its issuer")
        return claims
