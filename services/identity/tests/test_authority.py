"""Who may act on whom (identity.domain.authority): every action on another member,
and every role a caller creates or changes, stays within the caller's own access."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.errors import PermissionDenied
from crosstalk_common.permissions import ALL_PERMISSIONS, BUILT_IN_ROLES, DataScope
from identity.app.context import Actor
from identity.domain.authority import (
    Access,
    beyond,
    role_scope_beyond,
    sees_everything_of,
)
from identity.domain.model import Department, Group, Member, MemberState, Role
from services.identity.tests.conftest import PASSWORD, Env, FakeClock, build_env

NEW_PASSWORD = "another long passphrase 2026"

# --- the rule itself, pure ---------------------------------------------------


def access(
    scope: DataScope,
    *,
    permissions: frozenset[str] = frozenset({"customers.read"}),
    member: str = "m",
    department: str = "",
    visible: frozenset[str] = frozenset(),
) -> Access:
    return Access(permissions, scope, department, visible, member_id=member)


ALL = access(DataScope.ALL)
SALES_AND_DE = access(DataScope.DEPARTMENT, department="sales", visible=frozenset({"sales", "de"}))
DE_ONLY = access(DataScope.DEPARTMENT, department="de", visible=frozenset({"de"}))
NO_DEPARTMENT = access(DataScope.DEPARTMENT)
OWN_IN_SALES = access(DataScope.OWN, department="sales", member="ana")
OWN_IN_MARKETING = access(DataScope.OWN, department="marketing", member="bo")
OWN_NOWHERE = access(DataScope.OWN, member="cy")
API_KEY_OWN = access(DataScope.OWN, member="")


@pytest.mark.parametrize(
    ("caller", "other", "covered"),
    [
        (ALL, ALL, True),
        (ALL, SALES_AND_DE, True),
        (ALL, OWN_NOWHERE, True),
        (SALES_AND_DE, ALL, False),
        (SALES_AND_DE, DE_ONLY, True),
        (DE_ONLY, SALES_AND_DE, False),
        (SALES_AND_DE, OWN_IN_SALES, True),
        (SALES_AND_DE, OWN_IN_MARKETING, False),
        (SALES_AND_DE, OWN_NOWHERE, False),
        (SALES_AND_DE, NO_DEPARTMENT, True),  # it sees nothing
        (SALES_AND_DE, API_KEY_OWN, True),  # it owns nothing
        (OWN_IN_SALES, OWN_IN_SALES, True),  # the same member
        (OWN_IN_SALES, OWN_IN_MARKETING, False),
        (OWN_IN_SALES, DE_ONLY, False),
        (OWN_IN_SALES, NO_DEPARTMENT, True),
        (OWN_IN_SALES, ALL, False),
    ],
)
def test_data_scope_cover(caller: Access, other: Access, covered: bool) -> None:
    assert sees_everything_of(caller, other) is covered


def test_permissions_come_before_the_scope_and_are_named() -> None:
    admin = access(DataScope.ALL, permissions=ALL_PERMISSIONS)
    manager = access(DataScope.ALL, permissions=frozenset({"members.manage", "members.read"}))
    assert beyond(admin, manager) is None
    problem = beyond(manager, admin)
    assert problem is not None
    assert "audit.read" in problem
    assert beyond(admin, admin) is None


@pytest.mark.parametrize(
    ("caller_scope", "caller_subs", "role_scope", "role_subs", "wider"),
    [
        (DataScope.ALL, False, DataScope.ALL, False, False),
        (DataScope.DEPARTMENT, True, DataScope.ALL, False, True),
        (DataScope.DEPARTMENT, True, DataScope.DEPARTMENT, True, False),
        (DataScope.DEPARTMENT, False, DataScope.DEPARTMENT, True, True),
        (DataScope.DEPARTMENT, False, DataScope.DEPARTMENT, False, False),
        (DataScope.DEPARTMENT, False, DataScope.OWN, False, False),
        (DataScope.OWN, False, DataScope.DEPARTMENT, False, True),
        (DataScope.OWN, False, DataScope.ALL, False, True),
        (DataScope.OWN, False, DataScope.OWN, False, False),
    ],
)
def test_role_scopes_compare_by_breadth(
    caller_scope: DataScope,
    caller_subs: bool,
    role_scope: DataScope,
    role_subs: bool,
    wider: bool,
) -> None:
    caller = Access(
        frozenset(), caller_scope, "", frozenset(), includes_sub_departments=caller_subs
    )
    assert role_scope_beyond(caller, role_scope, role_subs) is wider


# --- one tenant, its callers and the targets they try -----------------------

MANAGER = frozenset({"members.manage", "members.read"})
LEAD = BUILT_IN_ROLES["senior"].permissions | MANAGER
ROLE_MANAGER = frozenset({"roles.manage", "members.read", "customers.read"})
# caller or target -> (role, department); departments: sales (with its child de), marketing
CALLERS: dict[str, tuple[str, str]] = {
    "admin": ("admin", ""),
    # the penetration test's attacker: a custom role with only members.manage and members.read
    "manager_all": ("manager_all", "sales"),
    "manager_own": ("manager_own", "sales"),
    # a department lead: senior work plus members.manage, scope DEPARTMENT (sales and de)
    "lead": ("lead", "sales"),
}
TARGETS: dict[str, tuple[str, str]] = {
    "admin": ("admin", ""),
    "lead_peer": ("lead", "sales"),
    "senior_de": ("senior", "de"),
    "normal_sales": ("normal", "sales"),
    "normal_marketing": ("normal", "marketing"),
    "restricted_nowhere": ("restricted", ""),
    "reader_sales": ("reader", "sales"),
}
# caller -> the targets whose access lies within theirs
ALLOWED: dict[str, set[str]] = {
    "admin": set(TARGETS),
    "manager_all": {"reader_sales"},
    "manager_own": set(),  # OWN sees only its own records: no other member is within it
    "lead": {"lead_peer", "senior_de", "normal_sales", "reader_sales"},
}


@dataclass
class Org:
    env: Env
    tenant_id: str
    admin: Actor
    callers: dict[str, Actor]
    departments: dict[str, str]
    roles: dict[str, str]
    group_id: str

    async def member(self, role_key: str, department_key: str, **fields: object) -> Member:
        role = self.roles.get(role_key, role_key)
        return await self.env.app.members.create(
            self.admin,
            draft(role=role, department_id=self.departments.get(department_key, ""), **fields),
            initial_password=PASSWORD,
        )

    def actor(self, member: Member, role_key: str) -> Actor:
        permissions = {
            "admin": ALL_PERMISSIONS,
            "manager_all": MANAGER,
            "manager_own": MANAGER,
            "lead": LEAD,
            "role_manager": ROLE_MANAGER,
        }[role_key]
        return Actor(self.tenant_id, f"members/{member.id}", permissions)


def draft(**fields: object) -> Member:
    return Member(
        id="",
        tenant_id="",
        email=str(fields.pop("email", "")) or f"m-{uuid.uuid4().hex[:10]}@example.com",
        display_name=str(fields.pop("display_name", "Mei Member")),
        role=str(fields.pop("role", "normal")),
        created_at=datetime.now(UTC),
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
async def org(engine: AsyncEngine) -> Org:
    env = await build_env(engine, FakeClock())
    tenant, _, admin = await env.sign_up("Authority Co")
    sales = await env.app.departments.create(admin, Department("", "", "Sales"))
    de = await env.app.departments.create(admin, Department("", "", "DE", parent_id=sales.id))
    marketing = await env.app.departments.create(admin, Department("", "", "Marketing"))
    departments = {"sales": sales.id, "de": de.id, "marketing": marketing.id}
    roles: dict[str, str] = {}
    for key, permissions, scope in [
        ("manager_all", MANAGER, DataScope.ALL),
        ("manager_own", MANAGER, DataScope.OWN),
        ("lead", LEAD, DataScope.DEPARTMENT),
        ("reader", frozenset({"members.read"}), DataScope.OWN),
        ("auditor", frozenset({"customers.read"}), DataScope.ALL),
        ("role_manager", ROLE_MANAGER, DataScope.DEPARTMENT),
    ]:
        # the DEPARTMENT roles reach the sub-departments (sales and de) by their own flag
        subs = scope is DataScope.DEPARTMENT
        role = await env.app.roles.create(
            admin,
            Role("", "", key, permissions, scope, include_sub_departments=subs),
            sorted(permissions),
        )
        roles[key] = role.id
    group = await env.app.groups.create(admin, Group("", "", "Night shift"))
    org = Org(env, tenant.id, admin, {"admin": admin}, departments, roles, group.id)
    for key, (role_key, department_key) in CALLERS.items():
        if key != "admin":
            member = await org.member(role_key, department_key)
            org.callers[key] = org.actor(member, key)
    return org


Action = Callable[[Org, Actor, Member], Awaitable[object]]


async def _enable(org: Org, actor: Actor, target: Member) -> object:
    return await org.env.app.members.enable(actor, target.id)


async def _revoke_session(org: Org, actor: Actor, target: Member) -> object:
    pair = await org.env.app.auth.login(target.email, PASSWORD)
    return await org.env.app.auth.revoke_session(actor, target.id, pair.session_id)


def _update(field: str, value: Callable[[Org], object]) -> Action:
    attribute = {"department": "department_id"}.get(field, field)

    async def run(org: Org, actor: Actor, target: Member) -> object:
        change = draft(**{attribute: value(org)})
        return await org.env.app.members.update(actor, target.id, change, [field], "")

    return run


ACTIONS: dict[str, Action] = {
    "set password": lambda o, a, t: o.env.app.members.set_password(a, t.id, NEW_PASSWORD),
    "disable": lambda o, a, t: o.env.app.members.disable(a, t.id, "left"),
    "enable": _enable,
    "delete": lambda o, a, t: o.env.app.members.delete(a, t.id, ""),
    "change email": _update("email", lambda o: f"new-{uuid.uuid4().hex[:10]}@example.com"),
    "rename": _update("display_name", lambda o: "Renamed"),
    "change phone": _update("phone", lambda o: "+49 30 5555"),
    "change department": _update("department", lambda o: o.departments["de"]),
    "change role": _update("role", lambda o: o.roles["reader"]),
    "change groups": _update("groups", lambda o: (o.group_id,)),
    "list sessions": lambda o, a, t: o.env.app.auth.sessions(
        a, t.id, show_inactive=True, after=[], limit=10
    ),
    "end a session": _revoke_session,
}


@pytest.mark.parametrize("target_key", list(TARGETS))
@pytest.mark.parametrize("caller_key", list(CALLERS))
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_actions_on_another_member_need_their_access_within_yours(
    org: Org, action: str, caller_key: str, target_key: str
) -> None:
    role_key, department_key = TARGETS[target_key]
    target = await org.member(role_key, department_key)
    if action == "enable":
        target = await org.env.app.members.disable(org.admin, target.id, "on leave")
    caller = org.callers[caller_key]
    if target_key in ALLOWED[caller_key]:
        await ACTIONS[action](org, caller, target)
        return
    with pytest.raises(PermissionDenied) as caught:
        await ACTIONS[action](org, caller, target)
    assert caught.value.reason == "PRIVILEGE_ESCALATION"
    assert f"members/{target.id}" in caught.value.message
    # nothing changed (signing in to have a session to end is no change)
    after = await org.env.app.members.get(org.admin, target.id)
    assert replace(after, last_login_at=None) == replace(target, last_login_at=None)
    if action == "set password":
        assert (await org.env.app.auth.login(target.email, PASSWORD)).access_token


async def test_the_takeover_of_the_penetration_test_is_refused(org: Org) -> None:
    """members.manage alone does not let anyone set an administrator's password."""
    admin = await org.member("admin", "")
    with pytest.raises(PermissionDenied) as caught:
        await org.env.app.members.set_password(org.callers["manager_all"], admin.id, NEW_PASSWORD)
    assert "you cannot set the password of" in caught.value.message
    assert "tenant.manage" in caught.value.message
    with pytest.raises(Exception):  # noqa: B017 - whichever error: the new password must not work
        await org.env.app.auth.login(admin.email, NEW_PASSWORD)
    assert (await org.env.app.auth.login(admin.email, PASSWORD)).access_token


