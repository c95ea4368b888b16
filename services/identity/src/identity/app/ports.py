"""What identity's use cases need from outside."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from google.protobuf.message import Message

from identity.domain.model import Member, Tenant


class EmailTaken(Exception):
    """A member with this email already exists."""


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...


class IdentityRepository(Protocol):
    async def add_tenant(self, tenant: Tenant) -> None: ...
    async def add_member(self, member: Member, password_hash: str) -> None: ...
    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...


class UnitOfWork(Protocol):
    @property
    def identity(self) -> IdentityRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def emit(self, tenant_id: str, payload: Message) -> str: ...
    async def commit(self) -> None: ...
