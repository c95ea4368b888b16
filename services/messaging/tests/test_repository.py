"""Conversations and messages in SQL, and the outbox written with them (both databases)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from crosstalk_common.domain.channel import Channel
from messaging.adapters.tables import conversations, messages
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.ports import DuplicateMessage
from messaging.domain.events import ConversationOpened, MessageReceived
from messaging.domain.model import Message, Sender

from .conftest import Sessions, outbox_events
from .fakes import AMAZON_SENDER, a_message

NewUow = Callable[[], MessagingUnitOfWork]
ANA = AMAZON_SENDER
AT = a_message("t", "c").created_at
CLOSED = "closed"


async def _open(
    uow: MessagingUnitOfWork, tenant: str, customer: str, sender: Sender, at: datetime
) -> tuple[str, bool]:
    """The identity's conversation (id, opened now)."""
    conversation, opened = await uow.conversations.join_or_open(
        tenant, customer, sender, "", "", at, None
    )
    return conversation.id, opened


async def test_a_stored_message_reads_back_as_it_was_written(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    async with new_uow() as uow:
        conversation_id, _ = await _open(uow, tenant, "customers/c-1", ANA, AT)
        written = a_message(tenant, conversation_id, external_id="ext-1")
        await uow.messages.add(written)
        await uow.commit()

    async with new_uow() as uow:
        found = await uow.messages.find_by_external_id(tenant, ANA, "ext-1")

    assert found == written
    assert found is not None
    assert found.created_at.tzinfo is not None
    async with sessions() as session:
        stored = {
            await session.scalar(select(table.c.channel).where(table.c.tenant_id == tenant))
            for table in (conversations, messages)
        }
    assert stored == {"amazon"}  # the channel's value, as rows held it when it was a str


async def test_a_channel_message_id_is_looked_up_per_tenant_channel_and_store(
    new_uow: NewUow, tenant: str
) -> None:
    async with new_uow() as uow:
        conversation_id, _ = await _open(uow, tenant, "customers/c-1", ANA, AT)
        await uow.messages.add(a_message(tenant, conversation_id, external_id="ext-1"))
        await uow.commit()

    async with new_uow() as uow:
        assert await uow.messages.find_by_external_id("other-tenant", ANA, "ext-1") is None
        other_store = Sender(ANA.channel, ANA.external_id, "amazon.fr")
        assert await uow.messages.find_by_external_id(tenant, other_store, "ext-1") is None
        other_channel = Sender(Channel.EMAIL, ANA.external_id, ANA.store)
        assert await uow.messages.find_by_external_id(tenant, other_channel, "ext-1") is None
        assert await uow.messages.find_by_external_id(tenant, ANA, "ext-2") is None


async def test_one_conversation_per_channel_identity(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    later = AT + timedelta(minutes=5)
    async with new_uow() as uow:
        first, opened = await _open(uow, tenant, "customers/c-1", ANA, AT)
        again, opened_again = await _open(uow, tenant, "customers/c-1", ANA, later)
        other_store = Sender(ANA.channel, ANA.external_id, "amazon.fr")
        elsewhere, opened_elsewhere = await _open(uow, tenant, "customers/c-1", other_store, AT)
        await uow.commit()

    assert (opened, opened_again, opened_elsewhere) == (True, False, True)
    assert again == first
    assert elsewhere != first
    async with new_uow() as uow:
        # Another customer name for the same identity (customers merged them): the same
        # conversation, now the surviving customer's.
        merged, opened_merged = await _open(uow, tenant, "customers/c-2", ANA, later)
        await uow.commit()
    assert (merged, opened_merged) == (first, False)
    async with sessions() as session:
        customer = await session.scalar(
            select(conversations.c.customer).where(conversations.c.id == first)
        )
    assert customer == "customers/c-2"


async def test_a_closed_conversation_is_joined_again_not_left_behind(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    async with new_uow() as uow:
        closed, _ = await _open(uow, tenant, "customers/c-1", ANA, AT)
        await uow.commit()
    async with sessions.begin() as session:
        await session.execute(
            update(conversations).where(conversations.c.id == closed).values(status=CLOSED)
        )

    async with new_uow() as uow:
        fresh, opened = await _open(uow, tenant, "customers/c-1", ANA, AT)
        await uow.commit()

    assert not opened
    assert fresh == closed


async def test_a_conversation_opened_concurrently_is_joined_not_opened_twice(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    later = AT + timedelta(minutes=5)

    async def second_message() -> tuple[str, bool]:
        async with new_uow() as uow:
            joined = await _open(uow, tenant, "customers/c-1", ANA, later)
            await uow.commit()
        return joined

    async with new_uow() as first:
        opened = await _open(first, tenant, "customers/c-1", ANA, AT)
        racing = asyncio.create_task(second_message())
        # It reaches the database while the first is open (PostgreSQL: its insert waits
        # for the first's; SQLite: its first write waits for the first's commit).
        await asyncio.sleep(0.2)
        assert not racing.done()
        await first.commit()

    assert opened[1] is True
    assert await racing == (opened[0], False)
    async with sessions() as session:
        rows = (
            await session.execute(
                select(conversations.c.id).where(conversations.c.tenant_id == tenant)
            )
        ).all()
    assert [r.id for r in rows] == [opened[0]]


async def test_a_channel_message_stored_concurrently_is_a_duplicate_and_reads_back(
    new_uow: NewUow, tenant: str
) -> None:
    async def second_copy() -> Message | None:
        async with new_uow() as uow:
            conversation_id, _ = await _open(uow, tenant, "customers/c-1", ANA, AT)
            with pytest.raises(DuplicateMessage):
                await uow.messages.add(a_message(tenant, conversation_id, external_id="ext-1"))
            return await uow.messages.find_by_external_id(tenant, ANA, "ext-1")

    async with new_uow() as first:
        conversation_id, _ = await _open(first, tenant, "customers/c-1", ANA, AT)
        stored = a_message(tenant, conversation_id, external_id="ext-1")
        await first.messages.add(stored)
        racing = asyncio.create_task(second_copy())
        await asyncio.sleep(0.2)
        assert not racing.done()
        await first.commit()

    assert await racing == stored


async def test_a_channel_message_id_is_stored_once_and_the_transaction_goes_on(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    async with new_uow() as uow:
        conversation_id, _ = await _open(uow, tenant, "customers/c-1", ANA, AT)
        await uow.messages.add(a_message(tenant, conversation_id, external_id="ext-1"))
        with pytest.raises(DuplicateMessage):
            await uow.messages.add(a_message(tenant, conversation_id, external_id="ext-1"))
        # Messages without a channel id may repeat; the failed insert did not spoil the rest.
        await uow.messages.add(a_message(tenant, conversation_id))
        await uow.messages.add(a_message(tenant, conversation_id))
        await uow.commit()

    async with sessions() as session:
        stored = await session.scalar(
            select(func.count()).select_from(messages).where(messages.c.tenant_id == tenant)
        )
    assert stored == 3


async def test_events_are_written_to_the_outbox_with_the_rows_on_commit(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    async with new_uow() as uow:
        conversation_id, _ = await _open(uow, tenant, "customers/c-1", ANA, AT)
        message = a_message(tenant, conversation_id, external_id="ext-1")
        await uow.messages.add(message)
        await uow.record(ConversationOpened(message))
        await uow.record(MessageReceived(message))
        assert await outbox_events(sessions, tenant) == []  # staged until commit
        await uow.commit()

    (created_type, created), (received_type, received) = await outbox_events(sessions, tenant)

    assert (created_type, received_type) == ("conversation.created", "message.received")
    assert created.conversation == f"conversations/{conversation_id}"  # type: ignore[attr-defined]
    assert received.message == (  # type: ignore[attr-defined]
        f"conversations/{conversation_id}/messages/{message.id}"
    )
    assert received.translated_text == "Where is my parcel?"  # type: ignore[attr-defined]


async def _fail_half_way(new_uow: NewUow, tenant: str) -> None:
    async with new_uow() as uow:
        conversation_id, _ = await _open(uow, tenant, "customers/c-1", ANA, AT)
        message = a_message(tenant, conversation_id, external_id="ext-1")
        await uow.messages.add(message)
        await uow.record(MessageReceived(message))
        raise RuntimeError("the use case failed half-way")


async def test_nothing_is_written_without_commit(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    # On SQLite too: a first write made in a savepoint (join_or_open, add)
    # rolls back with the unit of work (crosstalk_common.db.engine opens the
    # transaction before a first savepoint).
    with pytest.raises(RuntimeError):
        await _fail_half_way(new_uow, tenant)

    async with sessions() as session:
        counts = [
            await session.scalar(
                select(func.count()).select_from(table).where(table.c.tenant_id == tenant)
            )
            for table in (conversations, messages)
        ]
    assert counts == [0, 0]
    assert await outbox_events(sessions, tenant) == []


async def test_many_conversations_and_messages_in_a_row_on_one_connection(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    # On PostgreSQL psycopg prepares a statement run often on one connection; the
    # inserts' ON CONFLICT must still find their partial unique indexes then.
    for n in range(15):
        async with new_uow() as uow:
            conversation_id, _ = await _open(uow, tenant, f"customers/c-{n}", ANA, AT)
            await uow.messages.add(a_message(tenant, conversation_id, external_id=f"ext-{n}"))
            await uow.commit()
    async with sessions() as session:
        stored = await session.scalar(
            select(func.count()).select_from(messages).where(messages.c.tenant_id == tenant)
        )
    assert stored == 15
