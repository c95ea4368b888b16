"""The conversations area's proto mapping (inbox filter, conversation, assignment request)
and its consumers run on a migrated database (customer snapshots, members)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message as ProtoMessage

from crosstalk.common.v1 import assignment_pb2, channel_pb2, priority_pb2
from crosstalk.events.v1 import customer_events_pb2, identity_events_pb2
from crosstalk.identity.v1 import resources_pb2 as identity_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as pb
from crosstalk.messaging.v1 import resources_pb2
from crosstalk_common.bus.envelope import Event, new_envelope
from crosstalk_common.bus.use_case_handler import in_unit_of_work, scoped_batch_in_unit_of_work
from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import InvalidArgument
from messaging.adapters.conversation_consumers import on_customer_events, on_member_event
from messaging.adapters.conversation_mapping import (
    assignment_from_pb,
    conversation_to_pb,
    filter_from_pb,
)
from messaging.adapters.tables import outbox
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.domain.conversation import Conversation, Priority
from messaging.domain.conversation_assignment import AssignStrategy, Availability
from messaging.domain.conversation_state import ConversationState, ConversationStatus
from messaging.domain.model import Sender

from .conftest import Sessions

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
NewUow = Callable[[], MessagingUnitOfWork]


def _violations(request: pb.ListConversationsRequest) -> set[str]:
    with pytest.raises(InvalidArgument) as refused:
        filter_from_pb(request)
    return {v.field for v in refused.value.violations}


def test_the_inbox_filter_reads_every_field() -> None:
    request = pb.ListConversationsRequest(
        statuses=[resources_pb2.CONVERSATION_STATUS_UNREAD],
        priority=priority_pb2.PRIORITY_HIGH,
        channel=channel_pb2.CHANNEL_AMAZON,
        store=" Amazon.DE ",
        assignee="members/ana",
        assignee_group="groups/de",
        language="de",
        customer="customers/c-1",
        unread=False,
        customer_tier=" Gold ",
        customer_tags=["tags/vip"],
        labels=["conversationLabels/l-1"],
    )
    request.last_inbound_after.FromDatetime(T0)

    where = filter_from_pb(request)

    assert where.statuses == frozenset({ConversationStatus.UNREAD})
    assert (where.priority, where.channel, where.store) == (
        Priority.HIGH,
        Channel.AMAZON,
        "amazon.de",
    )
    assert (where.assignee, where.assignee_group, where.customer) == (
        "members/ana",
        "groups/de",
        "customers/c-1",
    )
    assert where.unread is False
    assert where.last_inbound_after == T0
    assert (where.customer_tier, where.customer_tags, where.labels) == (
        "Gold",
        ("tags/vip",),
        ("l-1",),
    )
    assert filter_from_pb(pb.ListConversationsRequest()).unread is None
    assert filter_from_pb(pb.ListConversationsRequest(assignee="-")).assignee == "-"


def test_every_bad_inbox_filter_field_is_named_at_once() -> None:
    request = pb.ListConversationsRequest(
        statuses=[99],
        priority=42,  # type: ignore[arg-type]
        assignee="ana",
        assignee_group="teams/x",
        customer="people/1",
        customer_tags=["vip"],
        labels=["labels/x"],
        language="x" * 36,
    )
    request.last_inbound_after.FromDatetime(T0)
    request.last_inbound_before.FromDatetime(T0)

    assert _violations(request) == {
        "statuses[0]",
        "priority",
        "assignee",
        "assignee_group",
        "customer",
        "customer_tags[0]",
        "labels[0]",
        "language",
        "last_inbound_before",
    }


def test_an_assignment_request_names_bad_fields_and_defaults_to_round_robin() -> None:
    with pytest.raises(InvalidArgument) as refused:
        assignment_from_pb(pb.AssignConversationRequest(assignee="ana", assignee_group="x"))
    assert {v.field for v in refused.value.violations} == {"assignee", "assignee_group"}
    assert assignment_from_pb(pb.AssignConversationRequest(assignee_group="groups/g")) == (
        "",
        "groups/g",
        AssignStrategy.ROUND_ROBIN,
    )
    aware = pb.AssignConversationRequest(
        assignee_group="groups/g", strategy=assignment_pb2.ASSIGN_STRATEGY_LANGUAGE_AWARE
    )
    assert assignment_from_pb(aware)[2] is AssignStrategy.LANGUAGE_AWARE


def test_a_conversation_shows_its_follow_ups_times_owner_and_labels() -> None:
    conversation = Conversation(
        id="c-1",
        tenant_id="t",
        customer="customers/x",
        sender=Sender(Channel.EMAIL, "x@b.co"),
        channel_config="channelConfigs/mail",
        state=ConversationState(
            ConversationStatus.REPLIED, 0, T0, T0.replace(hour=10), T0.replace(hour=8)
        ),
        created_at=T0,
        updated_at=T0,
        last_message_at=T0,
        priority=Priority.URGENT,
        labels=("l-1",),
        owner_member_id="m-1",
        department_id="d-1",
        version=3,
    )

    shown = conversation_to_pb(conversation)

    assert shown.status == resources_pb2.CONVERSATION_STATUS_REPLIED
    assert shown.priority == priority_pb2.PRIORITY_URGENT
    assert (shown.follow_ups, shown.unread_count) == (0, 0)
    assert shown.last_agent_reply_time.ToDatetime(tzinfo=UTC) == T0.replace(hour=10)
    assert shown.open_time.ToDatetime(tzinfo=UTC) == T0.replace(hour=8)
    assert list(shown.labels) == ["conversationLabels/l-1"]
    assert (shown.owner, shown.department) == ("members/m-1", "departments/d-1")
    assert shown.identity.external_id == "x@b.co"
    assert shown.etag == 'W/"3"'


def _event(tenant: str, payload: ProtoMessage) -> Event:
    _, envelope = new_envelope(tenant, payload, occurred_at=T0, trace_context={})
    return Event(envelope, payload)


def _updated(
    customer: str, version: int, owner: str, tags: tuple[str, ...] = ("tags/vip",)
) -> customer_events_pb2.CustomerUpdated:
    return customer_events_pb2.CustomerUpdated(
        customer=customer,
        snapshot=customer_events_pb2.CustomerSnapshot(
            version=version,
            owner=owner,
            department="departments/d-1",
            tier="Gold",
            tags=list(tags),
            tag_labels=[t.removeprefix("tags/").upper() for t in tags],
        ),
    )


async def _consume(sessions: Sessions, tenant: str, *payloads: ProtoMessage) -> None:
    """One fetched batch of customer events through the consumer's batch handler."""
    handler = scoped_batch_in_unit_of_work(
        MessagingUnitOfWork, outbox, on_customer_events, savepoint=False
    )
    async with sessions.begin() as session:
        await handler(session, [_event(tenant, p) for p in payloads], lambda _: nullcontext())


