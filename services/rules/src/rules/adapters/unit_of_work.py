"""The rules unit of work over SQLAlchemy."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Self

from google.protobuf.message import Message
from opentelemetry import propagate

from crosstalk_common.bus.causation import Causation, current_causation
from crosstalk_common.bus.envelope import EnvelopeWriter
from crosstalk_common.clock import utc_now
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from crosstalk_common.secrets import Keyring
from rules.adapters.engine_repository import (
    SqlEvaluationLog,
    SqlProjections,
    SqlRunsRepository,
    SqlSettings,
    SqlStatistics,
)
from rules.adapters.mapping import event_pb
from rules.adapters.repository import SqlRulesRepository
from rules.adapters.revisions import RuleRevisions
from rules.adapters.rule_versions import SqlRuleVersions
from rules.adapters.timer_repository import SqlTimers
from rules.domain.events import RulesEvent


class RulesUnitOfWork(SqlUnitOfWork):
    rules: SqlRulesRepository
    rule_versions: SqlRuleVersions
    # The engine's (adapters/engine_repository.py).
    runs: SqlRunsRepository
    projections: SqlProjections
    evaluation_log: SqlEvaluationLog
    statistics: SqlStatistics
    settings: SqlSettings
    # Durable timers (adapters/timer_repository.py).
    timers: SqlTimers
    # emit_with_id's trace context, and envelope writer of the run being emitted.
    _carrier: dict[str, str] | None = None
    _writers: (
        dict[tuple[str, Causation | None], tuple[EnvelopeWriter, dict[str, str], datetime]] | None
    ) = None
    # Seals the tenant's webhook secret; set by ``with_keyring`` (bootstrap).
    keyring: ClassVar[Keyring | None] = None

    @classmethod
    def with_keyring(cls, keyring: Keyring | None) -> type[RulesUnitOfWork]:
        """This unit of work, sealing and opening secrets with ``keyring``."""
        return type("RulesUnitOfWorkWithKeyring", (cls,), {"keyring": keyring})

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._carrier, self._writers = None, None
        revisions = RuleRevisions(self.session)
        self.rules = SqlRulesRepository(self.session, revisions)
        self.rule_versions = SqlRuleVersions(self.session, revisions)
        self.runs = SqlRunsRepository(self.session)
        self.projections = SqlProjections(self.session)
        self.evaluation_log = SqlEvaluationLog(self.session)
        self.statistics = SqlStatistics(self.session)
        self.settings = SqlSettings(self.session, self.keyring, revisions)
        self.timers = SqlTimers(self.session)
        return self

    async def commit(self) -> None:
        """The log entries and counters kept until now are written first."""
        await self.evaluation_log.flush()
        await self.statistics.flush()
        await self.runs.flush()
        await super().commit()

    async def emit(
        self,
        tenant_id: str,
        payload: Message | RulesEvent,
        *,
        causation: Causation | None = None,
    ) -> str:
        """Stage an event; a RulesEvent is staged as its proto."""
        return await super().emit(tenant_id, event_pb(payload), causation=causation)

    async def emit_with_id(
        self,
        tenant_id: str,
        payload: Message | RulesEvent,
        *,
        event_id: str,
        causation: Causation | None = None,
    ) -> str:
        """Stage an event whose id is given (derived from a timer's key): the
        outbox row's key and so its Nats-Msg-Id."""
        causation = causation if causation is not None else current_causation()
        # The events of one run (one causation) share their time, trace context
        # and envelope templates, as outbox_rows' do.
        key = (tenant_id, causation)
        kept = self._writers.get(key) if self._writers is not None else None
        if kept is None:
            # One trace context for the unit of work's events (the poller's batch).
            if self._carrier is None:
                self._carrier = {}
                propagate.inject(self._carrier)
            carrier = self._carrier
            now = utc_now()
            writer = EnvelopeWriter(
                tenant_id, occurred_at=now, trace_context=carrier, causation=causation
            )
            kept = (writer, carrier, now)
            self._writers = {key: kept}  # the previous run's are not needed again
        writer, carrier, now = kept
        event_type, envelope = writer.write(event_pb(payload), event_id)
        self._staged.append(
            {
                "id": event_id,
                "subject": event_type.subject,
                "payload": envelope,
                "headers": carrier,
                "created_at": now,
                "attempts": 0,
            }
        )
        return event_id