async def test_a_member_may_not_be_made_to_reach_further_than_the_caller(org: Org) -> None:
    lead = org.callers["lead"]
    target = await org.member("normal", "sales")
    for field, value in [
        ("department", org.departments["marketing"]),
        ("department", ""),
        ("role", org.roles["auditor"]),  # permissions the lead holds, but scope ALL
    ]:
        change = draft(**{"department_id" if field == "department" else field: value})
        with pytest.raises(PermissionDenied) as caught:
            await org.env.app.members.update(lead, target.id, change, [field], "")
        assert caught.value.reason == "PRIVILEGE_ESCALATION", field
    assert await org.env.app.members.get(org.admin, target.id) == target
    # within reach: moved to the sub-department, given a narrower role
    moved = await org.env.app.members.update(
        lead, target.id, draft(department_id=org.departments["de"]), ["department"], ""
    )
    assert moved.department_id == org.departments["de"]
    # creating follows the same rule
    for role_key, department_key in [("normal", "marketing"), ("normal", ""), ("auditor", "de")]:
        role = org.roles.get(role_key, role_key)
        with pytest.raises(PermissionDenied):
            await org.env.app.members.create(
                lead, draft(role=role, department_id=org.departments.get(department_key, ""))
            )
    created = await org.env.app.members.create(
        lead, draft(role="normal", department_id=org.departments["de"])
    )
    assert created.role == "normal"


