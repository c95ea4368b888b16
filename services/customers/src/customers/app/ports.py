"""What the use cases need from the outside world."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from google.protobuf.message import Message

from crosstalk_common.conditions.model import Node
from crosstalk_common.visibility import Visibility
from customers.domain.model import ChannelIdentity, Customer


class IdentityTaken(Exception):
    """A channel identity is already owned by a customer (a uniqueness violation)."""


class CustomerRepository(Protocol):
    async def add(self, customer: Customer) -> None: ...
    async def get(
        self, tenant_id: str, customer_id: str, visibility: Visibility = ...
    ) -> Customer | None: ...
    async def find_by_identity(
        self, tenant_id: str, identity: ChannelIdentity
    ) -> Customer | None: ...
    async def identities_taken(
        self, tenant_id: str, identities: tuple[ChannelIdentity, ...], *, except_id: str = ""
    ) -> list[ChannelIdentity]: ...
    async def save(self, customer: Customer, *, expected_version: int) -> bool: ...
    async def delete(self, tenant_id: str, customer_id: str, visibility: Visibility) -> bool: ...
    async def add_tags(
        self, tenant_id: str, customer_id: str, tags: frozenset[str]
    ) -> frozenset[str]: ...
    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        *,
        condition: Node | None,
        after: list[str],
        limit: int,
    ) -> list[Customer]: ...


class UnitOfWork(Protocol):
    @property
    def customers(self) -> CustomerRepository: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    async def emit(self, tenant_id: str, payload: Message) -> str: ...
    async def commit(self) -> None: ...