async def test_customer_events_keep_the_newest_snapshot(
    sessions: Sessions, new_uow: NewUow, tenant: str
) -> None:
    for payload in (
        _updated("customers/c-1", 5, "members/m-5"),
        _updated("customers/c-1", 4, "members/m-4"),  # late: ignored
        customer_events_pb2.CustomerTagged(customer="customers/c-1"),  # no snapshot
    ):
        await _consume(sessions, tenant, payload)

    async with new_uow() as uow:
        snapshot = await uow.customer_snapshots.get(tenant, "customers/c-1")
    assert snapshot is not None
    assert (snapshot.version, snapshot.owner_member_id, snapshot.department_id) == (
        5,
        "m-5",
        "d-1",
    )
    assert (snapshot.tier, snapshot.tags, snapshot.tag_labels) == ("Gold", ("tags/vip",), ("VIP",))


async def test_a_batch_of_customer_events_keeps_each_customers_newest_snapshot(
    sessions: Sessions, new_uow: NewUow, tenant: str
) -> None:
    ana = Sender(Channel.EMAIL, "ana@b.co")
    async with new_uow() as uow:
        await uow.conversations.join_or_open(tenant, "customers/c-1", ana, "", "", T0, None)
        await uow.commit()

    await _consume(
        sessions,
        tenant,
        _updated("customers/c-1", 2, "members/m-2", ("tags/vip", "tags/late")),
        _updated("customers/c-2", 1, "members/m-9", ()),
        _updated("customers/c-1", 3, "members/m-3", ("tags/vip",)),
        _updated("customers/c-1", 1, "members/m-1"),  # older than the batch's newest
    )
    async with new_uow() as uow:
        first = await uow.customer_snapshots.get_many(
            tenant, ["customers/c-1", "customers/c-2", "customers/c-3"]
        )
    # Later: c-1's tags all gone, c-2 unchanged but for its version; one late event.
    await _consume(
        sessions,
        tenant,
        _updated("customers/c-1", 4, "members/m-4", ()),
        _updated("customers/c-2", 2, "members/m-9", ()),
        _updated("customers/c-2", 1, "members/m-0", ("tags/x",)),
    )
    async with new_uow() as uow:
        then = await uow.customer_snapshots.get_many(tenant, ["customers/c-1", "customers/c-2"])
        conversation, _ = await uow.conversations.join_or_open(
            tenant, "customers/c-1", ana, "", "", T0, None
        )

    assert set(first) == {"customers/c-1", "customers/c-2"}
    assert (first["customers/c-1"].version, first["customers/c-1"].owner_member_id) == (3, "m-3")
    assert first["customers/c-1"].tags == ("tags/vip",)
    assert (first["customers/c-2"].version, first["customers/c-2"].tags) == (1, ())
    assert (then["customers/c-1"].version, then["customers/c-1"].tags) == (4, ())
    assert then["customers/c-1"].tag_labels == ()
    assert (then["customers/c-2"].version, then["customers/c-2"].owner_member_id) == (2, "m-9")
    assert then["customers/c-2"].tags == ()
    # The customer's conversation carries its owner and department (data scope).
    assert (conversation.owner_member_id, conversation.department_id) == ("m-4", "d-1")


async def test_member_events_keep_the_member_projection(
    sessions: Sessions, new_uow: NewUow, tenant: str
) -> None:
    handler = in_unit_of_work(MessagingUnitOfWork, outbox, on_member_event)
    for payload in (
        identity_events_pb2.MemberCreated(
            member="members/ana",
            display_name="Ana",
            groups=["groups/es"],
            languages=["es"],
            capacity=5,
            availability=identity_pb2.MEMBER_AVAILABILITY_AWAY,
            enabled=True,
        ),
        identity_events_pb2.MemberCreated(member="members/old", groups=["groups/es"]),
        identity_events_pb2.MemberCreated(member="members/gone", groups=["groups/es"]),
        identity_events_pb2.MemberDeleted(member="members/gone"),
    ):
        async with sessions.begin() as session:
            await handler(session, _event(tenant, payload))

    async with new_uow() as uow:
        candidates = await uow.members.candidates(tenant, "groups/es")
    assert [(c.member, c.availability, c.capacity, c.enabled) for c in candidates] == [
        ("members/ana", Availability.AWAY, 5, True),
        # A producer that does not fill the new fields: taken as enabled.
        ("members/old", Availability.UNKNOWN, 0, True),
    ]