async def test_on_yourself_only_the_result_is_checked(org: Org) -> None:
    lead_member = await org.member("lead", "sales")
    lead = org.actor(lead_member, "lead")
    await org.env.app.members.set_password(lead, lead_member.id, NEW_PASSWORD)
    await org.env.app.members.update(
        lead, lead_member.id, draft(phone="+1 555 0100"), ["phone"], ""
    )
    # but nobody widens their own reach
    for field, value in [
        ("department", org.departments["marketing"]),
        ("role", org.roles["auditor"]),
    ]:
        change = draft(**{"department_id" if field == "department" else field: value})
        with pytest.raises(PermissionDenied):
            await org.env.app.members.update(lead, lead_member.id, change, [field], "")


async def test_the_callers_current_access_counts_not_the_tokens(org: Org) -> None:
    """A member demoted since their token was issued acts with what they hold now."""
    second = await org.member("admin", "")
    as_second = org.actor(second, "admin")  # a token still saying "administrator"
    target = await org.member("admin", "")
    await org.env.app.members.update(org.admin, second.id, draft(role="normal"), ["role"], "")
    with pytest.raises(PermissionDenied):
        await org.env.app.members.set_password(as_second, target.id, NEW_PASSWORD)
    await org.env.app.members.disable(org.admin, second.id, "")
    await org.env.app.members.update(org.admin, second.id, draft(role="admin"), ["role"], "")
    with pytest.raises(PermissionDenied):  # disabled: no access at all
        await org.env.app.members.set_password(as_second, target.id, NEW_PASSWORD)


