"""Messaging use cases."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from messaging.app.conversation_ports import ConversationUnitOfWork
from messaging.app.ports import CustomerDirectory, DuplicateMessage
from messaging.app.settings import InboundTextLimit
from messaging.app.understanding import TextUnderstanding
from messaging.domain.conversation import Conversation
from messaging.domain.events import ConversationOpened, ConversationStatusChanged, MessageReceived
from messaging.domain.model import Direction, Inbound, Message, Understanding


@dataclass(frozen=True)
class MessagingService:
    new_uow: UnitOfWorkFactory[ConversationUnitOfWork]
    customers: CustomerDirectory
    understanding: TextUnderstanding
    # The tenant's max_inbound_text_bytes (messaging settings); None: only the domain's bound.
    text_limit: InboundTextLimit | None = None

    async def ingest(self, tenant_id: str, inbound: Inbound) -> Message:
        """Store an inbound message and announce it (message.received), atomically.

        Re-ingesting the same channel message id returns the stored message.
        """
        inbound = inbound.normalized()
        inbound.validate(utc_now())
        if self.text_limit is not None:
            await self.text_limit.check(tenant_id, inbound.text)
        if inbound.external_id:
            async with self.new_uow() as uow:
                known = await uow.messages.find_by_external_id(
                    tenant_id, inbound.sender, inbound.external_id
                )
            if known is not None:
                return known
        # The two peer calls are independent: the text is analysed while customers
        # resolves the sender (understanding never fails; a failed resolve cancels it).
        understanding = asyncio.ensure_future(self._understand(tenant_id, inbound.text))
        try:
            customer = await self.customers.resolve(
                tenant_id, inbound.sender, inbound.sender_display_name
            )
        except BaseException:
            understanding.cancel()
            raise
        understood = await understanding
        now = utc_now()
        opening = Conversation.opened(
            str(uuid.uuid4()),
            tenant_id,
            customer,
            inbound.sender,
            inbound.channel_config,
            inbound.subject,
            now,
        )
        # A new conversation is stored with this message counted (one statement); a
        # known one goes through the status machine below and is saved.
        first, first_change = opening.record_inbound(now, understood.language)
        async with self.new_uow() as uow:
            # The identity's conversation (core_loop §6): one per channel identity, its row
            # locked until commit; a CLOSED one reopens through the status machine below.
            conversation, opened = await uow.conversations.join_or_insert(first)
            message = Message(
                id=str(uuid.uuid4()),
                tenant_id=tenant_id,
                conversation_id=conversation.id,
                customer=customer,
                sender=inbound.sender,
                direction=Direction.INBOUND,
                text=inbound.text,
                language=understood.language,
                external_id=inbound.external_id,
                created_at=now,
                understanding=understood,
                attachments=inbound.attachments,
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
            await uow.conversations.add_attachments(message)
            if opened:
                change = first_change
                await uow.record(ConversationOpened(message, conversation.channel_config))
            else:
                conversation, change = conversation.record_inbound(now, understood.language)
                conversation = await uow.conversations.save(conversation)
            if change is not None:
                await uow.record(ConversationStatusChanged(conversation, change))
            await uow.record(
                MessageReceived(message, conversation, await _label_names(uow, conversation))
            )
            await uow.commit()
        return message

    async def _understand(self, tenant_id: str, text: str) -> Understanding:
        if not text.strip():
            return Understanding()
        return await self.understanding.understand(tenant_id, text)


async def _label_names(uow: ConversationUnitOfWork, conversation: Conversation) -> tuple[str, ...]:
    """The display names of the conversation's labels, in its order (none: no read)."""
    if not conversation.labels:
        return ()
    labels = await uow.conversation_labels.by_ids(conversation.tenant_id, conversation.labels)
    names = {label.id: label.display_name for label in labels}
    return tuple(names.get(label_id, "") for label_id in conversation.labels)
