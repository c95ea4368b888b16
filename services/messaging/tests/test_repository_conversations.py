"""The conversations area in SQL (SQLite or PostgreSQL by CROSSTALK_TEST_DB): the inbox order
and its keyset pages, every filter, the data scope, messages with notes and attachments,
labels, the customer and member projections, and events with the conversation's facts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from crosstalk_common.domain.channel import Channel
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from messaging.adapters.customer_scope import visible_customer
from messaging.adapters.tables import customer_snapshots
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.conversation_ports import ConversationFilter
from messaging.app.conversations import ConversationService, apply_customer_snapshot, apply_member
from messaging.domain.conversation import Conversation, ConversationLabel, Priority
from messaging.domain.conversation_assignment import AssignStrategy, Availability
from messaging.domain.conversation_projections import CustomerSnapshot, MemberProfile
from messaging.domain.conversation_state import ConversationStatus
from messaging.domain.events import MessageReceived
from messaging.domain.model import Attachment, Direction, Message, Sender

from .conftest import Sessions, outbox_events

NewUow = Callable[[], MessagingUnitOfWork]
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ALL = Visibility.everything()
S = ConversationStatus


async def _conversation(
    new_uow: NewUow,
    tenant: str,
    *,
    n: int = 0,
    customer: str = "",
    at: datetime = T0,
    priority: Priority = Priority.NORMAL,
    status: ConversationStatus | None = None,
    language: str = "und",
    channel: Channel = Channel.EMAIL,
    store: str = "",
) -> Conversation:
    """A conversation with one inbound message at ``at``."""
    customer = customer or f"customers/c-{n}"
    sender = Sender(channel, f"buyer-{n}@example.com", store)
    async with new_uow() as uow:
        snapshot = await uow.customer_snapshots.get(tenant, customer)
        conversation, _ = await uow.conversations.join_or_open(
            tenant, customer, sender, "", "", at, snapshot
        )
        await uow.messages.add(_inbound(tenant, conversation, at))
        conversation, _ = conversation.record_inbound(at, language)
        if status is not None and status is not S.UNREAD:
            conversation, _ = conversation.set_status(status, at, "members/m")
        conversation, _ = conversation.set_priority(priority, at, "members/m")
        saved = await uow.conversations.save(conversation)
        await uow.commit()
    return saved


def _inbound(tenant: str, conversation: Conversation, at: datetime, **extra: object) -> Message:
    return Message(
        id=str(uuid.uuid4()),
        tenant_id=tenant,
        conversation_id=conversation.id,
        customer=conversation.customer,
        sender=conversation.sender,
        direction=Direction.INBOUND,
        text="hello",
        language="en",
        external_id="",
        created_at=at,
        **extra,  # type: ignore[arg-type]
    )


async def _inbox(
    new_uow: NewUow,
    tenant: str,
    where: ConversationFilter | None = None,
    visibility: Visibility = ALL,
    limit: int = 50,
) -> list[str]:
    async with new_uow() as uow:
        found = await uow.conversations.inbox(
            tenant, visibility, where or ConversationFilter(), [], limit
        )
    return [c.id for c in found]


async def test_the_inbox_is_urgent_first_then_latest_inbound_and_pages_by_keyset(
    new_uow: NewUow, tenant: str
) -> None:
    old_urgent = await _conversation(new_uow, tenant, n=1, priority=Priority.URGENT)
    newer = await _conversation(new_uow, tenant, n=2, at=T0 + timedelta(hours=2))
    older = await _conversation(new_uow, tenant, n=3, at=T0 + timedelta(hours=1))
    low = await _conversation(
        new_uow, tenant, n=4, at=T0 + timedelta(hours=3), priority=Priority.LOW
    )
    same_time = await _conversation(new_uow, tenant, n=5, at=T0 + timedelta(hours=1))
    expected_rest = sorted([older.id, same_time.id], reverse=True)

    assert await _inbox(new_uow, tenant) == [old_urgent.id, newer.id, *expected_rest, low.id]

    pages: list[str] = []
    after: list[str] = []
    while True:
        async with new_uow() as uow:
            page = await uow.conversations.inbox(tenant, ALL, ConversationFilter(), after, 2)
        pages.extend(c.id for c in page)
        if len(page) < 2:
            break
        last = page[-1]
        after = [
            str(int(last.priority)),
            (last.state.last_inbound_at or last.created_at).isoformat(),
            last.id,
        ]
    assert pages == [old_urgent.id, newer.id, *expected_rest, low.id]


async def test_every_filter(new_uow: NewUow, sessions: Sessions, tenant: str) -> None:
    spanish = await _conversation(new_uow, tenant, n=1, language="es-MX", store="shop.mx")
    closed = await _conversation(new_uow, tenant, n=2, status=S.CLOSED, at=T0 + timedelta(days=2))
    amazon = await _conversation(
        new_uow, tenant, n=3, channel=Channel.AMAZON, store="amazon.de", priority=Priority.HIGH
    )
    async with new_uow() as uow:
        replied = await uow.conversations.get(tenant, ALL, closed.id)
        assert replied is not None
        answered, _ = replied.record_agent_reply(T0 + timedelta(days=2, minutes=1), "members/m")
        await uow.conversations.save(answered)
        assigned = await uow.conversations.get(tenant, ALL, amazon.id)
        assert assigned is not None
        with_member, _ = assigned.assign("members/ana", "groups/de", T0, "members/m")
        await uow.conversations.save(with_member)
        label = ConversationLabel(str(uuid.uuid4()), tenant, "Complaint", T0)
        assert await uow.conversation_labels.add(label)
        await uow.conversations.set_labels(spanish, [label.id])
        await uow.commit()
    await apply_customer_snapshot(
        new_uow,
        tenant,
        CustomerSnapshot("customers/c-3", 1, tier="Gold", tags=("tags/vip", "tags/de")),
        T0,
    )

    def f(**kw: object) -> ConversationFilter:
        return ConversationFilter(**kw)  # type: ignore[arg-type]

    assert await _inbox(new_uow, tenant, f(statuses=frozenset({S.REPLIED}))) == [closed.id]
    assert await _inbox(new_uow, tenant, f(priority=Priority.HIGH)) == [amazon.id]
    assert await _inbox(new_uow, tenant, f(channel=Channel.AMAZON)) == [amazon.id]
    assert await _inbox(new_uow, tenant, f(store="shop.mx")) == [spanish.id]
    assert await _inbox(new_uow, tenant, f(assignee="members/ana")) == [amazon.id]
    assert set(await _inbox(new_uow, tenant, f(assignee="-"))) == {spanish.id, closed.id}
    assert await _inbox(new_uow, tenant, f(assignee_group="groups/de")) == [amazon.id]
    assert await _inbox(new_uow, tenant, f(language="es")) == [spanish.id]
    assert await _inbox(new_uow, tenant, f(language="e")) == []
    assert await _inbox(new_uow, tenant, f(customer="customers/c-1")) == [spanish.id]
    assert set(await _inbox(new_uow, tenant, f(unread=True))) == {spanish.id, amazon.id}
    assert await _inbox(new_uow, tenant, f(unread=False)) == [closed.id]
    assert await _inbox(new_uow, tenant, f(last_inbound_after=T0 + timedelta(days=1))) == [
        closed.id
    ]
    assert set(await _inbox(new_uow, tenant, f(last_inbound_before=T0 + timedelta(days=1)))) == {
        spanish.id,
        amazon.id,
    }
    assert await _inbox(new_uow, tenant, f(customer_tier="Gold")) == [amazon.id]
    assert await _inbox(new_uow, tenant, f(customer_tier="Silver")) == []
    assert await _inbox(new_uow, tenant, f(customer_tags=("tags/vip", "tags/de"))) == [amazon.id]
    assert await _inbox(new_uow, tenant, f(customer_tags=("tags/vip", "tags/x"))) == []
    async with new_uow() as uow:
        (labelled,) = await uow.conversations.inbox(tenant, ALL, ConversationFilter(), [], 1)
        labels = (await uow.conversations.get(tenant, ALL, spanish.id)).labels  # type: ignore[union-attr]
    assert await _inbox(new_uow, tenant, f(labels=labels)) == [spanish.id]
    assert await _inbox(new_uow, "another-tenant") == []
    assert labelled.id == amazon.id  # HIGH first


async def test_the_data_scope_comes_from_the_customer_snapshot(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    # The snapshot arrives after the conversation: it is copied onto it.
    mine = await _conversation(new_uow, tenant, n=1)
    theirs = await _conversation(new_uow, tenant, n=2)
    await apply_customer_snapshot(
        new_uow, tenant, CustomerSnapshot("customers/c-1", 3, owner_member_id="m-1"), T0
    )
    await apply_customer_snapshot(
        new_uow, tenant, CustomerSnapshot("customers/c-2", 1, department_id="d-2"), T0
    )
    # A later message of a known customer starts with the snapshot's owner.
    third = await _conversation(new_uow, tenant, n=3, customer="customers/c-1")

    own = Visibility(DataScope.OWN, member_id="m-1")
    department = Visibility(DataScope.DEPARTMENT, departments=frozenset({"d-2"}))
    nobody = Visibility(DataScope.OWN, member_id="m-9")

    assert set(await _inbox(new_uow, tenant, visibility=own)) == {mine.id, third.id}
    assert await _inbox(new_uow, tenant, visibility=department) == [theirs.id]
    assert await _inbox(new_uow, tenant, visibility=nobody) == []
    async with new_uow() as uow:
        assert await uow.conversations.get(tenant, nobody, mine.id) is None
        found = await uow.conversations.get(tenant, own, mine.id)
    assert found is not None
    assert found.owner_member_id == "m-1"
    # The stale snapshot (version 2 < 3) changes nothing.
    assert not await apply_customer_snapshot(
        new_uow, tenant, CustomerSnapshot("customers/c-1", 2, owner_member_id="m-9"), T0
    )
    assert set(await _inbox(new_uow, tenant, visibility=own)) == {mine.id, third.id}

    # The reusable filter over any table with a customer column.
    async with sessions() as session:
        seen = (
            await session.scalars(
                select(customer_snapshots.c.customer).where(
                    customer_snapshots.c.tenant_id == tenant,
                    visible_customer(own, tenant, customer_snapshots.c.customer),
                )
            )
        ).all()
    assert list(seen) == ["customers/c-1"]


async def test_messages_oldest_first_with_notes_on_request_and_attachments(
    new_uow: NewUow, tenant: str
) -> None:
    conversation = await _conversation(new_uow, tenant, n=1)
    photo = Attachment("a.png", "image/png", 10, "https://f.example/a.png")
    service = ConversationService(new_uow, lambda: T0 + timedelta(minutes=5))
    async with new_uow() as uow:
        with_file = _inbound(tenant, conversation, T0 + timedelta(minutes=1), attachments=(photo,))
        await uow.messages.add(with_file)
        await uow.conversations.add_attachments(with_file)
        await uow.commit()
    note = await service.create_note(tenant, ALL, conversation.id, "call them", "members/m")

    without_notes = await service.list_messages(
        tenant, ALL, conversation.id, include_notes=False, after=[], limit=10
    )
    with_notes = await service.list_messages(
        tenant, ALL, conversation.id, include_notes=True, after=[], limit=10
    )
    page_two = await service.list_messages(
        tenant,
        ALL,
        conversation.id,
        include_notes=True,
        after=[with_notes[0].created_at.isoformat(), with_notes[0].id],
        limit=10,
    )

    assert [m.id for m in with_notes] == [with_notes[0].id, with_file.id, note.id]
    assert [m.id for m in without_notes] == [with_notes[0].id, with_file.id]
    assert [m.id for m in page_two] == [with_file.id, note.id]
    assert with_notes[1].attachments == (photo,)
    assert (with_notes[2].internal_note, with_notes[2].sent_by) == (True, "members/m")
    got = await service.get_message(tenant, ALL, conversation.id, with_file.id)
    assert got.attachments == (photo,)
    stored = await service.get(tenant, ALL, conversation.id)
    assert (stored.status, stored.follow_ups, stored.message_count) == (S.UNREAD, 1, 2)


async def test_labels_page_by_name_and_delete_takes_them_off_conversations(
    new_uow: NewUow, tenant: str
) -> None:
    service = ConversationService(new_uow, lambda: T0)
    conversation = await _conversation(new_uow, tenant, n=1)
    names = ["Refund", "after-sales", "Complaint"]
    labels = [await service.create_label(tenant, name) for name in names]
    await service.set_labels(tenant, ALL, conversation.id, [labels[0].id, labels[2].id])

    first = await service.list_labels(tenant, [], 2)
    rest = await service.list_labels(tenant, [first[-1].name_key, first[-1].id], 2)
    await service.delete_label(tenant, labels[0].id)

    assert [x.display_name for x in first + rest] == ["after-sales", "Complaint", "Refund"]
    assert (await service.get(tenant, ALL, conversation.id)).labels == (labels[2].id,)
    assert await service.list_labels("another-tenant", [], 10) == []


async def test_members_are_candidates_of_their_groups_with_their_open_conversations(
    new_uow: NewUow, tenant: str
) -> None:
    for name, groups in (("ana", ("groups/a", "groups/b")), ("ben", ("groups/a",))):
        await apply_member(
            new_uow,
            tenant,
            MemberProfile(
                f"members/{name}", name, groups, ("de",), 4, Availability.AVAILABLE, True
            ),
            T0,
        )
    service = ConversationService(new_uow, lambda: T0)
    for n in range(3):
        c = await _conversation(new_uow, tenant, n=n)
        await service.assign(
            tenant,
            ALL,
            c.id,
            assignee="members/ana",
            assignee_group="",
            strategy=AssignStrategy.ROUND_ROBIN,
            actor="members/m",
        )
    closed = await _conversation(new_uow, tenant, n=9, status=S.CLOSED)
    async with new_uow() as uow:
        c = await uow.conversations.get(tenant, ALL, closed.id)
        assert c is not None
        done, _ = c.assign("members/ben", "", T0, "members/m")
        await uow.conversations.save(done)
        # ben moves out of groups/a (member.updated with the groups after the change)
        await uow.members.put(
            tenant, MemberProfile("members/ben", "ben", ("groups/b",), ("de",), 4), T0
        )
        await uow.commit()
        async with new_uow() as read:
            a = await read.members.candidates(tenant, "groups/a")
            b = await read.members.candidates(tenant, "groups/b")

    assert [(x.member, x.open_conversations, x.capacity) for x in a] == [("members/ana", 3, 4)]
    assert [(x.member, x.open_conversations) for x in b] == [("members/ana", 3), ("members/ben", 0)]


async def test_message_received_carries_the_conversations_facts(
    new_uow: NewUow, sessions: Sessions, tenant: str
) -> None:
    conversation = await _conversation(new_uow, tenant, n=1, priority=Priority.URGENT)
    async with new_uow() as uow:
        label = ConversationLabel(str(uuid.uuid4()), tenant, "Complaint", T0)
        await uow.conversation_labels.add(label)
        await uow.conversations.set_labels(conversation, [label.id])
        c = await uow.conversations.get(tenant, ALL, conversation.id)
        assert c is not None
        c, _ = c.assign("members/ana", "groups/de", T0, "members/m")
        c, _ = c.record_inbound(T0 + timedelta(minutes=1))
        message = _inbound(
            tenant,
            c,
            T0 + timedelta(minutes=1),
            attachments=(Attachment("x.pdf", "application/pdf", 3, "s3://b/x.pdf"),),
        )
        await uow.record(MessageReceived(message, c, ("Complaint",)))
        await uow.commit()

    (_, event), *_ = await outbox_events(sessions, tenant)
    assert event.status == 1  # type: ignore[attr-defined]  # UNREAD
    assert event.follow_ups == 2  # type: ignore[attr-defined]
    assert event.assignee == "members/ana"  # type: ignore[attr-defined]
    assert event.assignee_group == "groups/de"  # type: ignore[attr-defined]
    assert list(event.labels) == [f"conversationLabels/{label.id}"]  # type: ignore[attr-defined]
    assert list(event.label_names) == ["Complaint"]  # type: ignore[attr-defined]
    assert event.priority == 4  # type: ignore[attr-defined]
    assert event.has_attachment  # type: ignore[attr-defined]
    assert event.attachments[0].uri == "s3://b/x.pdf"  # type: ignore[attr-defined]


@pytest.mark.parametrize("n", [0])
async def test_a_conversation_of_one_identity_is_one_row_whatever_the_customer(
    new_uow: NewUow, tenant: str, n: int
) -> None:
    first = await _conversation(new_uow, tenant, n=n, customer="customers/a")
    again = await _conversation(new_uow, tenant, n=n, customer="customers/b")

    assert again.id == first.id
    assert again.customer == "customers/b"
    assert again.follow_ups == 2


async def test_join_or_insert_stores_a_new_conversation_or_locks_the_identitys_one(
    new_uow: NewUow, tenant: str
) -> None:
    await apply_customer_snapshot(
        new_uow,
        tenant,
        CustomerSnapshot("customers/a", 1, owner_member_id="m-1", department_id="d-1"),
        T0,
    )
    sender = Sender(Channel.EMAIL, "buyer@example.com")

    def opening(customer: str, channel_config: str, subject: str) -> Conversation:
        fresh = Conversation.opened(
            str(uuid.uuid4()), tenant, customer, sender, channel_config, subject, T0
        )
        return fresh.record_inbound(T0, "de")[0]

    first = opening("customers/a", "cfg-1", "Refund")
    label = str(uuid.uuid4())
    async with new_uow() as uow:
        opened, is_new = await uow.conversations.join_or_insert(first)
        await uow.commit()
    async with new_uow() as uow:
        stored = await uow.conversations.get(tenant, ALL, first.id)
        # The same identity again, for another customer, without config or subject.
        joined, joined_new = await uow.conversations.join_or_insert(opening("customers/b", "", ""))
        await uow.commit()
    async with new_uow() as uow:
        labelled = await uow.conversation_labels.add(ConversationLabel(label, tenant, "VIP", T0))
        await uow.conversations.set_labels(joined, [label])
        await uow.commit()
    async with new_uow() as uow:
        later, later_new = await uow.conversations.join_or_insert(opening("customers/b", "c2", ""))

    assert (is_new, joined_new, later_new, labelled) == (True, False, False, True)
    # Stored as given, with the owner and department of the customer's snapshot.
    assert opened == replace(first, owner_member_id="m-1", department_id="d-1")
    assert stored == opened
    assert (stored.follow_ups, stored.message_count, stored.language) == (1, 1, "de")
    # Joined: the stored one, given the new customer; config and subject kept when not given.
    assert joined.id == first.id
    assert (joined.customer, joined.channel_config, joined.subject) == (
        "customers/b",
        "cfg-1",
        "Refund",
    )
    # It takes the new customer's owner and department (none known for b yet).
    assert (joined.follow_ups, joined.owner_member_id, joined.department_id) == (1, "", "")
    assert (later.channel_config, later.labels) == ("c2", (label,))


async def test_a_save_keeps_the_owner_the_projection_copied_meanwhile(
    new_uow: NewUow, tenant: str
) -> None:
    """A conversation read before its customer's new owner was copied onto it and saved
    after does not put the old owner back: only ingest and the projection write it."""
    conversation = await _conversation(new_uow, tenant, n=1)
    async with new_uow() as uow:
        stale = await uow.conversations.get(tenant, ALL, conversation.id)
    assert stale is not None
    assert stale.owner_member_id == ""
    await apply_customer_snapshot(
        new_uow, tenant, CustomerSnapshot("customers/c-1", 1, owner_member_id="m-1"), T0
    )
    async with new_uow() as uow:
        await uow.conversations.save(stale.set_priority(Priority.HIGH, T0, "members/m")[0])
        await uow.commit()
    async with new_uow() as uow:
        now = await uow.conversations.get(tenant, ALL, conversation.id)
    assert now is not None
    assert (now.priority, now.owner_member_id) == (Priority.HIGH, "m-1")


async def test_a_snapshot_stored_while_a_conversation_is_being_opened_reaches_it(
    new_uow: NewUow, tenant: str
) -> None:
    """Ingest opens a conversation while the projection stores the customer's first
    snapshot (on PostgreSQL the two run side by side): the owner reaches it either way."""
    sender = Sender(Channel.EMAIL, "race@example.com")
    opening = Conversation.opened(
        str(uuid.uuid4()), tenant, "customers/r", sender, "", "", T0
    ).record_inbound(T0, "de")[0]
    async with new_uow() as ingest:
        opened, _ = await ingest.conversations.join_or_insert(opening)
        assert opened.owner_member_id == ""  # no snapshot yet
        # The projection, while ingest has not committed (it waits on PostgreSQL).
        projection = asyncio.create_task(
            apply_customer_snapshot(
                new_uow,
                tenant,
                CustomerSnapshot("customers/r", 1, owner_member_id="m-7", department_id="d-7"),
                T0,
            )
        )
        await asyncio.sleep(0.2)
        await ingest.commit()
    assert await projection
    async with new_uow() as uow:
        stored = await uow.conversations.get(tenant, ALL, opening.id)
    assert stored is not None
    assert (stored.owner_member_id, stored.department_id) == ("m-7", "d-7")
