"""The conversations use cases over in-memory ports and a fake clock: status, priority,
assignment by strategy, notes, labels, data scope, and the projections."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crosstalk_common.domain.channel import Channel
from crosstalk_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from crosstalk_common.permissions import DataScope
from crosstalk_common.visibility import Visibility
from messaging.app.conversation_ports import ConversationFilter
from messaging.app.conversations import (
    ConversationService,
    apply_customer_snapshot,
    apply_member,
    remove_member,
)
from messaging.domain.conversation import Conversation, Priority
from messaging.domain.conversation_assignment import AssignStrategy, Availability
from messaging.domain.conversation_projections import CustomerSnapshot, MemberProfile
from messaging.domain.conversation_state import ConversationState, ConversationStatus
from messaging.domain.events import (
    ConversationAssigned,
    ConversationPriorityChanged,
    ConversationStatusChanged,
)
from messaging.domain.model import Sender

from .fakes import InMemoryUnitOfWork, MessagesStore

TENANT = "t-1"
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ALL = Visibility.everything()
AGENT = "members/agent"
S = ConversationStatus


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class World:
    def __init__(self) -> None:
        self.store = MessagesStore()
        self.clock = Clock()
        self.service = ConversationService(lambda: InMemoryUnitOfWork(self.store), self.clock)

    def new_uow(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store)

    def conversation(
        self, *, customer: str = "customers/c-1", owner: str = "", language: str = "und"
    ) -> Conversation:
        n = len(self.store.conversations)
        conversation = Conversation(
            id=f"conv-{n}",
            tenant_id=TENANT,
            customer=customer,
            sender=Sender(Channel.EMAIL, f"c{n}@example.com"),
            channel_config="",
            state=ConversationState(S.UNREAD, follow_ups=2, last_inbound_at=T0, opened_at=T0),
            created_at=T0,
            updated_at=T0,
            last_message_at=T0,
            language=language,
            owner_member_id=owner,
        )
        self.store.conversations[conversation.id] = conversation
        return conversation

    async def member(
        self,
        name: str,
        *,
        languages: tuple[str, ...] = (),
        capacity: int = 0,
        availability: Availability = Availability.AVAILABLE,
        groups: tuple[str, ...] = ("groups/support",),
    ) -> None:
        profile = MemberProfile(
            f"members/{name}",
            name,
            groups,
            languages,
            capacity,
            availability,
        )
        await apply_member(self.new_uow, TENANT, profile, self.clock())


async def test_an_agent_sets_a_status_once_and_it_is_announced_with_the_actor() -> None:
    world = World()
    conversation = world.conversation()
    world.clock.now = T0 + timedelta(minutes=3)

    changed = await world.service.set_status(TENANT, ALL, conversation.id, S.IN_PROGRESS, AGENT)
    again = await world.service.set_status(TENANT, ALL, conversation.id, S.IN_PROGRESS, AGENT)

    assert (changed.status, changed.follow_ups, changed.version) == (S.IN_PROGRESS, 2, 2)
    assert again.version == 2  # no change, no write
    (event,) = world.store.events
    assert isinstance(event, ConversationStatusChanged)
    assert (event.change.from_status, event.change.to_status, event.change.actor) == (
        S.UNREAD,
        S.IN_PROGRESS,
        AGENT,
    )
    assert event.change.at == world.clock.now


async def test_unread_cannot_be_set_by_hand() -> None:
    world = World()
    conversation = world.conversation()

    with pytest.raises(InvalidArgument):
        await world.service.set_status(TENANT, ALL, conversation.id, S.UNREAD, AGENT)
    assert world.store.events == []


async def test_priority_changes_are_announced() -> None:
    world = World()
    conversation = world.conversation()

    changed = await world.service.set_priority(TENANT, ALL, conversation.id, Priority.URGENT, AGENT)

    assert changed.priority is Priority.URGENT
    (event,) = world.store.events
    assert isinstance(event, ConversationPriorityChanged)
    assert (event.change.from_priority, event.change.to_priority) == (
        Priority.NORMAL,
        Priority.URGENT,
    )


async def test_a_conversation_of_another_tenant_or_out_of_scope_is_not_found() -> None:
    world = World()
    mine = world.conversation(owner="m-1")
    own_scope = Visibility(DataScope.OWN, member_id="m-2")

    with pytest.raises(NotFound):
        await world.service.get("t-other", ALL, mine.id)
    with pytest.raises(NotFound):
        await world.service.get(TENANT, own_scope, mine.id)
    with pytest.raises(NotFound):
        await world.service.set_status(TENANT, own_scope, mine.id, S.CLOSED, AGENT)
    assert (
        await world.service.get(TENANT, Visibility(DataScope.OWN, "m-1"), mine.id)
    ).id == mine.id
    assert (
        await world.service.list_conversations(TENANT, own_scope, ConversationFilter(), [], 10)
        == []
    )


async def test_assigning_to_a_group_round_robin_takes_turns_and_announces_each() -> None:
    world = World()
    await world.member("ana")
    await world.member("ben")
    first, second, third = (world.conversation() for _ in range(3))

    picked = [
        (
            await world.service.assign(
                TENANT,
                ALL,
                c.id,
                assignee="",
                assignee_group="groups/support",
                strategy=AssignStrategy.ROUND_ROBIN,
                actor=AGENT,
            )
        ).assignee
        for c in (first, second, third)
    ]

    assert picked == ["members/ana", "members/ben", "members/ana"]
    assert all(isinstance(e, ConversationAssigned) for e in world.store.events)
    groups = [
        e.change.assignee_group for e in world.store.events if isinstance(e, ConversationAssigned)
    ]
    assert groups == ["groups/support"] * 3


async def test_least_busy_and_capacity_come_from_the_open_conversations() -> None:
    world = World()
    await world.member("ana", capacity=1)
    await world.member("ben")
    busy = world.conversation()
    await world.service.assign(
        TENANT,
        ALL,
        busy.id,
        assignee="members/ana",
        assignee_group="",
        strategy=AssignStrategy.ROUND_ROBIN,
        actor=AGENT,
    )
    other = world.conversation()

    picked = await world.service.assign(
        TENANT,
        ALL,
        other.id,
        assignee="",
        assignee_group="groups/support",
        strategy=AssignStrategy.LEAST_BUSY,
        actor=AGENT,
    )

    assert picked.assignee == "members/ben"


async def test_language_aware_assignment_uses_the_conversation_language() -> None:
    world = World()
    await world.member("ana", languages=("es",))
    await world.member("ben", languages=("de",))
    german = world.conversation(language="de")

    picked = await world.service.assign(
        TENANT,
        ALL,
        german.id,
        assignee="",
        assignee_group="groups/support",
        strategy=AssignStrategy.LANGUAGE_AWARE,
        actor=AGENT,
    )

    assert picked.assignee == "members/ben"


async def test_nobody_available_in_the_group_is_a_failed_precondition() -> None:
    world = World()
    await world.member("ana", availability=Availability.OFFLINE)
    conversation = world.conversation()

    with pytest.raises(FailedPrecondition):
        await world.service.assign(
            TENANT,
            ALL,
            conversation.id,
            assignee="",
            assignee_group="groups/support",
            strategy=AssignStrategy.LEAST_BUSY,
            actor=AGENT,
        )
    assert world.store.events == []


async def test_an_unknown_group_or_member_is_not_found_and_removed_members_are_gone() -> None:
    world = World()
    await world.member("ana")
    conversation = world.conversation()
    await remove_member(world.new_uow, TENANT, "members/ana")

    for assignee, group in (("", "groups/nope"), ("members/ana", ""), ("members/zed", "")):
        with pytest.raises(NotFound):
            await world.service.assign(
                TENANT,
                ALL,
                conversation.id,
                assignee=assignee,
                assignee_group=group,
                strategy=AssignStrategy.ROUND_ROBIN,
                actor=AGENT,
            )


async def test_unassigning_clears_member_and_group() -> None:
    world = World()
    await world.member("ana")
    conversation = world.conversation()
    await world.service.assign(
        TENANT,
        ALL,
        conversation.id,
        assignee="members/ana",
        assignee_group="groups/support",
        strategy=AssignStrategy.ROUND_ROBIN,
        actor=AGENT,
    )

    cleared = await world.service.assign(
        TENANT,
        ALL,
        conversation.id,
        assignee="",
        assignee_group="",
        strategy=AssignStrategy.ROUND_ROBIN,
        actor=AGENT,
    )

    assert (cleared.assignee, cleared.assignee_group) == ("", "")
    last = world.store.events[-1]
    assert isinstance(last, ConversationAssigned)
    assert last.change.previous_assignee == "members/ana"


async def test_a_member_outside_the_named_group_is_refused() -> None:
    world = World()
    await world.member("ana", groups=("groups/sales",))
    conversation = world.conversation()

    with pytest.raises(InvalidArgument):
        await world.service.assign(
            TENANT,
            ALL,
            conversation.id,
            assignee="members/ana",
            assignee_group="groups/support",
            strategy=AssignStrategy.ROUND_ROBIN,
            actor=AGENT,
        )


async def test_a_note_is_stored_as_an_internal_message_and_changes_no_status() -> None:
    world = World()
    conversation = world.conversation()

    note = await world.service.create_note(TENANT, ALL, conversation.id, "VIP, be nice", AGENT)

    assert (note.internal_note, note.sent_by, note.text) == (True, AGENT, "VIP, be nice")
    assert world.store.messages == [note]
    stored = world.store.conversations[conversation.id]
    assert (stored.status, stored.follow_ups) == (S.UNREAD, 2)
    assert world.store.events == []
    with pytest.raises(InvalidArgument):
        await world.service.create_note(TENANT, ALL, conversation.id, "   ", AGENT)


async def test_labels_are_the_tenants_own_and_unknown_ones_are_refused() -> None:
    world = World()
    conversation = world.conversation()
    complaint = await world.service.create_label(TENANT, "  Complaint ")
    refund = await world.service.create_label(TENANT, "Refund")

    with pytest.raises(AlreadyExists):
        await world.service.create_label(TENANT, "complaint")
    with pytest.raises(InvalidArgument) as refused:
        await world.service.set_labels(TENANT, ALL, conversation.id, [refund.id, "nope"])
    assert [v.field for v in refused.value.violations] == ["labels[1]"]

    labelled = await world.service.set_labels(
        TENANT, ALL, conversation.id, [refund.id, complaint.id]
    )

    assert complaint.display_name == "Complaint"
    assert set(labelled.labels) == {refund.id, complaint.id}
    other_tenant = await world.service.create_label("t-2", "Complaint")
    with pytest.raises(InvalidArgument):
        await world.service.set_labels(TENANT, ALL, conversation.id, [other_tenant.id])


async def test_a_customer_snapshot_is_kept_only_when_newer() -> None:
    world = World()
    conversation = world.conversation(customer="customers/c-9")
    v2 = CustomerSnapshot("customers/c-9", 2, owner_member_id="m-1", department_id="d-1")
    v1 = CustomerSnapshot("customers/c-9", 1, owner_member_id="m-old")

    kept = await apply_customer_snapshot(world.new_uow, TENANT, v2, T0)
    stale = await apply_customer_snapshot(world.new_uow, TENANT, v1, T0)
    repeated = await apply_customer_snapshot(world.new_uow, TENANT, v2, T0)

    assert (kept, stale, repeated) == (True, False, False)
    assert world.store.snapshots[(TENANT, "customers/c-9")] == v2
    stored = world.store.conversations[conversation.id]
    assert (stored.owner_member_id, stored.department_id) == ("m-1", "d-1")
