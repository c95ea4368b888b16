"""Messaging use cases."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from messaging.app.ports import CustomerDirectory, DuplicateMessage, UnitOfWork
from messaging.app.understanding import TextUnderstanding
from messaging.domain.events import ConversationOpened, MessageReceived
from messaging.domain.model import Direction, Inbound, Message


@dataclass(frozen=True)
class MessagingService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    customers: CustomerDirectory
    understanding: TextUnderstanding

    async def ingest(self, tenant_id: str, inbound: Inbound) -> Message:
        """Store an inbound message and announce it (message.received), atomically.

        Re-ingesting the same channel message id returns the stored message.
        """
        inbound = inbound.normalized()
        inbound.validate(utc_now())
        if inbound.external_id:
            async with self.new_uow() as uow:
                known = await uow.messages.find_by_external_id(
                    tenant_id, inbound.sender, inbound.external_id
                )
            if known is not None:
                return known
        customer = await self.customers.resolve(
            tenant_id, inbound.sender, inbound.sender_display_name
        )
        understood = await self.understanding.understand(tenant_id, inbound.text)
        now = utc_now()
        async with self.new_uow() as uow:
            conversation_id, opened = await uow.messages.open_conversation(
                tenant_id, customer, inbound.sender, now
            )
            message = Message(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                customer=customer,
                sender=inbound.sender,
                direction=Direction.INBOUND,
                text=inbound.text,
                language=understood.language,
                external_id=inbound.external_id,
                created_at=now,
                understanding=understood,
            )
            try:
                await uow.messages.add(message)
            except DuplicateMessage:
                stored = await uow.messages.find_by_external_id(
                    tenant_id, inbound.sender, inbound.external_id
                )
                if stored is None:
                    raise
                return stored
            if opened:
                await uow.record(ConversationOpened(message))
            await uow.record(MessageReceived(message))
            await uow.commit()
        return message
