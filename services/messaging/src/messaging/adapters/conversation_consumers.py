"""Events the conversations area keeps projections of: customers (the snapshot every
customer event carries) and identity's members (groups, languages, capacity, availability).

Each handler runs its use case in the consumer's transaction (``in_unit_of_work``; customer
events a fetched batch at a time, ``scoped_batch_in_unit_of_work``), so the projection rows
and the inbox entries commit together.
"""

from __future__ import annotations

from collections.abc import Sequence

from crosstalk.events.v1 import customer_events_pb2, identity_events_pb2
from crosstalk.identity.v1 import resources_pb2 as identity_pb2
from crosstalk_common.bus.consumer import Subscription, Within
from crosstalk_common.bus.envelope import Event
from crosstalk_common.clock import utc_now
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from messaging.app.conversation_ports import ConversationUnitOfWork
from messaging.app.conversations import apply_customer_snapshots, apply_member, remove_member
from messaging.domain.conversation_assignment import Availability
from messaging.domain.conversation_projections import CustomerSnapshot, MemberProfile

CUSTOMER_EVENT_TYPES = (
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.tagged",
    "customer.untagged",
    "customer.scored",
    "customer.tier_changed",
    "customer.stage_changed",
    "customer.blacklisted",
    "customer.merged",
    "order.recorded",
)
CUSTOMERS = Subscription(
    durable="messaging-customer-snapshots",
    producer="customers",
    event_types=list(CUSTOMER_EVENT_TYPES),
)
MEMBERS = Subscription(
    durable="messaging-members",
    producer="identity",
    event_types=["member.created", "member.updated", "member.disabled", "member.deleted"],
)

_AVAILABILITY = {
    identity_pb2.MEMBER_AVAILABILITY_UNSPECIFIED: Availability.UNKNOWN,
    identity_pb2.MEMBER_AVAILABILITY_AVAILABLE: Availability.AVAILABLE,
    identity_pb2.MEMBER_AVAILABILITY_AWAY: Availability.AWAY,
    identity_pb2.MEMBER_AVAILABILITY_OFFLINE: Availability.OFFLINE,
}


def _id(name: str, collection: str) -> str:
    return name.removeprefix(f"{collection}/") if name.startswith(f"{collection}/") else name


def snapshot_from_pb(
    customer: str, snapshot: customer_events_pb2.CustomerSnapshot
) -> CustomerSnapshot:
    return CustomerSnapshot(
        customer=customer,
        version=snapshot.version,
        display_name=snapshot.display_name,
        owner_member_id=_id(snapshot.owner, "members"),
        department_id=_id(snapshot.department, "departments"),
        tier=snapshot.tier,
        tags=tuple(snapshot.tags),
        tag_labels=tuple(snapshot.tag_labels),
        language=snapshot.language,
        blacklisted=snapshot.blacklisted,
        deleted=snapshot.deleted,
    )


def _snapshot_of(event: Event) -> CustomerSnapshot | None:
    """The snapshot a customer event carries; None without one (version 0: a producer
    that does not fill it yet), which changes nothing."""
    payload = event.payload
    customer = getattr(payload, "customer", "")
    if not customer or not payload.HasField("snapshot"):
        return None
    snapshot = payload.snapshot  # type: ignore[attr-defined]
    if snapshot.version <= 0:
        return None
    return snapshot_from_pb(customer, snapshot)


async def on_customer_events(
    new_uow: UnitOfWorkFactory[ConversationUnitOfWork], events: Sequence[Event], _within: Within
) -> None:
    """A fetched batch of customer events (any type, whatever rule runs caused them): of
    each customer, the newest snapshot is kept if newer than the one held; one unit of
    work per tenant in the batch. It emits nothing and calls nothing, so no event's span
    or causation needs to be current; every failure propagates (the consumer rolls the
    batch back), so its units of work need no savepoint."""
    by_tenant: dict[str, list[CustomerSnapshot]] = {}
    for event in events:
        snapshot = _snapshot_of(event)
        if snapshot is not None:
            by_tenant.setdefault(event.tenant_id, []).append(snapshot)
    now = utc_now()
    for tenant_id, snapshots in by_tenant.items():
        await apply_customer_snapshots(new_uow, tenant_id, snapshots, now)


def member_from_pb(
    payload: identity_events_pb2.MemberCreated | identity_events_pb2.MemberUpdated,
) -> MemberProfile:
    return MemberProfile(
        member=payload.member,
        display_name=payload.display_name,
        groups=tuple(payload.groups),
        languages=tuple(payload.languages),
        capacity=payload.capacity,
        availability=_AVAILABILITY.get(payload.availability, Availability.UNKNOWN),
        enabled=payload.enabled or _from_a_producer_without_the_new_fields(payload),
    )


def _from_a_producer_without_the_new_fields(
    payload: identity_events_pb2.MemberCreated | identity_events_pb2.MemberUpdated,
) -> bool:
    """An identity that does not fill languages, capacity, availability and enabled yet
    leaves them all unset; its members are taken as enabled (member.disabled and
    member.deleted still take them out)."""
    return (
        not payload.languages
        and payload.capacity == 0
        and payload.availability == identity_pb2.MEMBER_AVAILABILITY_UNSPECIFIED
        and not payload.led_groups
    )


async def on_member_event(new_uow: UnitOfWorkFactory[ConversationUnitOfWork], event: Event) -> None:
    payload = event.payload
    if isinstance(payload, identity_events_pb2.MemberCreated | identity_events_pb2.MemberUpdated):
        await apply_member(new_uow, event.tenant_id, member_from_pb(payload), utc_now())
    elif isinstance(
        payload, identity_events_pb2.MemberDisabled | identity_events_pb2.MemberDeleted
    ):
        await remove_member(new_uow, event.tenant_id, payload.member)