async def test_api_keys_follow_the_rule_as_callers_and_as_grants(org: Org) -> None:
    env = org.env
    key, _ = await env.app.api_keys.create(org.admin, "HR sync", org.roles["manager_all"], None)
    as_key = Actor(org.tenant_id, f"apiKeys/{key.id}", MANAGER)
    admin = await org.member("admin", "")
    with pytest.raises(PermissionDenied):
        await env.app.members.set_password(as_key, admin.id, NEW_PASSWORD)
    reader = await org.member("reader", "sales")
    await env.app.members.set_password(as_key, reader.id, NEW_PASSWORD)
    await env.app.api_keys.revoke(org.admin, key.id)
    with pytest.raises(PermissionDenied):  # a revoked key holds nothing
        await env.app.members.set_password(as_key, reader.id, PASSWORD)
    # a key is no wider than its creator: a DEPARTMENT lead cannot mint an ALL-scoped key
    lead = org.callers["lead"]
    with pytest.raises(PermissionDenied) as caught:
        await env.app.api_keys.create(lead, "Everything", org.roles["auditor"], None)
    assert caught.value.reason == "PRIVILEGE_ESCALATION"
    narrow, _ = await env.app.api_keys.create(lead, "Readers", org.roles["reader"], None)
    assert narrow.role == org.roles["reader"]


