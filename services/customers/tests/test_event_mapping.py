"""The use cases' domain events become the contract's event protos (adapters/mapping.event_pb)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from crosstalk.common.v1 import channel_pb2, lifecycle_stage_pb2, money_pb2
from crosstalk.events.v1 import customer_events_pb2 as ev
from crosstalk.events.v1 import rule_events_pb2
from crosstalk_common.bus.catalogue import event_type_of
from crosstalk_common.domain.channel import Channel
from customers.adapters.mapping import event_pb
from customers.domain.events import (
    CustomerBlacklisted,
    CustomerCreated,
    CustomerDeleted,
    CustomerEvent,
    CustomerMerged,
    CustomerScored,
    CustomerSnapshot,
    CustomerStageChanged,
    CustomerTagged,
    CustomerTierChanged,
    CustomerUntagged,
    CustomerUpdated,
    OrderRecorded,
    RuleActionCompleted,
    RuleActionOutcome,
)
from customers.domain.model import (
    ChannelIdentity,
    Customer,
    LifecycleStage,
    Money,
    Order,
)
from tests.event_mapping import assert_same_event

WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def test_each_customer_event_maps_to_its_proto() -> None:
    customer = Customer(
        id="c1",
        tenant_id="t",
        display_name="Anna",
        identities=(ChannelIdentity(Channel.WHATSAPP, "+4915100", ""),),
        owner_member_id="m1",
        department_id="",
    )
    order = Order(
        id="o1",
        tenant_id="t",
        customer_id="c1",
        external_id="A-1",
        store="amazon-de",
        amount=Money("EUR", 12, 500_000_000),
        item_count=1,
        order_time=WHEN,
    )
    order_time = Timestamp()
    order_time.FromDatetime(WHEN)
    expected = [
        (
            CustomerCreated(customer),
            ev.CustomerCreated(
                customer="customers/c1",
                display_name="Anna",
                identities=[
                    channel_pb2.ChannelIdentity(
                        channel=channel_pb2.CHANNEL_WHATSAPP, external_id="+4915100"
                    )
                ],
                owner="members/m1",
            ),
        ),
        (
            CustomerUpdated("c1", ("emails", "phones"), "members/m1"),
            ev.CustomerUpdated(
                customer="customers/c1", changed_fields=["emails", "phones"], actor="members/m1"
            ),
        ),
        (CustomerDeleted("c1"), ev.CustomerDeleted(customer="customers/c1")),
        (
            CustomerStageChanged("c1", None, LifecycleStage.INTENT, "asked", "rules/r1", "e1"),
            ev.CustomerStageChanged(
                customer="customers/c1",
                from_stage=lifecycle_stage_pb2.LIFECYCLE_STAGE_UNSPECIFIED,
                to_stage=lifecycle_stage_pb2.LIFECYCLE_STAGE_INTENT,
                reason="asked",
                actor="rules/r1",
                cause_event_id="e1",
            ),
        ),
        (
            CustomerBlacklisted("c1", "fraud", "members/m1"),
            ev.CustomerBlacklisted(customer="customers/c1", reason="fraud", actor="members/m1"),
        ),
        (
            CustomerScored("c1", -3, 7, "complaint", "members/m1", ""),
            ev.CustomerScored(
                customer="customers/c1",
                delta=-3,
                score=7,
                reason="complaint",
                source="members/m1",
            ),
        ),
        (
            OrderRecorded(order, order_count=2, order_value=Money("EUR", 20)),
            ev.OrderRecorded(
                order="customers/c1/orders/o1",
                customer="customers/c1",
                external_id="A-1",
                store="amazon-de",
                amount=money_pb2.Money(currency_code="EUR", units=12, nanos=500_000_000),
                order_time=order_time,
                order_count=2,
                order_value=money_pb2.Money(currency_code="EUR", units=20),
            ),
        ),
    ]
    for event, proto in expected:
        assert_same_event(event_pb(event), proto)


# The events of tags, tiers, merges, points expiry, bulk operations and imports, and
# the protos those use cases built themselves before they staged domain events.
STAGED_BY_THE_OTHER_USE_CASES: list[tuple[CustomerEvent, Message]] = [
    (  # points expiry, an import's update: owner and department after the change
        CustomerUpdated("c1", ("points_balance",), "system", "m1", "d1"),
        ev.CustomerUpdated(
            customer="customers/c1",
            changed_fields=["points_balance"],
            owner="members/m1",
            department="departments/d1",
            actor="system",
        ),
    ),
    (  # a bulk owner assignment to a customer left without department
        CustomerUpdated("c2", ("owner",), "members/m9", owner_member_id="m2"),
        ev.CustomerUpdated(
            customer="customers/c2",
            changed_fields=["owner"],
            owner="members/m2",
            actor="members/m9",
        ),
    ),
    (  # a rule's tag action
        CustomerTagged("c1", ("t1", "t2"), "e1"),
        ev.CustomerTagged(
            customer="customers/c1", tags=["tags/t1", "tags/t2"], cause_event_id="e1"
        ),
    ),
    (  # by hand, a bulk operation, an import
        CustomerTagged("c1", ("t1",)),
        ev.CustomerTagged(customer="customers/c1", tags=["tags/t1"]),
    ),
    (
        CustomerUntagged("c1", ("t2", "t3"), "e2"),
        ev.CustomerUntagged(
            customer="customers/c1", tags=["tags/t2", "tags/t3"], cause_event_id="e2"
        ),
    ),
    (  # a deleted tag
        CustomerUntagged("c1", ("t2",)),
        ev.CustomerUntagged(customer="customers/c1", tags=["tags/t2"]),
    ),
    (
        CustomerTierChanged("c1", "", "gold", "r1"),
        ev.CustomerTierChanged(
            customer="customers/c1", to_tier="tiers/gold", tier_rule="tierRules/r1"
        ),
    ),
    (
        CustomerTierChanged("c1", "gold", "", ""),
        ev.CustomerTierChanged(customer="customers/c1", from_tier="tiers/gold"),
    ),
    (
        CustomerMerged("c1", ("c2", "c3"), "members/m1"),
        ev.CustomerMerged(
            customer="customers/c1",
            merged_customers=["customers/c2", "customers/c3"],
            actor="members/m1",
        ),
    ),
    (  # a bulk score adjustment, caused by no event
        CustomerScored("c1", 5, 12, "campaign", "members/m1"),
        ev.CustomerScored(
            customer="customers/c1", delta=5, score=12, reason="campaign", source="members/m1"
        ),
    ),
]


@pytest.mark.parametrize(
    ("event", "proto"), STAGED_BY_THE_OTHER_USE_CASES, ids=lambda c: type(c).__name__
)
def test_the_other_use_cases_events_map_to_the_protos_they_built(
    event: CustomerEvent, proto: Message
) -> None:
    assert_same_event(event_pb(event), proto)
    # the timeline records the event's catalogue type, as it did the proto's
    assert event.type == event_type_of(proto).type


def test_a_proto_is_staged_as_it_is() -> None:
    tagged = ev.CustomerTagged(customer="customers/c1", tags=["tags/t1"])
    assert event_pb(tagged) is tagged


def test_an_event_carries_its_snapshot_of_the_customer_after_the_change() -> None:
    snapshot = CustomerSnapshot(
        version=7,
        display_name="Anna",
        owner_member_id="m1",
        department_id="d1",
        tags=(("t1", "VIP"), ("t2", "After-sales")),
        tier_label="Gold",
        score=12,
        points=40,
        lifecycle_stage=LifecycleStage.INTENT,
        country="DE",
        language="de",
        custom_fields={"vip_code": "A7", "visits": 4.0, "opt_in": False, "sizes": ["S", "M"]},
        order_count=3,
        order_total=Money("EUR", 20, 500_000_000),
        last_order_time=WHEN,
        blacklisted=True,
        identities=(ChannelIdentity(Channel.WHATSAPP, "+4915100", ""),),
    )
    last_order = Timestamp()
    last_order.FromDatetime(WHEN)
    expected_snapshot = ev.CustomerSnapshot(
        version=7,
        display_name="Anna",
        owner="members/m1",
        department="departments/d1",
        tags=["tags/t2", "tags/t1"],  # by display name
        tag_labels=["After-sales", "VIP"],
        tier="Gold",
        score=12,
        points=40,
        lifecycle_stage=lifecycle_stage_pb2.LIFECYCLE_STAGE_INTENT,
        country="DE",
        language="de",
        custom_fields={"vip_code": "A7", "visits": "4", "opt_in": "false", "sizes": "S, M"},
        order_count=3,
        order_total=money_pb2.Money(currency_code="EUR", units=20, nanos=500_000_000),
        last_order_time=last_order,
        blacklisted=True,
        identities=[
            channel_pb2.ChannelIdentity(
                channel=channel_pb2.CHANNEL_WHATSAPP, external_id="+4915100"
            )
        ],
    )
    assert_same_event(
        event_pb(CustomerTagged("c1", ("t1",), snapshot=snapshot)),
        ev.CustomerTagged(customer="customers/c1", tags=["tags/t1"], snapshot=expected_snapshot),
    )
    assert_same_event(
        event_pb(CustomerScored("c1", 2, 12, "r", "members/m1", snapshot=snapshot)),
        ev.CustomerScored(
            customer="customers/c1",
            delta=2,
            score=12,
            reason="r",
            source="members/m1",
            snapshot=expected_snapshot,
        ),
    )


def test_a_deleted_customer_s_snapshot_says_deleted_and_nothing_else() -> None:
    gone = CustomerSnapshot(version=9, deleted=True)
    assert_same_event(
        event_pb(CustomerDeleted("c1", snapshot=gone)),
        ev.CustomerDeleted(
            customer="customers/c1", snapshot=ev.CustomerSnapshot(version=9, deleted=True)
        ),
    )


def test_a_rule_action_s_outcome_maps_to_customer_rule_action_completed() -> None:
    event = RuleActionCompleted(
        rule="rules/r1",
        run="rules/r1/runs/u1",
        action_index=2,
        action_type="rule.action.tag",
        outcome=RuleActionOutcome.SKIPPED,
        reason="the customer is gone",
    )
    assert event.subject_id == ""  # no snapshot for it
    assert_same_event(
        event_pb(event),
        rule_events_pb2.CustomerRuleActionCompleted(
            rule="rules/r1",
            run="rules/r1/runs/u1",
            action_index=2,
            action_type="rule.action.tag",
            outcome=rule_events_pb2.RULE_ACTION_OUTCOME_SKIPPED,
            reason="the customer is gone",
        ),
    )
