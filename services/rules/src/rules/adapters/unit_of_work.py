"""The rules unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import ClassVar, Self

from google.protobuf.message import Message

from crosstalk.events.v1 import envelope_pb2
from crosstalk_common.bus.causation import Causation
from crosstalk_common.db.outbox import outbox_row
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
    # Seals the tenant's webhook secret; set by ``with_keyring`` (bootstrap).
    keyring: ClassVar[Keyring | None] = None

    @classmethod
    def with_keyring(cls, keyring: Keyring | None) -> type[RulesUnitOfWork]:
        """This unit of work, sealing and opening secrets with ``keyring``."""
        return type("RulesUnitOfWorkWithKeyring", (cls,), {"keyring": keyring})

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.rules = SqlRulesRepository(self.session)
        self.rule_versions = SqlRuleVersions(self.session)
        self.runs = SqlRunsRepository(self.session)
        self.projections = SqlProjections(self.session)
        self.evaluation_log = SqlEvaluationLog(self.session)
        self.statistics = SqlStatistics(self.session)
        self.settings = SqlSettings(self.session, self.keyring)
        self.timers = SqlTimers(self.session)
        return self

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
        row = outbox_row(tenant_id, event_pb(payload), causation)
        envelope = envelope_pb2.EventEnvelope.FromString(row["payload"])
        envelope.event_id = event_id
        row["id"], row["payload"] = event_id, envelope.SerializeToString()
        self._staged.append(row)
        return event_id
