"""Sign-up and tenant settings."""

from __future__ import annotations

import pytest

from crosstalk_common.errors import Aborted, AlreadyExists, InvalidArgument, NotFound
from crosstalk_common.permissions import BUILT_IN_ROLES
from identity.domain.model import AuditFilter, SignUp
from services.identity.tests.conftest import PASSWORD, Env


async def test_sign_up_creates_tenant_admin_built_in_roles_settings_audit_and_events(
    env: Env,
) -> None:
    tenant, admin, actor = await env.sign_up("Shenzhen Exports")
    assert admin.role == "admin"
    assert admin.has_password
    roles = await env.app.roles.page(actor, after=[], limit=50)
    assert {r.id for r in roles} == set(BUILT_IN_ROLES)
    assert all(r.built_in for r in roles)
    admin_role = next(r for r in roles if r.id == "admin")
    assert admin_role.permissions == BUILT_IN_ROLES["admin"].permissions

    settings = await env.app.tenants.get_settings(actor, tenant.id)
    assert settings.max_filter_conditions == 10
    assert settings.include_sub_departments is True
    assert settings.version == 1

    types = [e.type for e in await env.events(tenant.id)]
    assert types.count("tenant.created") == 1
    assert types.count("member.created") == 1

    audit = await env.app.audit.page(actor, AuditFilter(), after=[], limit=10)
    assert [e.action for e in audit] == ["tenants.sign_up"]
    assert audit[0].after is not None
    assert "password" not in str(audit[0].after).lower().replace("has_password", "")


async def test_sign_up_with_a_taken_email_writes_nothing(env: Env) -> None:
    _, admin, _ = await env.sign_up()
    with pytest.raises(AlreadyExists):
        await env.app.tenants.sign_up(
            SignUp("Copycat", "", 1, "en", admin.email.upper(), "Eve", PASSWORD)
        )


async def test_sign_up_names_every_bad_field(env: Env) -> None:
    with pytest.raises(InvalidArgument) as caught:
        await env.app.tenants.sign_up(SignUp("", "", -1, "english", "nope", "", "short"))
    fields = {v.field for v in caught.value.violations}
    assert fields == {
        "company_name",
        "team_size",
        "working_language",
        "admin_email",
        "admin_display_name",
        "admin_password",
    }


async def test_settings_update_with_mask_etag_and_validation(env: Env) -> None:
    tenant, _, actor = await env.sign_up()
    current = await env.app.tenants.get_settings(actor, tenant.id)
    updated = await env.app.tenants.update_settings(
        actor,
        tenant.id,
        {"max_filter_conditions": 20, "include_sub_departments": False},
        current.etag,
    )
    assert updated.max_filter_conditions == 20
    assert updated.include_sub_departments is False
    assert updated.version == current.version + 1

    with pytest.raises(Aborted):
        await env.app.tenants.update_settings(
            actor, tenant.id, {"max_filter_conditions": 5}, current.etag
        )
    with pytest.raises(InvalidArgument) as caught:
        await env.app.tenants.update_settings(
            actor,
            tenant.id,
            {"max_filter_conditions": 0, "default_time_zone": "Mars/Olympus"},
            "",
        )
    assert {v.field for v in caught.value.violations} == {
        "tenant_settings.max_filter_conditions",
        "tenant_settings.default_time_zone",
    }
    # a tenant may shorten token lifetimes, never lengthen them
    with pytest.raises(InvalidArgument) as caught:
        await env.app.tenants.update_settings(
            actor, tenant.id, {"access_token_ttl_seconds": 7200}, ""
        )
    assert caught.value.violations[0].field == "tenant_settings.access_token_ttl"
    unchanged = await env.app.tenants.get_settings(actor, tenant.id)
    assert unchanged.max_filter_conditions == 20

    audit = await env.app.audit.page(
        actor, AuditFilter(action="tenant_settings.update"), after=[], limit=10
    )
    assert len(audit) == 1
    assert audit[0].before is not None
    assert audit[0].before["max_filter_conditions"] == 10
    assert audit[0].after is not None
    assert audit[0].after["max_filter_conditions"] == 20


async def test_another_tenants_settings_do_not_exist(env: Env) -> None:
    _, _, actor = await env.sign_up()
    other, _, _ = await env.sign_up("Other")
    with pytest.raises(NotFound):
        await env.app.tenants.get_settings(actor, other.id)
    with pytest.raises(NotFound):
        await env.app.tenants.update_settings(actor, other.id, {"max_filter_conditions": 3}, "")
    with pytest.raises(NotFound):
        await env.app.tenants.get_tenant(actor.tenant_id, other.id)
