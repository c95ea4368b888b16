"""API keys: created once, exchanged for access tokens, revoked for good."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from crosstalk_common.auth.tokens import verify_access_token
from crosstalk_common.errors import InvalidArgument, PermissionDenied, Unauthenticated
from crosstalk_common.permissions import BUILT_IN_ROLES
from identity.domain.model import ApiKeyState
from services.identity.tests.conftest import Env, FakeClock, member_actor
from services.identity.tests.test_members import draft


async def test_create_exchange_and_revoke(env: Env, clock: FakeClock) -> None:
    tenant, admin, actor = await env.sign_up()
    key, secret = await env.app.api_keys.create(actor, "Amazon adapter", "normal", None)
    assert secret.startswith(f"ctk_{key.id}_")
    assert secret.startswith(key.key_prefix)
    assert len(key.key_prefix) < len(secret)
    assert key.creator == f"members/{admin.id}"

    pair, key_id = await env.app.auth.exchange_api_key(secret)
    assert key_id == key.id
    claims = verify_access_token(pair.access_token, await env.key_source.public_keys())
    assert claims.subject == f"apiKeys/{key.id}"
    assert claims.tenant_id == tenant.id
    assert claims.permissions == BUILT_IN_ROLES["normal"].permissions
    assert claims.session_id == ""
    assert pair.refresh_token == ""
    assert (await env.app.api_keys.get(actor, key.id)).last_used_at == clock.now

    with pytest.raises(Unauthenticated) as caught:
        await env.app.auth.exchange_api_key(secret[:-2] + "xx")
    assert caught.value.reason == "INVALID_API_KEY"
    with pytest.raises(Unauthenticated):
        await env.app.auth.exchange_api_key("garbage")

    revoked = await env.app.api_keys.revoke(actor, key.id)
    assert revoked.state(clock.now) is ApiKeyState.REVOKED
    with pytest.raises(Unauthenticated) as caught:
        await env.app.auth.exchange_api_key(secret)
    assert caught.value.reason == "API_KEY_REVOKED"
    assert await env.app.api_keys.page(actor, show_inactive=False, after=[], limit=10) == []
    assert len(await env.app.api_keys.page(actor, show_inactive=True, after=[], limit=10)) == 1


async def test_expired_keys_do_not_exchange(env: Env, clock: FakeClock) -> None:
    _, _, actor = await env.sign_up()
    with pytest.raises(InvalidArgument) as caught:
        await env.app.api_keys.create(actor, "Old", "normal", clock.now - timedelta(seconds=1))
    assert caught.value.violations[0].field == "api_key.expire_time"
    _, secret = await env.app.api_keys.create(
        actor, "Short", "normal", clock.now + timedelta(hours=1)
    )
    assert (await env.app.auth.exchange_api_key(secret))[0].access_token
    clock.advance(3601)
    with pytest.raises(Unauthenticated) as caught:
        await env.app.auth.exchange_api_key(secret)
    assert caught.value.reason == "API_KEY_EXPIRED"


async def test_a_retried_create_returns_the_same_secret(env: Env) -> None:
    _, _, actor = await env.sign_up()
    request_id = str(uuid.uuid4())
    first = await env.app.api_keys.create(actor, "Shopee", "restricted", None, request_id)
    again = await env.app.api_keys.create(actor, "Shopee", "restricted", None, request_id)
    assert again == first
    assert len(await env.app.api_keys.page(actor, show_inactive=True, after=[], limit=10)) == 1


async def test_keys_cannot_carry_more_than_their_creator_holds(env: Env) -> None:
    _, _, actor = await env.sign_up()
    senior = await env.app.members.create(actor, draft(role="senior"))
    as_senior = member_actor(senior, BUILT_IN_ROLES["senior"].permissions | {"api_keys.manage"})
    with pytest.raises(PermissionDenied):
        await env.app.api_keys.create(as_senior, "Too strong", "admin", None)
    with pytest.raises(InvalidArgument) as caught:
        await env.app.api_keys.create(actor, "", "", None)
    assert {v.field for v in caught.value.violations} == {"api_key.display_name", "api_key.role"}
