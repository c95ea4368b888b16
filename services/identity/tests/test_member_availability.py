"""Members' languages, capacity and availability (for messaging's assignment):
set by the member themself or by whoever manages members, validated, and
announced with member.created / member.updated, which also say which groups
the member leads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from crosstalk.events.v1 import identity_events_pb2
from crosstalk.identity.v1 import resources_pb2
from crosstalk_common.errors import InvalidArgument, PermissionDenied
from crosstalk_common.permissions import BUILT_IN_ROLES
from identity.domain.model import Group, Member, MemberAvailability
from services.identity.tests.conftest import PASSWORD, Env, member_actor

AGENT = BUILT_IN_ROLES["normal"].permissions  # no members.manage


def draft(**fields: object) -> Member:
    return Member(
        id="",
        tenant_id="",
        email=f"m-{uuid.uuid4().hex[:10]}@example.com",
        display_name="Mei Member",
        role="normal",
        created_at=datetime.now(UTC),
        **fields,  # type: ignore[arg-type]
    )


def _payload(envelope: object, message: type) -> object:
    payload = message()
    envelope.payload.Unpack(payload)  # type: ignore[attr-defined]
    return payload


async def test_a_member_sets_their_own_languages_capacity_and_availability(env: Env) -> None:
    tenant, _, admin = await env.sign_up()
    member = await env.app.members.create(admin, draft(), initial_password=PASSWORD)
    assert (member.capacity, member.availability) == (0, MemberAvailability.AVAILABLE)
    me = member_actor(member, AGENT)

    updated = await env.app.members.update(
        me,
        member.id,
        replace(
            member, languages=("de", "zh-CN"), capacity=5, availability=MemberAvailability.AWAY
        ),
        ["languages", "capacity", "availability"],
        member.etag,
    )
    assert (updated.languages, updated.capacity, updated.availability) == (
        ("de", "zh-CN"),
        5,
        MemberAvailability.AWAY,
    )
    assert await env.app.members.get(admin, member.id) == updated

    events = await env.events(tenant.id, "member.updated")
    last = _payload(events[-1], identity_events_pb2.MemberUpdated)
    assert isinstance(last, identity_events_pb2.MemberUpdated)
    assert last.member == f"members/{member.id}"
    assert sorted(last.changed_fields) == ["availability", "capacity", "languages"]
    assert (list(last.languages), last.capacity, last.availability) == (
        ["de", "zh-CN"],
        5,
        resources_pb2.MEMBER_AVAILABILITY_AWAY,
    )
    assert (last.email, last.display_name, last.role, last.enabled) == (
        member.email,
        "Mei Member",
        "roles/normal",
        True,
    )
    created = _payload(
        next(
            e
            for e in await env.events(tenant.id, "member.created")
            if _payload(e, identity_events_pb2.MemberCreated).member  # type: ignore[attr-defined]
            == f"members/{member.id}"
        ),
        identity_events_pb2.MemberCreated,
    )
    assert isinstance(created, identity_events_pb2.MemberCreated)
    assert (created.capacity, created.availability, created.enabled) == (
        0,
        resources_pb2.MEMBER_AVAILABILITY_AVAILABLE,
        True,
    )


async def test_a_member_changes_nothing_else_and_nobody_else_without_members_manage(
    env: Env,
) -> None:
    _, _, admin = await env.sign_up()
    member = await env.app.members.create(admin, draft(), initial_password=PASSWORD)
    other = await env.app.members.create(admin, draft(), initial_password=PASSWORD)
    me = member_actor(member, AGENT)
    with pytest.raises(PermissionDenied):  # their own role: members.manage
        await env.app.members.update(
            me, member.id, replace(member, role="admin"), ["role"], member.etag
        )
    with pytest.raises(PermissionDenied):  # someone else's availability
        await env.app.members.update(
            me,
            other.id,
            replace(other, availability=MemberAvailability.OFFLINE),
            ["availability"],
            other.etag,
        )
    # whoever manages members may
    set_by_admin = await env.app.members.update(
        admin,
        other.id,
        replace(other, availability=MemberAvailability.OFFLINE, capacity=1000),
        ["availability", "capacity"],
        other.etag,
    )
    assert (set_by_admin.availability, set_by_admin.capacity) == (MemberAvailability.OFFLINE, 1000)
    assert (await env.app.members.get(admin, member.id)).role == "normal"


async def test_bad_languages_and_capacity_name_the_field_and_change_nothing(env: Env) -> None:
    _, _, admin = await env.sign_up()
    member = await env.app.members.create(admin, draft(), initial_password=PASSWORD)
    me = member_actor(member, AGENT)
    with pytest.raises(InvalidArgument) as caught:
        await env.app.members.update(
            me,
            member.id,
            replace(member, languages=("en", "english"), capacity=1001),
            ["languages", "capacity"],
            member.etag,
        )
    assert {v.field for v in caught.value.violations} == {
        "member.languages[1]",
        "member.capacity",
    }
    with pytest.raises(InvalidArgument) as caught:
        await env.app.members.create(admin, draft(capacity=-1))
    assert [v.field for v in caught.value.violations] == ["member.capacity"]
    assert await env.app.members.get(admin, member.id) == member


async def test_leading_a_group_is_announced_to_the_leader(env: Env) -> None:
    tenant, _, admin = await env.sign_up()
    lead = await env.app.members.create(admin, draft(), initial_password=PASSWORD)
    helper = await env.app.members.create(admin, draft(), initial_password=PASSWORD)
    group = await env.app.groups.create(
        admin,
        Group("", "", "Service desk", member_ids=(lead.id, helper.id), leader_id=lead.id),
    )

    def updates_of(
        member_id: str, events: Sequence[object]
    ) -> list[identity_events_pb2.MemberUpdated]:
        found = [_payload(e, identity_events_pb2.MemberUpdated) for e in events]
        return [
            p
            for p in found
            if isinstance(p, identity_events_pb2.MemberUpdated)
            and p.member == f"members/{member_id}"
        ]

    events = await env.events(tenant.id, "member.updated")
    (lead_update,) = updates_of(lead.id, events)
    assert sorted(lead_update.changed_fields) == ["groups", "led_groups"]
    assert list(lead_update.led_groups) == [f"groups/{group.id}"]
    assert list(lead_update.groups) == [f"groups/{group.id}"]
    (helper_update,) = updates_of(helper.id, events)
    assert list(helper_update.led_groups) == []

    # The lead hands over to the helper: both hear of it.
    await env.app.groups.update(
        admin, group.id, replace(group, leader_id=helper.id), ["leader"], group.etag
    )
    events = await env.events(tenant.id, "member.updated")
    assert list(updates_of(lead.id, events)[-1].led_groups) == []
    assert list(updates_of(lead.id, events)[-1].changed_fields) == ["led_groups"]
    assert list(updates_of(helper.id, events)[-1].led_groups) == [f"groups/{group.id}"]
