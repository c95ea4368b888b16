"""Ingesting an inbound message, with in-memory ports."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from crosstalk_common.clock import utc_now
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import InvalidArgument, NotFound
from messaging.app.understanding import TextUnderstanding
from messaging.app.use_cases import MessagingService
from messaging.domain.conversation_state import ConversationStatus
from messaging.domain.events import ConversationOpened, ConversationStatusChanged, MessageReceived
from messaging.domain.model import (
    Attachment,
    Direction,
    Inbound,
    Message,
    Sender,
    Understanding,
)

from .fakes import (
    FakeCustomers,
    FakeTranslation,
    FakeWorkingLanguages,
    InMemoryUnitOfWork,
    MessagesStore,
)

TENANT = "t-1"
ANA = Sender(Channel.EMAIL, "ana@b.co")


class World:
    def __init__(self, analysis: Understanding | None = None) -> None:
        self.store = MessagesStore()
        self.customers = FakeCustomers()
        self.translation = FakeTranslation(analysis or Understanding(language="en"))
        self.languages = FakeWorkingLanguages({TENANT: "en"})
        self.service = MessagingService(
            lambda: InMemoryUnitOfWork(self.store),
            self.customers,
            TextUnderstanding(self.translation, self.languages),
        )


async def test_the_first_message_opens_a_conversation_and_both_are_announced() -> None:
    world = World(Understanding(language="de"))

    message = await world.service.ingest(
        TENANT, Inbound(ANA, "Wo ist mein Paket?", external_id="m-1", sender_display_name="Ana")
    )

    assert message.direction is Direction.INBOUND
    assert (message.language, message.understanding.translated_text) == (
        "de",
        "[en] Wo ist mein Paket?",
    )
    assert world.customers.display_names == ["Ana"]
    assert world.store.messages == [message]
    opened, received = world.store.events
    assert opened == ConversationOpened(message)
    assert isinstance(received, MessageReceived)
    assert received.message == message
    assert received.conversation is not None
    assert (received.conversation.status, received.conversation.follow_ups) == (
        ConversationStatus.UNREAD,
        1,
    )
    assert received.conversation.language == "de"


async def test_later_messages_join_the_open_conversation_and_announce_only_themselves() -> None:
    world = World()
    first = await world.service.ingest(TENANT, Inbound(ANA, "hello"))

    second = await world.service.ingest(TENANT, Inbound(ANA, "anyone there?"))

    assert second.conversation_id == first.conversation_id
    assert second.customer == first.customer
    (received,) = world.store.events[2:]
    assert isinstance(received, MessageReceived)
    assert received.message == second
    assert received.conversation is not None
    assert received.conversation.follow_ups == 2


async def test_a_closed_conversation_reopens_as_unread_when_the_customer_writes_again() -> None:
    world = World()
    first = await world.service.ingest(TENANT, Inbound(ANA, "hello"))
    conversation = world.store.conversations[first.conversation_id]
    closed, _ = conversation.set_status(ConversationStatus.CLOSED, utc_now(), "members/m-1")
    world.store.conversations[closed.id] = closed

    again = await world.service.ingest(TENANT, Inbound(ANA, "it broke again"))

    assert again.conversation_id == first.conversation_id
    changed, received = world.store.events[2:]
    assert isinstance(changed, ConversationStatusChanged)
    assert (changed.change.from_status, changed.change.to_status) == (
        ConversationStatus.CLOSED,
        ConversationStatus.UNREAD,
    )
    assert changed.change.actor == again.customer
    assert isinstance(received, MessageReceived)
    assert received.conversation is not None
    assert received.conversation.status is ConversationStatus.UNREAD


async def test_an_inbound_message_keeps_in_progress_and_raises_the_follow_ups() -> None:
    world = World()
    first = await world.service.ingest(TENANT, Inbound(ANA, "hello"))
    conversation = world.store.conversations[first.conversation_id]
    working, _ = conversation.set_status(ConversationStatus.IN_PROGRESS, utc_now(), "members/m")
    world.store.conversations[working.id] = working

    await world.service.ingest(TENANT, Inbound(ANA, "still there?"))

    stored = world.store.conversations[first.conversation_id]
    assert (stored.status, stored.follow_ups) == (ConversationStatus.IN_PROGRESS, 2)
    assert not any(isinstance(e, ConversationStatusChanged) for e in world.store.events)


async def test_a_message_with_an_attachment_needs_no_text_and_is_not_analysed() -> None:
    world = World()
    photo = Attachment("broken.jpg", "image/jpeg", 48_213, "https://files.example/broken.jpg")

    message = await world.service.ingest(TENANT, Inbound(ANA, "", attachments=(photo,)))

    assert message.attachments == (photo,)
    assert message.language == "und"
    assert world.translation.analysed == []


async def test_bad_attachments_name_every_field() -> None:
    world = World()
    bad = Attachment("", "not a type", -1, "ftp://x")

    with pytest.raises(InvalidArgument) as refused:
        await world.service.ingest(TENANT, Inbound(ANA, "", attachments=(bad,)))

    assert {v.field for v in refused.value.violations} == {
        "attachments[0].name",
        "attachments[0].content_type",
        "attachments[0].size_bytes",
        "attachments[0].uri",
    }
    assert world.store.messages == []


async def test_the_sender_is_compared_as_it_is_stored() -> None:
    world = World()

    message = await world.service.ingest(
        TENANT, Inbound(Sender(Channel.EMAIL, " Ana@B.co "), "hello")
    )

    assert message.sender == ANA
    assert list(world.customers.known) == [(TENANT, ANA)]


async def test_the_same_channel_message_twice_is_stored_and_announced_once() -> None:
    world = World()
    first = await world.service.ingest(TENANT, Inbound(ANA, "hello", external_id="m-1"))

    again = await world.service.ingest(TENANT, Inbound(ANA, "hello", external_id="m-1"))

    assert again == first
    assert len(world.store.messages) == 1
    assert len(world.store.events) == 2
    assert world.translation.analysed == ["hello"]


async def test_a_concurrent_duplicate_answers_the_stored_message_and_announces_nothing() -> None:
    world = World()
    racing = Message(
        id="other",
        tenant_id=TENANT,
        conversation_id="c-0",
        customer="customers/x",
        sender=ANA,
        direction=Direction.INBOUND,
        text="hello",
        language="en",
        external_id="m-1",
        created_at=utc_now(),
    )
    world.store.racing_external_id, world.store.racing_message = "m-1", racing

    answered = await world.service.ingest(TENANT, Inbound(ANA, "hello", external_id="m-1"))

    assert answered == racing
    assert world.store.messages == [racing]
    assert world.store.events == []


async def test_translation_down_still_stores_the_message_without_language() -> None:
    world = World()
    world.translation.analysis_down = True

    message = await world.service.ingest(TENANT, Inbound(ANA, "hello"))

    assert message.language == "und"
    assert message.understanding == Understanding()
    assert world.store.messages == [message]


@pytest.mark.parametrize(
    ("inbound", "field"),
    [
        (Inbound(ANA, "   "), "text"),
        (Inbound(Sender(Channel.EMAIL, "  "), "hello"), "sender.external_id"),
        (Inbound(ANA, "hello", channel_config="nope"), "channel_config"),
        (Inbound(ANA, "hello", send_time=utc_now() + timedelta(days=2)), "send_time"),
    ],
)
async def test_an_invalid_message_is_refused_before_anyone_is_asked(
    inbound: Inbound, field: str
) -> None:
    world = World()

    with pytest.raises(InvalidArgument) as refused:
        await world.service.ingest(TENANT, inbound)

    assert [v.field for v in refused.value.violations] == [field]
    assert world.customers.display_names == []
    assert world.translation.analysed == []
    assert world.store.messages == []


async def test_the_channel_account_and_subject_are_kept_on_the_conversation() -> None:
    world = World()

    message = await world.service.ingest(
        TENANT,
        Inbound(ANA, "hola", channel_config="channelConfigs/mail-es", subject="Pedido 4711"),
    )

    opened = world.store.events[0]
    assert isinstance(opened, ConversationOpened)
    assert opened.channel_config == "channelConfigs/mail-es"
    conversation = world.store.conversations[message.conversation_id]
    assert (conversation.channel_config, conversation.subject) == (
        "channelConfigs/mail-es",
        "Pedido 4711",
    )


class _MeetingCustomers(FakeCustomers):
    """Answers only once translation has been asked: an ingest that waited for the
    customer before analysing the text would never finish."""

    def __init__(self, analysing: asyncio.Event) -> None:
        super().__init__()
        self.analysing = analysing

    async def resolve(self, tenant_id: str, sender: Sender, display_name: str) -> str:
        await self.analysing.wait()
        return await super().resolve(tenant_id, sender, display_name)


class _SignallingTranslation(FakeTranslation):
    def __init__(self, analysing: asyncio.Event) -> None:
        super().__init__(Understanding(language="en"))
        self.analysing = analysing
        self.finished = False

    async def analyse(self, text: str) -> Understanding:
        self.analysing.set()
        await asyncio.sleep(0.01)
        self.finished = True
        return await super().analyse(text)


async def test_the_text_is_analysed_while_the_sender_is_resolved() -> None:
    world = World()
    analysing = asyncio.Event()
    world.customers = _MeetingCustomers(analysing)
    world.translation = _SignallingTranslation(analysing)
    service = MessagingService(
        lambda: InMemoryUnitOfWork(world.store),
        world.customers,
        TextUnderstanding(world.translation, world.languages),
    )

    async with asyncio.timeout(5):
        message = await service.ingest(TENANT, Inbound(ANA, "where is my parcel?"))

    assert message.language == "en"
    assert world.store.messages == [message]


class _RefusingCustomers(FakeCustomers):
    async def resolve(self, tenant_id: str, sender: Sender, display_name: str) -> str:
        await asyncio.sleep(0)
        raise NotFound("crosstalk.io/ChannelIdentity", "email::ana@b.co")


async def test_a_sender_that_cannot_be_resolved_stores_nothing_and_stops_the_analysis() -> None:
    world = World()
    analysing = asyncio.Event()
    translation = _SignallingTranslation(analysing)
    service = MessagingService(
        lambda: InMemoryUnitOfWork(world.store),
        _RefusingCustomers(),
        TextUnderstanding(translation, world.languages),
    )

    with pytest.raises(NotFound):
        await service.ingest(TENANT, Inbound(ANA, "where is my parcel?"))
    await asyncio.sleep(0.05)

    assert (world.store.messages, world.store.events) == ([], [])
    assert analysing.is_set()
    assert not translation.finished  # cancelled mid-analysis
