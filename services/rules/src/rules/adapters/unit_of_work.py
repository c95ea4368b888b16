"""The rules unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import ClassVar, Self

from google.protobuf.message import Message

from crosstalk_common.bus.causation import Causation
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
