"""The translation unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from google.protobuf.message import Message

from crosstalk_common.bus.causation import Causation
from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from translation.adapters.mapping import event_pb
from translation.adapters.repository import (
    SqlGlossaryRepository,
    SqlIntentRepository,
    SqlMemoryRepository,
    SqlPresetRepository,
)
from translation.domain.events import TranslationEvent


class TranslationUnitOfWork(SqlUnitOfWork):
    glossary: SqlGlossaryRepository
    presets: SqlPresetRepository
    intents: SqlIntentRepository
    memory: SqlMemoryRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.glossary = SqlGlossaryRepository(self.session)
        self.presets = SqlPresetRepository(self.session)
        self.intents = SqlIntentRepository(self.session)
        self.memory = SqlMemoryRepository(self.session)
        return self

    async def emit(
        self,
        tenant_id: str,
        payload: Message | TranslationEvent,
        *,
        causation: Causation | None = None,
    ) -> str:
        """Stage an event; a TranslationEvent is staged as its proto."""
        return await super().emit(tenant_id, event_pb(payload), causation=causation)
