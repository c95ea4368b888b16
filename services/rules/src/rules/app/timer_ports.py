"""What the time triggers need from storage (migration 0005): the durable timers,
and bulk reads of the projections and the evaluation log a poller's batch
needs (``ports.UnitOfWork.timers``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from rules.domain.model import Rule, Trigger
from rules.domain.runs import LoggedTrigger, Run
from rules.domain.timers import Timer


class TimerRepository(Protocol):
    async def arm(self, timers: Sequence[Timer]) -> int:
        """Insert the timers; a key already there keeps its row (and due time).
        How many were new."""
        ...

    async def cancel(
        self, tenant_id: str, subject: str, triggers: Collection[Trigger], at: datetime
    ) -> int:
        """Pending timers of the subject with these triggers become cancelled."""
        ...

    async def claim_due(self, now: datetime, limit: int) -> list[Timer]:
        """Pending timers due at ``now``, earliest first, claimed for this
        transaction: other pollers skip them until it ends (PostgreSQL: locked,
        SKIP LOCKED; SQLite: pending -> firing by a conditional UPDATE)."""
        ...

    async def settle(
        self,
        *,
        fired: Collection[str],
        cancelled: Collection[str],
        advanced: Mapping[str, str],
        at: datetime,
    ) -> None:
        """End claimed timers (by id): fired, cancelled, or pending again with a
        new cursor (a schedule's occurrence not finished)."""
        ...

    async def schedule_rules(self) -> list[Rule]:
        """Every tenant's enabled SCHEDULE rules."""
        ...

    async def tenant_zones(self, tenant_ids: Collection[str]) -> dict[str, str]:
        """The tenants' time zones (rule settings), where set."""
        ...

    async def customers(
        self, tenant_id: str, names: Collection[str]
    ) -> dict[str, Mapping[str, Any]]:
        """The projected facts of these customers (those known)."""
        ...

    async def conversations(
        self, tenant_id: str, names: Collection[str]
    ) -> dict[str, Mapping[str, Any]]:
        """The projected facts of these conversations (those known)."""
        ...

    async def customers_after(
        self, tenant_id: str, after: str, limit: int
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """The tenant's projected customers by name after ``after``, and their facts."""
        ...

    async def add_runs(self, runs: Sequence[Run]) -> None:
        """Store a batch's runs as ``RunsRepository.add_many`` does, in one
        statement executed for many rows (compiled once)."""
        ...

    async def log_many(self, entries: Sequence[LoggedTrigger]) -> None:
        """Append to the evaluation log in one statement (an id seen is kept)."""
        ...
