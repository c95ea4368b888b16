"""Who is calling: the tenant and member a request acts for.

The gateway forwards them as metadata. Until the identity service verifies
tokens (its own issue), services trust these headers as sent: run them only
behind the gateway.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crosstalk_common.errors import Unauthenticated

TENANT_HEADER = "x-crosstalk-tenant-id"
MEMBER_HEADER = "x-crosstalk-member-id"


@dataclass(frozen=True)
class Caller:
    tenant_id: str
    member_id: str = ""

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Metadata to forward the caller to a peer service."""
        pairs = [(TENANT_HEADER, self.tenant_id)]
        if self.member_id:
            pairs.append((MEMBER_HEADER, self.member_id))
        return tuple(pairs)


def _metadata_value(metadata: Iterable[Any] | None, key: str) -> str:
    for item in metadata or ():
        k, v = item
        if k == key:
            return v if isinstance(v, str) else v.decode()
    return ""


def caller_from_metadata(metadata: Iterable[Any] | None) -> Caller:
    tenant = _metadata_value(metadata, TENANT_HEADER).strip()
    if not tenant:
        raise Unauthenticated(f"missing caller identity: send the {TENANT_HEADER} header")
    return Caller(tenant_id=tenant, member_id=_metadata_value(metadata, MEMBER_HEADER).strip())


def require_caller(context: Any) -> Caller:
    """The caller of the current RPC (grpc.aio.ServicerContext)."""
    return caller_from_metadata(context.invocation_metadata())
