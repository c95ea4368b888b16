"""What every use case shares: who acts, the clock, resource names, audit entries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crosstalk_common.errors import InvalidArgument, PermissionDenied
from identity.domain.model import AuditEntry

Clock = Callable[[], datetime]
SYSTEM = "system"


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for sessions and the audit log."""

    ip_address: str = ""
    user_agent: str = ""
    trace_id: str = ""


NO_ORIGIN = Origin()


@dataclass(frozen=True)
class Actor:
    """The verified caller of an action."""

    tenant_id: str
    # "members/{member}", "apiKeys/{api_key}" or "system".
    subject: str
    permissions: frozenset[str]
    session_id: str = ""
    origin: Origin = NO_ORIGIN

    @property
    def member_id(self) -> str:
        return self.subject.removeprefix("members/") if self.subject.startswith("members/") else ""

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise PermissionDenied(permission)

    def require_grantable(self, permissions: frozenset[str], what: str) -> None:
        """Nobody hands out permissions they do not hold themselves."""
        missing = sorted(permissions - self.permissions)
        if missing:
            raise PermissionDenied(
                missing[0],
                f"you cannot grant {what}: it holds permissions you lack ({', '.join(missing)})",
                reason="PRIVILEGE_ESCALATION",
            )


def check_request_id(request_id: str) -> None:
    if not request_id:
        return
    try:
        uuid.UUID(request_id, version=4)
    except ValueError:
        raise InvalidArgument.field(
            "request_id", "must be a UUID such as '3f0c8a8e-6b1d-4c39-9d6e-0f5f1b2a7c44'"
        ) from None


def new_id() -> str:
    return str(uuid.uuid4())


def audit_entry(
    actor: Actor,
    now: datetime,
    action: str,
    target: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry(
        id=new_id(),
        tenant_id=actor.tenant_id,
        actor=actor.subject,
        event_time=now,
        action=action,
        target=target,
        before=before,
        after=after,
        ip_address=actor.origin.ip_address,
        trace_id=actor.origin.trace_id,
    )
