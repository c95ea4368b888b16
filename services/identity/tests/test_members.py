"""Members: create, change, disable, delete; what nobody may do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from crosstalk_common.permissions import BUILT_IN_ROLES
from identity.app.ports import MemberFilter
from identity.domain.model import AuditFilter, Department, Member, MemberState
from services.identity.tests.conftest import PASSWORD, Env, FakeClock, member_actor


def draft(email: str = "", **fields: object) -> Member:
    return Member(
        id="",
        tenant_id="",
        email=email or f"m-{uuid.uuid4().hex[:10]}@example.com",
        display_name=str(fields.pop("display_name", "Mei Member")),
        role=str(fields.pop("role", "normal")),
        created_at=datetime.now(UTC),
        **fields,  # type: ignore[arg-type]
    )


async def test_create_get_update_with_etag_and_events(env: Env, clock: FakeClock) -> None:
    tenant, _, actor = await env.sign_up()
    sales = await env.app.departments.create(actor, Department("", "", "Sales"))
    member = await env.app.members.create(
        actor,
        draft(
            email="  Mei@Example.COM ".replace("Mei", f"mei{uuid.uuid4().hex[:6]}"),
            phone="+86 138 0000 0000",
            department_id=sales.id,
            languages=("zh", "en", "zh"),
        ),
        initial_password=PASSWORD,
    )
    assert member.email == member.email.strip().lower()
    assert member.languages == ("zh", "en")
    assert member.has_password
    assert await env.app.members.get(actor, member.id) == member

    clock.advance(1)
    updated = await env.app.members.update(
        actor,
        member.id,
        draft(display_name="Mei Li", role="senior"),
        ["display_name", "role"],
        member.etag,
    )
    assert (updated.display_name, updated.role, updated.version) == ("Mei Li", "senior", 2)
    with pytest.raises(Aborted):
        await env.app.members.update(
            actor, member.id, draft(display_name="Stale"), ["display_name"], member.etag
        )
    created = await env.events(tenant.id, "member.created")
    assert any(f"members/{member.id}" in e.payload.value.decode(errors="ignore") for e in created)
    changed = await env.events(tenant.id, "member.updated")
    assert len(changed) == 1

    audit = await env.app.audit.page(
        actor, AuditFilter(target=f"members/{member.id}"), after=[], limit=10
    )
    assert [e.action for e in audit] == ["members.update", "members.create"]
    assert audit[0].before is not None
    assert audit[0].before["role"] == "roles/normal"
    assert audit[0].after is not None
    assert audit[0].after["role"] == "roles/senior"
    assert all("password_hash" not in str(e.before) + str(e.after) for e in audit)


async def test_bad_input_names_the_fields_and_writes_nothing(env: Env) -> None:
    _, _, actor = await env.sign_up()
    with pytest.raises(InvalidArgument) as caught:
        await env.app.members.create(
            actor,
            draft(email="not-an-email", display_name=" ", phone="call me", languages=("english",)),
        )
    assert {v.field for v in caught.value.violations} == {
        "member.email",
        "member.display_name",
        "member.phone",
        "member.languages[0]",
    }
    email = f"ghost-{uuid.uuid4().hex[:8]}@example.com"
    with pytest.raises(InvalidArgument) as caught:
        await env.app.members.create(actor, draft(email=email, groups=("no-such-group",)))
    assert caught.value.violations[0].field == "member.groups[0]"
    with pytest.raises(InvalidArgument) as caught:
        await env.app.members.create(actor, draft(email=email, role="no-such-role"))
    assert caught.value.violations[0].field == "member.role"
    with pytest.raises(InvalidArgument) as caught:
        await env.app.members.create(actor, draft(email=email), initial_password="short")
    assert caught.value.violations[0].field == "initial_password"
    found = await env.app.members.page(
        actor, MemberFilter(query=email), after=[], limit=10, include_sub_departments=False
    )
    assert found == []


async def test_emails_are_unique_across_tenants(env: Env) -> None:
    _, admin, actor = await env.sign_up()
    with pytest.raises(AlreadyExists):
        await env.app.members.create(actor, draft(email=admin.email))


async def test_disable_revokes_sessions_and_refresh_fails_enable_restores(env: Env) -> None:
    tenant, _, actor = await env.sign_up()
    member = await env.app.members.create(actor, draft(), initial_password=PASSWORD)
    pair = await env.app.auth.login(member.email, PASSWORD)
    disabled = await env.app.members.disable(actor, member.id, "left the company")
    assert disabled.state is MemberState.DISABLED
    with pytest.raises(Unauthenticated):
        await env.app.auth.refresh(pair.refresh_token)
    with pytest.raises(Unauthenticated) as caught:
        await env.app.auth.login(member.email, PASSWORD)
    assert caught.value.reason == "MEMBER_DISABLED"
    events = await env.events(tenant.id, "member.disabled")
    assert len(events) == 1
    enabled = await env.app.members.enable(actor, member.id)
    assert enabled.state is MemberState.ACTIVE
    assert (await env.app.auth.login(member.email, PASSWORD)).access_token


async def test_the_last_admin_cannot_be_removed_and_nobody_removes_themselves(env: Env) -> None:
    _, admin, actor = await env.sign_up()
    other_admin = await env.app.members.create(actor, draft(role="admin"))
    with pytest.raises(FailedPrecondition):
        await env.app.members.disable(actor, admin.id, "")
    second = member_actor(other_admin, BUILT_IN_ROLES["admin"].permissions)
    await env.app.members.disable(second, admin.id, "")
    with pytest.raises(FailedPrecondition) as caught:
        await env.app.members.update(second, other_admin.id, draft(role="normal"), ["role"], "")
    assert caught.value.reason == "LAST_ADMIN"


async def test_delete_removes_member_memberships_and_emits(env: Env) -> None:
    tenant, _, actor = await env.sign_up()
    member = await env.app.members.create(actor, draft(), initial_password=PASSWORD)
    await env.app.auth.login(member.email, PASSWORD)
    await env.app.members.delete(actor, member.id, member.etag)
    with pytest.raises(NotFound):
        await env.app.members.get(actor, member.id)
    assert len(await env.events(tenant.id, "member.deleted")) == 1


async def test_nobody_grants_permissions_they_lack(env: Env) -> None:
    _, _, actor = await env.sign_up()
    sales = await env.app.departments.create(actor, Department("", "", "Sales"))
    senior = await env.app.members.create(actor, draft(role="senior", department_id=sales.id))
    as_senior = member_actor(senior, BUILT_IN_ROLES["senior"].permissions | {"members.manage"})
    with pytest.raises(PermissionDenied) as caught:
        await env.app.members.create(as_senior, draft(role="admin", department_id=sales.id))
    assert caught.value.reason == "PRIVILEGE_ESCALATION"
    created = await env.app.members.create(as_senior, draft(role="normal", department_id=sales.id))
    assert created.role == "normal"
    # a member outside the senior's department would see records the senior cannot
    with pytest.raises(PermissionDenied) as caught:
        await env.app.members.create(as_senior, draft(role="normal"))
    assert caught.value.reason == "PRIVILEGE_ESCALATION"


async def test_members_without_a_password_cannot_sign_in_until_one_is_set(env: Env) -> None:
    _, _, actor = await env.sign_up()
    member = await env.app.members.create(actor, draft())
    assert not member.has_password
    with pytest.raises(Unauthenticated):
        await env.app.auth.login(member.email, PASSWORD)
    updated = await env.app.members.set_password(actor, member.id, PASSWORD)
    assert updated.has_password
    assert (await env.app.auth.login(member.email, PASSWORD)).access_token


async def test_create_is_idempotent_by_request_id(env: Env) -> None:
    _, _, actor = await env.sign_up()
    request_id = str(uuid.uuid4())
    first = await env.app.members.create(actor, draft(), request_id=request_id)
    again = await env.app.members.create(actor, draft(), request_id=request_id)
    assert again.id == first.id


async def test_list_filters_and_pages(env: Env) -> None:
    _, _, actor = await env.sign_up()
    parent = await env.app.departments.create(actor, Department("", "", "Sales"))
    child = await env.app.departments.create(actor, Department("", "", "DE", parent_id=parent.id))
    in_parent = await env.app.members.create(actor, draft(department_id=parent.id))
    in_child = await env.app.members.create(
        actor, draft(department_id=child.id, display_name="Zoë Zhang")
    )
    only_parent = await env.app.members.page(
        actor,
        MemberFilter(department_ids=frozenset({parent.id})),
        include_sub_departments=False,
        after=[],
        limit=10,
    )
    assert [m.id for m in only_parent] == [in_parent.id]
    with_children = await env.app.members.page(
        actor,
        MemberFilter(department_ids=frozenset({parent.id})),
        include_sub_departments=True,
        after=[],
        limit=10,
    )
    assert {m.id for m in with_children} == {in_parent.id, in_child.id}
    by_name = await env.app.members.page(
        actor, MemberFilter(query="zoë"), include_sub_departments=False, after=[], limit=10
    )
    assert [m.id for m in by_name] == [in_child.id]
    everyone = await env.app.members.page(
        actor, MemberFilter(), include_sub_departments=False, after=[], limit=100
    )
    first = await env.app.members.page(
        actor, MemberFilter(), include_sub_departments=False, after=[], limit=2
    )
    rest = await env.app.members.page(
        actor,
        MemberFilter(),
        include_sub_departments=False,
        after=[first[-1].created_at.isoformat(), first[-1].id],
        limit=100,
    )
    assert [m.id for m in first + rest] == [m.id for m in everyone]
