"""The messaging unit of work over SQLAlchemy."""

from __future__ import annotations

from typing import Self

from crosstalk_common.db.unit_of_work import SqlUnitOfWork
from messaging.adapters.case_repository import SqlCasesRepository
from messaging.adapters.mapping import event_to_pb
from messaging.adapters.repository import SqlMessagesRepository
from messaging.domain.events import MessagingEvent


class MessagingUnitOfWork(SqlUnitOfWork):
    messages: SqlMessagesRepository
    cases: SqlCasesRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.messages = SqlMessagesRepository(self.session)
        self.cases = SqlCasesRepository(self.session)
        return self

    async def record(self, event: MessagingEvent) -> None:
        tenant_id, payload = event_to_pb(event)
        await self.emit(tenant_id, payload)