async def test_import_follows_the_rule_row_by_row(org: Org) -> None:
    env = org.env
    admin = await org.member("admin", "")
    normal = await org.member("normal", "sales")
    tag = uuid.uuid4().hex[:8]
    rows = [
        "email,name,department,role",
        f"{admin.email},Admin renamed,Sales,normal",  # row 2: beyond the lead
        f"{normal.email},Normal renamed,Sales/DE,normal",  # row 3: within
        f"far-{tag}@example.com,Far,Marketing,normal",  # row 4: outside the lead's departments
        f"near-{tag}@example.com,Near,Sales,normal",  # row 5: within
        f"wide-{tag}@example.com,Wide,Sales,{org.roles['auditor']}",  # row 6: scope ALL
    ]
    content = ("\n".join(rows) + "\n").encode()
    lead = org.callers["lead"]
    plan = await env.app.imports.preview(lead, content, "csv", [], update_existing=True)
    assert {(e.row, e.column) for e in plan.errors} == {(2, "email"), (4, "role"), (6, "role")}
    assert [m.row for m in plan.members] == [3, 5]
    result = await env.app.imports.commit(
        lead, content, "csv", [], skip_invalid_rows=True, update_existing=True
    )
    assert (result.created, result.updated, result.skipped) == (1, 1, 3)
    unchanged = await env.app.members.get(org.admin, admin.id)
    assert (unchanged.display_name, unchanged.role, unchanged.state) == (
        admin.display_name,
        "admin",
        MemberState.ACTIVE,
    )


# --- roles: no wider scope than one's own, never one's own role --------------


async def _role_manager(org: Org) -> tuple[Member, Actor]:
    member = await org.member("role_manager", "sales")
    return member, org.actor(member, "role_manager")


async def test_nobody_edits_or_deletes_the_role_they_hold(org: Org) -> None:
    env = org.env
    _, as_manager = await _role_manager(org)
    own = org.roles["role_manager"]
    before = await env.app.roles.get(org.admin, own)
    for paths, change in [
        (["data_scope"], Role("", "", "", frozenset(), DataScope.ALL)),
        (["description"], Role("", "", "", frozenset(), DataScope.OWN, description="mine")),
    ]:
        with pytest.raises(PermissionDenied) as caught:
            await env.app.roles.update(as_manager, own, change, [], paths, "")
        assert caught.value.reason == "OWN_ROLE"
    with pytest.raises(PermissionDenied) as caught:
        await env.app.roles.delete(as_manager, own, "")
    assert caught.value.reason == "OWN_ROLE"
    assert await env.app.roles.get(org.admin, own) == before


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [(DataScope.ALL, False), (DataScope.DEPARTMENT, True), (DataScope.OWN, True)],
)
async def test_roles_get_no_wider_scope_than_their_author_has(
    org: Org, scope: DataScope, allowed: bool
) -> None:
    env = org.env
    _, as_manager = await _role_manager(org)
    permissions = frozenset({"customers.read"})
    name = f"Readers {uuid.uuid4().hex[:6]}"
    # create
    if allowed:
        created = await env.app.roles.create(
            as_manager, Role("", "", name, permissions, scope), sorted(permissions)
        )
        assert created.data_scope is scope
    else:
        with pytest.raises(PermissionDenied) as caught:
            await env.app.roles.create(
                as_manager, Role("", "", name, permissions, scope), sorted(permissions)
            )
        assert caught.value.reason == "PRIVILEGE_ESCALATION"
    # update another role (OWN) to this scope
    other = await env.app.roles.create(
        org.admin, Role("", "", f"Other {uuid.uuid4().hex[:6]}", permissions, DataScope.OWN), []
    )
    change = Role("", "", "", frozenset(), scope)
    if allowed:
        updated = await env.app.roles.update(as_manager, other.id, change, [], ["data_scope"], "")
        assert updated.data_scope is scope
    else:
        with pytest.raises(PermissionDenied) as caught:
            await env.app.roles.update(as_manager, other.id, change, [], ["data_scope"], "")
        assert caught.value.reason == "PRIVILEGE_ESCALATION"
        assert (await env.app.roles.get(org.admin, other.id)).data_scope is DataScope.OWN
    # the administrator may do either
    await env.app.roles.update(org.admin, other.id, change, [], ["data_scope"], "")


