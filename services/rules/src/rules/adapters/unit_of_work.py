"""The rules unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from google.protobuf.message import Message

from crosstalk_common.bus.causation import Causation
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from rules.adapters.mapping import event_pb
from rules.adapters.repository import SqlRulesRepository
from rules.domain.events import RulesEvent


class RulesUnitOfWork(SqlUnitOfWork):
    rules: SqlRulesRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.rules = SqlRulesRepository(self.session)
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
