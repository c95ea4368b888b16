"""What the engine's use cases need from storage (migration 0004): runs,
projections of customers and conversations, the evaluation log, the hourly
counters and the tenant's rule settings. ``ports.UnitOfWork`` carries one of
each (``runs``, ``projections``, ``evaluation_log``, ``statistics``,
``settings``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from crosstalk_common.visibility import Visibility
from rules.domain.model import Trigger
from rules.domain.run_tallies import RunTally
from rules.domain.runs import Counter, HourCounts, LoggedTrigger, Run, RunFilter
from rules.domain.settings import RuleSettings


class RunsRepository(Protocol):
    async def add_many(self, runs: Sequence[Run]) -> None: ...
    async def preload(self, tenant_id: str, run_ids: Sequence[str]) -> None:
        """Read these runs at once (a consumer batch's action outcomes): ``get``
        answers them without a read each."""
        ...

    async def get(self, tenant_id: str, run_id: str) -> Run | None: ...
    async def save_actions(self, run: Run) -> None:
        """Store the run's action results (after an outcome came back)."""
        ...

    async def get_visible(self, tenant_id: str, run_id: str, visibility: Visibility) -> Run | None:
        """The run when its customer is in the caller's data scope."""
        ...

    async def page(
        self,
        tenant_id: str,
        where: RunFilter,
        *,
        visibility: Visibility,
        after: list[str],
        limit: int,
    ) -> list[Run]:
        """Newest first (created, then id); ``after`` is the last keys seen; only
        runs about customers in ``visibility``."""
        ...

    async def tallies(
        self,
        tenant_id: str,
        rule_id: str,
        start: datetime,
        end: datetime,
        *,
        visibility: Visibility,
    ) -> list[RunTally]:
        """What each run in [start, end) of one rule ("" for every rule) about a
        customer in ``visibility`` adds to the counters."""
        ...

    async def last_fired(
        self, tenant_id: str, rule_ids: Sequence[str], customer: str
    ) -> dict[str, datetime]:
        """When each rule last fired (MATCHED) for the customer, for cooldowns."""
        ...


class ProjectionsRepository(Protocol):
    async def preload(
        self, tenant_id: str, customers: Sequence[str], conversations: Sequence[str]
    ) -> None:
        """Read these customers' and conversations' projections at once (a
        consumer batch's): ``customer``, ``conversation`` and ``merge_conversation``
        then answer from them, without a read each."""
        ...

    async def customer(self, tenant_id: str, customer: str) -> Mapping[str, Any] | None:
        """The customer's facts as last projected (JSON-safe), None if unknown."""
        ...

    async def save_customer(
        self, tenant_id: str, customer: str, version: int, facts: Mapping[str, Any]
    ) -> bool:
        """Keep the snapshot if its version is newer than the one kept; whether it was."""
        ...

    async def customer_visible(self, tenant_id: str, customer: str, visibility: Visibility) -> bool:
        """Whether the customer is projected and in the caller's data scope."""
        ...

    async def conversation_visible(
        self, tenant_id: str, conversation: str, visibility: Visibility
    ) -> bool:
        """Whether the conversation's customer is in scope (True when rules keeps
        nothing of the conversation)."""
        ...

    async def conversation(self, tenant_id: str, conversation: str) -> Mapping[str, Any] | None: ...

    async def merge_conversation(
        self,
        tenant_id: str,
        conversation: str,
        customer: str,
        facts: Mapping[str, Any],
        at: datetime,
    ) -> Mapping[str, Any]:
        """Merge ``facts`` into the conversation's (unless an event newer than
        ``at`` was applied already); the conversation's facts after it."""
        ...


class EvaluationLog(Protocol):
    async def append(self, entry: LoggedTrigger) -> None: ...
    async def between(
        self,
        tenant_id: str,
        start: datetime,
        end: datetime,
        *,
        visibility: Visibility,
        triggers: Sequence[Trigger] = (),
        limit: int = 100_000,
    ) -> list[LoggedTrigger]:
        """Oldest first; only these triggers when given; only customers in
        ``visibility``."""
        ...

    async def purge(self, tenant_id: str, before: datetime) -> int: ...
    async def tenants(self) -> list[str]:
        """The tenants with entries in the log."""
        ...


class StatisticsRepository(Protocol):
    async def add(
        self, tenant_id: str, hour: datetime, increments: Mapping[str, Mapping[Counter, int]]
    ) -> None:
        """Add to each rule's counters of the hour (rule id -> counter -> amount)."""
        ...

    async def hours(
        self, tenant_id: str, rule_id: str, start: datetime, end: datetime
    ) -> list[HourCounts]:
        """The hours in [start, end) of one rule ("" for every rule)."""
        ...


class SettingsRepository(Protocol):
    async def get(self, tenant_id: str) -> RuleSettings | None: ...
    async def save(self, settings: RuleSettings) -> None: ...
