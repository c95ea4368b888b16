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
AUDIENCE = "crosstalk-api"
ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class AccessClaims:
    # "members/{member}" for people, "apiKeys/{api_key}" for integrations.
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

    def to_payload(self) -> dict[str, Any]:
        return {
            "iss": ISSUER,
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
            return cls(
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