async def test_roles_beyond_the_caller_are_not_theirs_to_change(org: Org) -> None:
    env = org.env
    _, as_manager = await _role_manager(org)
    wide = await env.app.roles.create(
        org.admin,
        Role("", "", f"Wide {uuid.uuid4().hex[:6]}", frozenset({"customers.read"}), DataScope.ALL),
        [],
    )
    strong = await env.app.roles.create(
        org.admin,
        Role("", "", f"Strong {uuid.uuid4().hex[:6]}", frozenset({"audit.read"}), DataScope.OWN),
        [],
    )
    for role in (wide, strong):
        change = Role("", "", "", frozenset(), DataScope.OWN, description="narrowed")
        with pytest.raises(PermissionDenied) as caught:
            await env.app.roles.update(as_manager, role.id, change, [], ["description"], "")
        assert caught.value.reason == "PRIVILEGE_ESCALATION"
        with pytest.raises(PermissionDenied):
            await env.app.roles.delete(as_manager, role.id, "")


async def test_sub_departments_count_as_a_wider_scope(engine: AsyncEngine) -> None:
    env = await build_env(engine, FakeClock())
    tenant, _, admin = await env.sign_up("Narrow Co")
    settings = await env.app.tenants.get_settings(admin, tenant.id)
    await env.app.tenants.update_settings(
        admin, tenant.id, {"include_sub_departments": False}, settings.etag
    )
    sales = await env.app.departments.create(admin, Department("", "", "Sales"))
    narrow = await env.app.roles.create(
        admin, Role("", "", "Narrow", ROLE_MANAGER, DataScope.DEPARTMENT), sorted(ROLE_MANAGER)
    )
    member = await env.app.members.create(
        admin, draft(role=narrow.id, department_id=sales.id), initial_password=PASSWORD
    )
    as_member = Actor(tenant.id, f"members/{member.id}", ROLE_MANAGER)
    deep = Role(
        "",
        "",
        "Deep",
        frozenset({"customers.read"}),
        DataScope.DEPARTMENT,
        include_sub_departments=True,
    )
    with pytest.raises(PermissionDenied) as caught:
        await env.app.roles.create(as_member, deep, ["customers.read"])
    assert caught.value.reason == "PRIVILEGE_ESCALATION"
    flat = await env.app.roles.create(
        as_member,
        Role("", "", "Flat", frozenset({"customers.read"}), DataScope.DEPARTMENT),
        ["customers.read"],
    )
    with pytest.raises(PermissionDenied):
        await env.app.roles.update(
            as_member, flat.id, deep, [], ["include_sub_departments"], flat.etag
        )


async def test_departments_move_only_within_the_callers_reach(org: Org) -> None:
    env = org.env
    _, as_manager = await _role_manager(org)  # DEPARTMENT scope: sales and what lies below it
    tag = uuid.uuid4().hex[:6]
    inside = await env.app.departments.create(
        org.admin, Department("", "", f"In {tag}", parent_id=org.departments["sales"])
    )
    outside = await env.app.departments.create(org.admin, Department("", "", f"Out {tag}"))
    for department, parent in [
        (outside, org.departments["sales"]),  # pulling another department into one's reach
        (inside, outside.id),
        (inside, ""),
    ]:
        with pytest.raises(PermissionDenied) as caught:
            await env.app.departments.update(
                as_manager, department.id, Department("", "", "", parent_id=parent), ["parent"], ""
            )
        assert caught.value.reason == "PRIVILEGE_ESCALATION"
    assert (await env.app.departments.get(org.admin, outside.id)).parent_id == ""
    moved = await env.app.departments.update(
        as_manager,
        inside.id,
        Department("", "", "", parent_id=org.departments["de"]),
        ["parent"],
        "",
    )
    assert moved.parent_id == org.departments["de"]
    await env.app.departments.update(
        org.admin,
        outside.id,
        Department("", "", "", parent_id=org.departments["marketing"]),
        ["parent"],
        "",
    )
