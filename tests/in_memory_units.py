"""Units of work for unit tests of use cases: repositories live in memory, across units.

A service's fake subclasses one and adds its in-memory repositories as
attributes; ``new_uow`` is the fake itself (calling it gives itself back).
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class InMemoryTransaction:
    """Counts the units opened and committed."""

    def __init__(self) -> None:
        self.opened = 0
        self.commits = 0

    def __call__(self) -> Self:
        return self

    async def __aenter__(self) -> Self:
        self.opened += 1
        self.rolled_back()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rolled_back()

    async def commit(self) -> None:
        self.commits += 1

    def rolled_back(self) -> None:
        """Forgets what was not committed (nothing, unless a subclass stages something)."""


class InMemoryUnitOfWork(InMemoryTransaction):
    """Keeps the events a unit emits once it commits, in order, as (tenant, payload);
    a payload is what the use case staged: a service's domain event (or a proto)."""

    def __init__(self) -> None:
        super().__init__()
        self.staged: list[tuple[str, object]] = []
        self.emitted: list[tuple[str, object]] = []

    async def emit(self, tenant_id: str, payload: object) -> str:
        self.staged.append((tenant_id, payload))
        return f"event-{len(self.emitted) + len(self.staged)}"

    async def commit(self) -> None:
        self.emitted.extend(self.staged)
        self.staged = []
        await super().commit()

    def rolled_back(self) -> None:
        self.staged = []
