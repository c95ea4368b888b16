"""What the rules use cases need from outside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crosstalk_common import unit_of_work
from crosstalk_common.bus.causation import Causation
from crosstalk_common.conditions.model import Node
from rules.app.engine_ports import (
    EvaluationLog,
    ProjectionsRepository,
    RunsRepository,
    SettingsRepository,
    StatisticsRepository,
)
from rules.app.timer_ports import TimerRepository
from rules.domain.events import RulesEvent
from rules.domain.model import Rule, Trigger
from rules.domain.versions import RuleVersion


@dataclass(frozen=True)
class RunRecord:
    id: str
    tenant_id: str
    rule_id: str
    rule_version: int
    trigger_event_id: str
    customer: str
    explanation: tuple[str, ...]
    created_at: datetime


class RulesRepository(Protocol):
    async def add(self, rule: Rule) -> None: ...
    async def get(self, tenant_id: str, rule_id: str) -> Rule | None: ...
    async def page(self, tenant_id: str, *, after: list[str], limit: int) -> list[Rule]: ...
    async def enabled_for(self, tenant_id: str, trigger: Trigger) -> list[Rule]: ...
    async def revision(self, tenant_id: str) -> int:
        """The revision of the tenant's rules (0 before any change): every write of a
        rule moves it in the same transaction, so an equal revision means equal rules."""
        ...

    async def last_fired(self, tenant_id: str, rule_id: str, customer: str) -> datetime | None: ...
    async def add_run(self, run: RunRecord) -> None: ...


@dataclass(frozen=True)
class RuleFilter:
    """ListRules' filters; ``None`` / empty means any."""

    trigger: Trigger | None = None
    enabled: bool | None = None
    query: str = ""  # in the display name or description, any case
    tag: str = ""  # a tag label of an add_tag / remove_tag action, any case


class RuleVersions(Protocol):
    """Rule management's writes and reads (migration 0003): every write of a rule
    records its version and bumps the tenant's rule revision."""

    async def record(self, rule: Rule, *, author: str) -> None:
        """Keep ``rule`` as its version (after ``RulesRepository.add``)."""
        ...

    async def save(self, rule: Rule, *, expected_version: int, author: str) -> bool:
        """Replace the rule if it is still at ``expected_version`` (else False)."""
        ...

    async def delete(self, tenant_id: str, rule_id: str, *, expected_version: int) -> bool: ...
    async def versions(
        self, tenant_id: str, rule_id: str, *, before: int | None, limit: int
    ) -> list[RuleVersion]:
        """Newest first; ``before``: only versions below it (the next page)."""
        ...

    async def version(self, tenant_id: str, rule_id: str, version: int) -> RuleVersion | None: ...
    async def listed(
        self, tenant_id: str, where: RuleFilter, *, after: list[str], limit: int
    ) -> list[Rule]:
        """By priority, then creation, then id; ``after`` is the last keys seen."""
        ...

    async def all_enabled(self, tenant_id: str) -> list[Rule]: ...
    async def claim_request(self, tenant_id: str, rule_id: str, request_id: str) -> bool:
        """Mark the rule as made by CreateRule's ``request_id``; False when another
        rule of the tenant holds it already (nothing changed)."""
        ...

    async def by_request(self, tenant_id: str, request_id: str) -> Rule | None: ...
    async def note_action_outcome(self, tenant_id: str, rule_id: str, *, failed: bool) -> int:
        """Count a failed action outcome of the rule (a success resets the count);
        the failures in a row now (0 when the rule is gone)."""
        ...


class ConditionReader(Protocol):
    """A stored or sent condition (serialized ``Condition``) checked against the
    trigger's facts: INVALID_ARGUMENT on ``field_path`` when it does not fit."""

    def __call__(
        self, blob: bytes, trigger: Trigger, *, field_path: str, max_conditions: int
    ) -> Node | None: ...


@dataclass(frozen=True)
class SegmentCondition:
    """A saved segment's condition over rules' facts, and its version."""

    segment_id: str
    version: int
    condition: Node
    condition_blob: bytes


class SegmentDirectory(Protocol):
    """Customers' saved segments, asked as the caller of the current RPC."""

    async def condition(
        self, tenant_id: str, segment_id: str, *, field_path: str
    ) -> SegmentCondition:
        """NotFound when there is no such segment the caller sees; INVALID_ARGUMENT on
        ``field_path`` when its condition names a field rules cannot see."""
        ...


class TemplateDirectory(Protocol):
    """Messaging's reply templates, asked as the caller of the current RPC."""

    async def exists(self, tenant_id: str, template: str) -> bool:
        """Whether ``replyTemplates/{id}`` exists for the tenant."""
        ...


class UnitOfWork(unit_of_work.Transaction, Protocol):
    @property
    def rules(self) -> RulesRepository: ...

    @property
    def rule_versions(self) -> RuleVersions: ...

    # The engine's storage (app/engine_ports.py).
    @property
    def runs(self) -> RunsRepository: ...

    @property
    def projections(self) -> ProjectionsRepository: ...

    @property
    def evaluation_log(self) -> EvaluationLog: ...

    @property
    def statistics(self) -> StatisticsRepository: ...

    @property
    def settings(self) -> SettingsRepository: ...

    # Durable timers of the time triggers (app/timer_ports.py).
    @property
    def timers(self) -> TimerRepository: ...

    async def emit_with_id(
        self,
        tenant_id: str,
        event: RulesEvent,
        *,
        event_id: str,
        causation: Causation | None = None,
    ) -> str:
        """``emit`` with the event's id given (a timer's firing derives it from
        the timer's key: it is the outbox row's key and the Nats-Msg-Id)."""
        ...

    async def emit(
        self, tenant_id: str, event: RulesEvent, *, causation: Causation | None = None
    ) -> str:
        """Stage an event for the outbox (as its proto); written by ``commit``.
        ``causation``: the run it is an effect of and its depth (else the
        consumed event's, see ``crosstalk_common.bus.causation``)."""
        ...
