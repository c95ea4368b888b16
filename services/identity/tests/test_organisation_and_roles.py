"""Departments, groups, roles and permission checks."""

from __future__ import annotations

import pytest

from crosstalk_common.auth.tokens import verify_access_token
from crosstalk_common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from crosstalk_common.permissions import BUILT_IN_ROLES, DataScope
from identity.domain.model import Department, Group, GroupKind, Role
from services.identity.tests.conftest import PASSWORD, Env
from services.identity.tests.test_members import draft


async def test_department_tree_refuses_cycles_and_non_empty_deletes(env: Env) -> None:
    _, _, actor = await env.sign_up()
    sales = await env.app.departments.create(actor, Department("", "", "Sales"))
    de = await env.app.departments.create(actor, Department("", "", "DE", parent_id=sales.id))
    berlin = await env.app.departments.create(actor, Department("", "", "Berlin", parent_id=de.id))
    with pytest.raises(InvalidArgument) as caught:
        await env.app.departments.update(
            actor, sales.id, Department("", "", "", parent_id=berlin.id), ["parent"], ""
        )
    assert caught.value.violations[0].field == "department.parent"
    with pytest.raises(InvalidArgument):
        await env.app.departments.update(
            actor, sales.id, Department("", "", "", parent_id=sales.id), ["parent"], ""
        )
    with pytest.raises(AlreadyExists):
        await env.app.departments.create(actor, Department("", "", "de", parent_id=sales.id))
    with pytest.raises(InvalidArgument) as caught:
        await env.app.departments.create(actor, Department("", "", "A/B"))
    assert caught.value.violations[0].field == "department.display_name"

    with pytest.raises(FailedPrecondition) as refused:
        await env.app.departments.delete(actor, de.id, "")
    assert refused.value.violations[0].type == "DEPARTMENT_HAS_CHILDREN"
    member = await env.app.members.create(actor, draft(department_id=berlin.id))
    with pytest.raises(FailedPrecondition) as refused:
        await env.app.departments.delete(actor, berlin.id, "")
    assert refused.value.violations[0].type == "DEPARTMENT_HAS_MEMBERS"
    assert (await env.app.departments.get(actor, berlin.id)).member_count == 1
    await env.app.members.delete(actor, member.id, "")
    await env.app.departments.delete(actor, berlin.id, "")
    with pytest.raises(NotFound):
        await env.app.departments.get(actor, berlin.id)
    moved = await env.app.departments.update(
        actor, de.id, Department("", "", "", parent_id=""), ["parent"], de.etag
    )
    assert moved.parent_id == ""
    children = await env.app.departments.page(actor, sales.id, after=[], limit=10)
    assert children == []


async def test_group_permissions_add_to_the_role_in_the_token(env: Env) -> None:
    _, _, actor = await env.sign_up()
    member = await env.app.members.create(
        actor, draft(role="restricted"), initial_password=PASSWORD
    )
    assert "customers.export" not in BUILT_IN_ROLES["restricted"].permissions
    group = await env.app.groups.create(
        actor,
        Group(
            "",
            "",
            "Marketing crew",
            GroupKind.MARKETING,
            member_ids=(member.id,),
            leader_id=member.id,
            permissions=frozenset({"customers.export"}),
        ),
    )
    assert (await env.app.members.get(actor, member.id)).groups == (group.id,)
    pair = await env.app.auth.login(member.email, PASSWORD)
    claims = verify_access_token(pair.access_token, await env.key_source.public_keys())
    assert "customers.export" in claims.permissions
    assert BUILT_IN_ROLES["restricted"].permissions <= claims.permissions
    assert claims.data_scope is DataScope.OWN

    with pytest.raises(InvalidArgument) as caught:
        await env.app.groups.create(
            actor, Group("", "", "Bad", permissions=frozenset({"customers.fly"}))
        )
    assert caught.value.violations[0].field == "group.permissions[0]"
    custom = await env.app.groups.create(actor, Group("", "", "Night shift"))
    assert custom.kind is GroupKind.CUSTOM
    await env.app.groups.delete(actor, group.id, "")
    assert (await env.app.members.get(actor, member.id)).groups == ()


