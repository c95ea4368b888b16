"""Another tenant's members, roles, departments, groups, keys, sessions and
audit rows do not exist for a caller: NOT_FOUND, never PERMISSION_DENIED."""

from __future__ import annotations

import pytest

from crosstalk_common.errors import NotFound
from crosstalk_common.permissions import DataScope
from identity.app.ports import MemberFilter
from identity.domain.model import AuditFilter, Department, Group, Role
from services.identity.tests.conftest import PASSWORD, Env
from services.identity.tests.test_members import draft


async def test_nothing_of_another_tenant_can_be_read_or_changed(env: Env) -> None:
    _, their_admin, them = await env.sign_up("Them")
    _, _, me = await env.sign_up("Me")
    member = await env.app.members.create(them, draft(), initial_password=PASSWORD)
    department = await env.app.departments.create(them, Department("", "", "Secret ops"))
    group = await env.app.groups.create(them, Group("", "", "Secret team"))
    role = await env.app.roles.create(
        them, Role("", "", "Secret role", frozenset({"customers.read"}), DataScope.ALL), []
    )
    key, _ = await env.app.api_keys.create(them, "Secret key", "normal", None)
    session = (await env.app.auth.login(member.email, PASSWORD)).session_id

    attempts = [
        env.app.members.get(me, member.id),
        env.app.members.update(me, member.id, draft(display_name="Pwned"), ["display_name"], ""),
        env.app.members.delete(me, member.id, ""),
        env.app.members.disable(me, member.id, ""),
        env.app.members.enable(me, member.id),
        env.app.members.set_password(me, member.id, "new password 123"),
        env.app.departments.get(me, department.id),
        env.app.departments.update(
            me, department.id, Department("", "", "Pwned"), ["display_name"], ""
        ),
        env.app.departments.delete(me, department.id, ""),
        env.app.groups.get(me, group.id),
        env.app.groups.update(me, group.id, Group("", "", "Pwned"), ["display_name"], ""),
        env.app.groups.delete(me, group.id, ""),
        env.app.roles.get(me, role.id),
        env.app.roles.update(
            me, role.id, Role("", "", "Pwned", frozenset(), DataScope.ALL), [], ["display_name"], ""
        ),
        env.app.roles.delete(me, role.id, ""),
        env.app.api_keys.get(me, key.id),
        env.app.api_keys.revoke(me, key.id),
        env.app.auth.sessions(me, member.id, show_inactive=True, after=[], limit=10),
        env.app.auth.revoke_session(me, member.id, session),
        env.app.roles.check(me, f"members/{member.id}", "customers.read", ""),
        env.app.roles.check(me, f"apiKeys/{key.id}", "customers.read", ""),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            await attempt

    # references to another tenant's resources are unknown too
    with pytest.raises(Exception) as caught:
        await env.app.members.create(me, draft(department_id=department.id))
    assert "no such department" in str(caught.value)

    # lists never show them
    assert all(
        m.tenant_id == me.tenant_id
        for m in await env.app.members.page(
            me, MemberFilter(), include_sub_departments=False, after=[], limit=200
        )
    )
    assert await env.app.departments.page(me, None, after=[], limit=50) == []
    assert await env.app.groups.page(me, kind=None, member_id="", after=[], limit=50) == []
    assert {r.id for r in await env.app.roles.page(me, after=[], limit=50)} == {
        "admin",
        "senior",
        "normal",
        "restricted",
    }
    assert await env.app.api_keys.page(me, show_inactive=True, after=[], limit=50) == []
    mine = await env.app.audit.page(me, AuditFilter(), after=[], limit=200)
    assert all(not e.target.endswith(member.id) for e in mine)
    assert (
        await env.app.audit.page(
            me, AuditFilter(actor=f"members/{their_admin.id}"), after=[], limit=50
        )
        == []
    )

    # and nothing changed on their side
    assert (await env.app.members.get(them, member.id)).display_name == member.display_name
    assert (await env.app.api_keys.get(them, key.id)).revoked_at is None
