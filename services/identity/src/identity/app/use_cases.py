"""Every identity use case, wired from the same ports (the servicer's entry point)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from identity.app.api_keys import ApiKeyService
from identity.app.audit import AuditService
from identity.app.auth import AuthService
from identity.app.context import Clock
from identity.app.importing import ImportService
from identity.app.members import MemberService
from identity.app.organisation import DepartmentService, GroupService
from identity.app.ports import (
    PasswordHasher,
    SheetReader,
    SigningKeyStore,
    TokenSigner,
    UnitOfWork,
)
from identity.app.roles import RoleService
from identity.app.service_tokens import ServiceTokens
from identity.app.tenants import TenantService
from identity.domain.lockout import DEFAULT_LOCKOUT, LockoutPolicy
from identity.domain.model import DEFAULT_LIFETIMES, TokenLifetimes

__all__ = ["IdentityApp", "UnitOfWork"]


@dataclass(frozen=True)
class IdentityApp:
    tenants: TenantService
    members: MemberService
    departments: DepartmentService
    groups: GroupService
    roles: RoleService
    auth: AuthService
    api_keys: ApiKeyService
    imports: ImportService
    audit: AuditService
    keys: SigningKeyStore
    service_tokens: ServiceTokens

    @classmethod
    def build(
        cls,
        new_uow: UnitOfWorkFactory[UnitOfWork],
        *,
        hasher: PasswordHasher,
        signer: TokenSigner,
        keys: SigningKeyStore,
        reader: SheetReader,
        clock: Clock = utc_now,
        lifetimes: TokenLifetimes = DEFAULT_LIFETIMES,
        lockout: LockoutPolicy = DEFAULT_LOCKOUT,
        service_secrets: Mapping[str, str] | None = None,
    ) -> IdentityApp:
        return cls(
            tenants=TenantService(new_uow, hasher, clock, lifetimes, lockout),
            members=MemberService(new_uow, hasher, clock),
            departments=DepartmentService(new_uow, clock),
            groups=GroupService(new_uow, clock),
            roles=RoleService(new_uow, clock),
            auth=AuthService(new_uow, hasher, signer, clock, lifetimes=lifetimes, lockout=lockout),
            api_keys=ApiKeyService(new_uow, clock),
            imports=ImportService(new_uow, reader, clock),
            audit=AuditService(new_uow),
            keys=keys,
            service_tokens=ServiceTokens(new_uow, signer, clock, dict(service_secrets or {})),
        )

    async def rotate_signing_key(self, *, activate_in_seconds: float = 0) -> str:
        """A new signing key takes over (at once by default, e.g. after a leak);
        the previous one stays published until its tokens have expired."""
        return await self.keys.rotate(activate_in_seconds=activate_in_seconds)