async def test_built_in_roles_are_fixed_and_custom_roles_validated(env: Env) -> None:
    tenant, _, actor = await env.sign_up()
    with pytest.raises(FailedPrecondition):
        await env.app.roles.update(
            actor,
            "normal",
            Role("", "", "Renamed", frozenset(), DataScope.ALL),
            [],
            ["display_name"],
            "",
        )
    with pytest.raises(FailedPrecondition):
        await env.app.roles.delete(actor, "restricted", "")
    with pytest.raises(InvalidArgument) as caught:
        await env.app.roles.create(
            actor,
            Role("", "", "Exporter", frozenset({"customers.export", "nope"}), DataScope.DEPARTMENT),
            ["customers.export", "nope"],
        )
    assert caught.value.violations[0].field == "role.permissions[1]"
    role = await env.app.roles.create(
        actor,
        Role(
            "",
            "",
            "Exporter",
            frozenset({"customers.read", "customers.export"}),
            DataScope.DEPARTMENT,
        ),
        ["customers.read", "customers.export"],
    )
    assert not role.built_in
    with pytest.raises(AlreadyExists):
        await env.app.roles.create(actor, Role("", "", "Exporter", frozenset(), DataScope.OWN), [])
    member = await env.app.members.create(actor, draft(role=role.id))
    with pytest.raises(FailedPrecondition):
        await env.app.roles.delete(actor, role.id, "")
    updated = await env.app.roles.update(
        actor,
        role.id,
        Role("", "", "", frozenset({"customers.read"}), DataScope.ALL),
        ["customers.read"],
        ["permissions", "data_scope"],
        role.etag,
    )
    assert updated.permissions == frozenset({"customers.read"})
    assert updated.data_scope is DataScope.ALL
    changed = await env.events(tenant.id, "role.changed")
    assert len(changed) == 2
    await env.app.members.update(actor, member.id, draft(role="normal"), ["role"], "")
    await env.app.roles.delete(actor, role.id, "")
    assert len(await env.events(tenant.id, "role.changed")) == 3


async def test_check_permission_answers_from_the_current_role_and_scope(env: Env) -> None:
    _, admin, actor = await env.sign_up()
    sales = await env.app.departments.create(actor, Department("", "", "Sales"))
    de = await env.app.departments.create(actor, Department("", "", "DE", parent_id=sales.id))
    fr = await env.app.departments.create(actor, Department("", "", "FR"))
    senior = await env.app.members.create(actor, draft(role="senior", department_id=sales.id))
    agent = await env.app.members.create(actor, draft(role="normal", department_id=de.id))
    outsider = await env.app.members.create(actor, draft(role="normal", department_id=fr.id))
    principal = f"members/{senior.id}"

    yes = await env.app.roles.check(actor, principal, "customers.read", f"members/{agent.id}")
    assert yes.allowed
    assert yes.data_scope is DataScope.DEPARTMENT
    outside = await env.app.roles.check(
        actor, principal, "customers.read", f"members/{outsider.id}"
    )
    assert not outside.allowed
    assert "outside" in outside.reason
    lacking = await env.app.roles.check(actor, principal, "audit.read", "")
    assert not lacking.allowed
    own = await env.app.roles.check(
        actor, f"members/{agent.id}", "customers.read", f"members/{agent.id}"
    )
    assert own.allowed
    others = await env.app.roles.check(
        actor, f"members/{agent.id}", "customers.read", f"members/{senior.id}"
    )
    assert not others.allowed
    assert (await env.app.roles.check(actor, "", "audit.read", "")).allowed
    with pytest.raises(InvalidArgument):
        await env.app.roles.check(actor, principal, "customers.fly", "")

    # built-in roles follow the tenant's default for sub-departments
    await env.app.tenants.update_settings(
        actor, admin.tenant_id, {"include_sub_departments": False}, ""
    )
    narrowed = await env.app.roles.check(actor, principal, "customers.read", f"members/{agent.id}")
    assert not narrowed.allowed
