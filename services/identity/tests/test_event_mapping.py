"""The use cases' domain events become the contract's event protos (adapters/mapping.event_pb),
the same protos the use cases built themselves before."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message

from crosstalk.events.v1 import identity_events_pb2 as ev
from crosstalk.identity.v1 import resources_pb2
from crosstalk_common.permissions import DataScope
from identity.adapters.mapping import event_pb
from identity.domain.events import (
    IdentityEvent,
    MemberCreated,
    MemberDeleted,
    MemberDisabled,
    MemberUpdated,
    RoleChanged,
    TenantCreated,
    TenantSettingsChanged,
)
from identity.domain.model import Member, MemberAvailability, MemberState, Role, Tenant
from tests.event_mapping import assert_same_event

WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
MEMBER = Member(
    id="m1",
    tenant_id="t1",
    email="anna@example.com",
    display_name="Anna",
    role="agent",
    created_at=WHEN,
    department_id="d1",
    groups=("g1", "g2"),
    languages=("de", "en"),
    capacity=8,
    availability=MemberAvailability.AWAY,
)
# no department, no groups: the proto leaves them empty
LONE = Member(
    id="m2",
    tenant_id="t1",
    email="bo@example.com",
    display_name="Bo",
    role="admin",
    created_at=WHEN,
    state=MemberState.DISABLED,
)
ROLE = Role(
    id="r1",
    tenant_id="t1",
    display_name="Support",
    permissions=frozenset({"customers.update", "customers.get"}),
    data_scope=DataScope.DEPARTMENT,
    include_sub_departments=True,
)

CASES: list[tuple[IdentityEvent, Message]] = [
    (
        TenantCreated(
            Tenant(
                id="t1",
                display_name="Acme",
                industry="retail",
                team_size=5,
                working_language="de",
                created_at=WHEN,
            ),
            admin_member_id="m1",
        ),
        ev.TenantCreated(
            tenant="tenants/t1",
            display_name="Acme",
            industry="retail",
            working_language="de",
            admin_member="members/m1",
        ),
    ),
    (
        TenantSettingsChanged(
            tenant_id="t1",
            changed_fields=("session_idle_minutes", "max_filter_conditions"),
            max_filter_conditions=20,
            actor="members/m1",
        ),
        ev.TenantSettingsChanged(
            tenant="tenants/t1",
            changed_fields=["max_filter_conditions", "session_idle_minutes"],
            max_filter_conditions=20,
            actor="members/m1",
        ),
    ),
    (
        MemberCreated(MEMBER, led_group_ids=("g2",)),
        ev.MemberCreated(
            member="members/m1",
            email="anna@example.com",
            display_name="Anna",
            department="departments/d1",
            role="roles/agent",
            groups=["groups/g1", "groups/g2"],
            languages=["de", "en"],
            capacity=8,
            availability=resources_pb2.MEMBER_AVAILABILITY_AWAY,
            enabled=True,
            led_groups=["groups/g2"],
        ),
    ),
    (
        MemberCreated(LONE),
        ev.MemberCreated(
            member="members/m2",
            email="bo@example.com",
            display_name="Bo",
            role="roles/admin",
            availability=resources_pb2.MEMBER_AVAILABILITY_AVAILABLE,
        ),
    ),
    (
        MemberUpdated(MEMBER, ("role", "department"), led_group_ids=("g2", "g1")),
        ev.MemberUpdated(
            member="members/m1",
            changed_fields=["department", "role"],
            display_name="Anna",
            department="departments/d1",
            role="roles/agent",
            groups=["groups/g1", "groups/g2"],
            email="anna@example.com",
            languages=["de", "en"],
            capacity=8,
            availability=resources_pb2.MEMBER_AVAILABILITY_AWAY,
            enabled=True,
            led_groups=["groups/g1", "groups/g2"],
        ),
    ),
    (
        MemberUpdated(LONE, ("state",)),
        ev.MemberUpdated(
            member="members/m2",
            changed_fields=["state"],
            display_name="Bo",
            role="roles/admin",
            email="bo@example.com",
            availability=resources_pb2.MEMBER_AVAILABILITY_AVAILABLE,
        ),
    ),
    (
        MemberDisabled(member_id="m1", reason="left", actor="members/m2"),
        ev.MemberDisabled(member="members/m1", reason="left", actor="members/m2"),
    ),
    (
        MemberDeleted(member_id="m1", actor="members/m2"),
        ev.MemberDeleted(member="members/m1", actor="members/m2"),
    ),
    (
        RoleChanged(ROLE, "members/m1"),
        ev.RoleChanged(
            role="roles/r1",
            display_name="Support",
            permissions=["customers.get", "customers.update"],
            data_scope=resources_pb2.DATA_SCOPE_DEPARTMENT,
            include_sub_departments=True,
            actor="members/m1",
        ),
    ),
    *[
        (
            RoleChanged(Role("r2", "t1", "Viewer", frozenset(), scope), "members/m1", deleted=True),
            ev.RoleChanged(
                role="roles/r2",
                display_name="Viewer",
                data_scope=resources_pb2.DataScope.Value(f"DATA_SCOPE_{scope.name}"),
                deleted=True,
                actor="members/m1",
            ),
        )
        for scope in DataScope
    ],
]


@pytest.mark.parametrize(("event", "proto"), CASES, ids=lambda c: type(c).__name__)
def test_each_identity_event_maps_to_its_proto(event: IdentityEvent, proto: Message) -> None:
    assert_same_event(event_pb(event), proto)


def test_a_proto_is_staged_as_it_is_and_anything_else_is_refused() -> None:
    deleted = ev.MemberDeleted(member="members/m1")
    assert event_pb(deleted) is deleted
    with pytest.raises(TypeError):
        event_pb("member.deleted")  # type: ignore[arg-type]
