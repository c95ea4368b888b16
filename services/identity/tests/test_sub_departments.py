"""Whether a DEPARTMENT-scope role reaches the sub-departments: the role's own
include_sub_departments decides; the tenant's setting of that name is the
default of roles made with no value (the built-in ones, which follow it)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from crosstalk_common.auth.tokens import verify_access_token
from crosstalk_common.db.engine import sync_url
from crosstalk_common.db.migrations import alembic_config, upgrade_to_head
from crosstalk_common.errors import PermissionDenied
from crosstalk_common.permissions import DataScope
from crosstalk_devstack.databases import service_database_urls
from identity.app.context import Actor
from identity.domain.model import Department, Role
from services.identity.tests.conftest import MIGRATIONS, PASSWORD, Env
from services.identity.tests.test_members import draft

READ = frozenset({"customers.read"})
ROLE_MANAGER = frozenset({"roles.manage", "customers.read"})


async def _tree(env: Env, admin: Actor) -> tuple[str, str]:
    sales = await env.app.departments.create(admin, Department("", "", "Sales"))
    de = await env.app.departments.create(admin, Department("", "", "DE", parent_id=sales.id))
    return sales.id, de.id


async def _role(env: Env, admin: Actor, permissions: frozenset[str], include: bool) -> str:
    role = Role(
        "",
        "",
        f"Department {uuid.uuid4().hex[:6]}",
        permissions,
        DataScope.DEPARTMENT,
        include_sub_departments=include,
    )
    return (await env.app.roles.create(admin, role, sorted(permissions))).id


async def _visible(env: Env, admin: Actor, role_id: str, department_id: str) -> set[str]:
    member = await env.app.members.create(
        admin, draft(role=role_id, department_id=department_id), initial_password=PASSWORD
    )
    pair = await env.app.auth.login(member.email, PASSWORD)
    claims = verify_access_token(pair.access_token, await env.key_source.public_keys())
    return set(claims.visible_departments)


async def _set_tenant_default(env: Env, admin: Actor, include: bool) -> None:
    await env.app.tenants.update_settings(
        admin, admin.tenant_id, {"include_sub_departments": include}, ""
    )


async def test_a_role_without_sub_departments_stays_without_them_under_the_default(
    env: Env,
) -> None:
    tenant, _, admin = await env.sign_up()
    assert (await env.app.tenants.get_settings(admin, tenant.id)).include_sub_departments
    sales, _ = await _tree(env, admin)
    flat = await _role(env, admin, READ, include=False)
    assert await _visible(env, admin, flat, sales) == {sales}


async def test_a_role_with_sub_departments_has_them_whatever_the_default(env: Env) -> None:
    _, _, admin = await env.sign_up()
    sales, de = await _tree(env, admin)
    deep = await _role(env, admin, READ, include=True)
    await _set_tenant_default(env, admin, False)
    assert await _visible(env, admin, deep, sales) == {sales, de}
    assert (await env.app.roles.get(admin, deep)).include_sub_departments


async def test_built_in_roles_take_the_tenant_default_and_follow_it(env: Env) -> None:
    tenant, _, admin = await env.sign_up()
    sales, de = await _tree(env, admin)
    senior = await env.app.roles.get(admin, "senior")
    assert senior.include_sub_departments  # created with no value: the default, true
    assert await _visible(env, admin, "senior", sales) == {sales, de}
    custom = await _role(env, admin, READ, include=True)
    before = len(await env.events(tenant.id, "role.changed"))

    await _set_tenant_default(env, admin, False)
    assert not (await env.app.roles.get(admin, "senior")).include_sub_departments
    assert await _visible(env, admin, "senior", sales) == {sales}
    assert (await env.app.roles.get(admin, custom)).include_sub_departments
    # every built-in role whose value changed is announced (caches drop it)
    changed = await env.events(tenant.id, "role.changed")
    built_in = [r for r in await env.app.roles.page(admin, after=[], limit=50) if r.built_in]
    assert len(changed) - before == len(built_in)


async def test_a_caller_without_sub_departments_grants_none_under_the_default(
    env: Env,
) -> None:
    _, _, admin = await env.sign_up()
    sales, _ = await _tree(env, admin)

    async def caller(include: bool) -> Actor:
        role = await _role(env, admin, ROLE_MANAGER, include)
        member = await env.app.members.create(
            admin, draft(role=role, department_id=sales), initial_password=PASSWORD
        )
        return Actor(admin.tenant_id, f"members/{member.id}", ROLE_MANAGER)

    deep = Role("", "", "Deep", READ, DataScope.DEPARTMENT, include_sub_departments=True)
    with pytest.raises(PermissionDenied) as caught:
        await env.app.roles.create(await caller(False), deep, sorted(READ))
    assert caught.value.reason == "PRIVILEGE_ESCALATION"
    assert (await env.app.roles.create(await caller(True), deep, sorted(READ))).id


def test_the_migration_keeps_what_each_role_reaches(tmp_path: Path) -> None:
    url = service_database_urls(("identity",), tmp_path, "identity_sub_departments")["identity"]
    command.upgrade(alembic_config(MIGRATIONS, url), "0004")
    engine = create_engine(sync_url(url))
    roles = [
        # tenant, role, scope, built in, its flag
        ("wide", "senior", "department", True, False),
        ("wide", "flat", "department", False, False),
        ("wide", "own", "own", False, False),
        ("narrow", "senior", "department", True, False),
        ("narrow", "flat", "department", False, False),
        ("narrow", "deep", "department", False, True),
        ("unset", "flat", "department", False, False),  # no settings row: the default
    ]
    with engine.begin() as conn:
        for tenant in ("wide", "narrow", "unset"):
            conn.execute(
                text(
                    "INSERT INTO tenants (id, display_name, industry, team_size,"
                    " working_language, created_at) VALUES (:t, :t, '', 1, 'en', CURRENT_TIMESTAMP)"
                ),
                {"t": tenant},
            )
        for tenant, include in (("wide", True), ("narrow", False)):
            conn.execute(
                text(
                    "INSERT INTO tenant_settings (tenant_id, max_filter_conditions,"
                    " include_sub_departments, default_time_zone, access_token_ttl_seconds,"
                    " refresh_token_ttl_seconds, min_password_length, dormancy_period_seconds,"
                    " updated_at, version) VALUES (:t, 10, :i, 'UTC', 0, 0, 12, 7776000,"
                    " CURRENT_TIMESTAMP, 1)"
                ),
                {"t": tenant, "i": include},
            )
        for tenant, role, scope, built_in, include in roles:
            conn.execute(
                text(
                    "INSERT INTO roles (tenant_id, id, display_name, description, permissions,"
                    " data_scope, include_sub_departments, built_in, created_at, updated_at,"
                    " version) VALUES (:t, :r, :r, '', '[]', :s, :i, :b, CURRENT_TIMESTAMP,"
                    " CURRENT_TIMESTAMP, 1)"
                ),
                {"t": tenant, "r": role, "s": scope, "i": include, "b": built_in},
            )
    upgrade_to_head(MIGRATIONS, url)
    with engine.connect() as conn:
        after = {
            (row.tenant_id, row.id): (bool(row.include_sub_departments), row.version)
            for row in conn.execute(
                text("SELECT tenant_id, id, include_sub_departments, version FROM roles")
            )
        }
    engine.dispose()
    assert after == {
        ("wide", "senior"): (True, 2),
        ("wide", "flat"): (True, 2),
        ("wide", "own"): (False, 1),
        ("narrow", "senior"): (False, 1),
        ("narrow", "flat"): (False, 1),
        ("narrow", "deep"): (True, 1),
        ("unset", "flat"): (True, 2),
    }
