"""What the after-sales case use cases need from outside."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from crosstalk_common import unit_of_work
from crosstalk_common.visibility import Visibility
from messaging.app.conversation_ports import MembersRepository
from messaging.domain.cases import Case, CaseState, CaseType
from messaging.domain.events import MessagingEvent


class DuplicateCaseRequest(Exception):
    """A case with the same request id was stored concurrently."""


@dataclass(frozen=True)
class CaseFilter:
    """ListCases' filters; empty means any."""

    type: CaseType | None = None
    states: frozenset[CaseState] = frozenset()
    customer: str = ""  # "customers/{id}"
    assignee: str = ""  # member id


class CasesRepository(Protocol):
    async def get(self, tenant_id: str, visibility: Visibility, case_id: str) -> Case | None:
        """The case when it exists and its customer is in the caller's data scope."""
        ...

    async def find_by_request(self, tenant_id: str, request_id: str) -> Case | None: ...

    async def add(self, case: Case) -> None:
        """Raises DuplicateCaseRequest when its request id is taken."""
        ...

    async def save(self, case: Case, *, expected_version: int) -> bool:
        """Writes the case (and any new transitions) if it is still at
        ``expected_version``; False when someone changed it meanwhile."""
        ...

    async def delete(self, tenant_id: str, case_id: str) -> None: ...

    async def page(
        self,
        tenant_id: str,
        visibility: Visibility,
        filters: CaseFilter,
        *,
        after: Sequence[str],
        limit: int,
    ) -> list[Case]:
        """Newest first, keyed by (created_at, id)."""
        ...

    async def conversation_customer(self, tenant_id: str, conversation_id: str) -> str | None:
        """The customer of a conversation of the tenant; None when there is none."""
        ...

    async def customer_visible(self, tenant_id: str, visibility: Visibility, customer: str) -> bool:
        """Whether the caller's data scope holds the customer."""
        ...


class CasesUnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def cases(self) -> CasesRepository: ...

    @property
    def members(self) -> MembersRepository: ...

    async def record(self, event: MessagingEvent) -> None:
        """Stage an event; commit() writes it in the same transaction as the rows."""
        ...
