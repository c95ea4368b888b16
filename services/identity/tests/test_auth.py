"""Sign-in, refresh-token rotation and reuse detection, lockout, sessions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from crosstalk_common.auth.tokens import verify_access_token
from crosstalk_common.errors import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
)
from crosstalk_common.permissions import BUILT_IN_ROLES, DataScope
from identity.app.context import Actor
from identity.domain.lockout import LockoutPolicy
from identity.domain.model import Department
from services.identity.tests.conftest import PASSWORD, Env, FakeClock, build_env, member_actor
from services.identity.tests.test_members import draft


async def test_login_issues_a_verifiable_token_with_the_claims(env: Env) -> None:
    tenant, _, actor = await env.sign_up()
    sales = await env.app.departments.create(actor, Department("", "", "Sales"))
    de = await env.app.departments.create(actor, Department("", "", "DE", parent_id=sales.id))
    member = await env.app.members.create(
        actor, draft(role="senior", department_id=sales.id), initial_password=PASSWORD
    )
    pair = await env.app.auth.login(member.email.upper(), PASSWORD)
    claims = verify_access_token(pair.access_token, await env.key_source.public_keys())
    assert claims.subject == f"members/{member.id}"
    assert claims.tenant_id == tenant.id
    assert claims.permissions == BUILT_IN_ROLES["senior"].permissions
    assert claims.data_scope is DataScope.DEPARTMENT
    assert claims.department_id == sales.id
    assert claims.visible_departments == {sales.id, de.id}
    assert claims.session_id == pair.session_id
    assert claims.expires_at - claims.issued_at == 900
    assert len(pair.refresh_token) >= 43  # 256 bits, base64url
    assert pair.member is not None
    assert pair.member.last_login_at is None  # as read before
    assert (await env.app.members.get(actor, member.id)).last_login_at is not None


async def test_refresh_rotates_and_reuse_revokes_the_whole_session(env: Env) -> None:
    _, admin, actor = await env.sign_up()
    first = await env.app.auth.login(admin.email, PASSWORD)
    second = await env.app.auth.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.session_id == first.session_id
    third = await env.app.auth.refresh(second.refresh_token)

    with pytest.raises(Unauthenticated) as caught:
        await env.app.auth.refresh(first.refresh_token)  # spent: reuse
    assert caught.value.reason == "REFRESH_TOKEN_REUSED"
    with pytest.raises(Unauthenticated) as caught:
        await env.app.auth.refresh(third.refresh_token)  # the family is revoked
    assert caught.value.reason == "SESSION_REVOKED"
    sessions = await env.app.auth.sessions(actor, admin.id, show_inactive=True, after=[], limit=10)
    assert sessions[0].revoked_at is not None
    assert (
        await env.app.auth.sessions(actor, admin.id, show_inactive=False, after=[], limit=10) == []
    )
    with pytest.raises(Unauthenticated):
        await env.app.auth.refresh("not-a-token")


async def test_refresh_tokens_expire(env: Env, clock: FakeClock) -> None:
    _, admin, _ = await env.sign_up()
    pair = await env.app.auth.login(admin.email, PASSWORD)
    clock.advance(30 * 86400 + 1)
    with pytest.raises(Unauthenticated) as caught:
        await env.app.auth.refresh(pair.refresh_token)
    assert caught.value.reason == "REFRESH_TOKEN_EXPIRED"


async def test_wrong_password_and_unknown_email_fail_alike(env: Env) -> None:
    _, admin, _ = await env.sign_up()
    with pytest.raises(Unauthenticated) as wrong:
        await env.app.auth.login(admin.email, "wrong password!")
    with pytest.raises(Unauthenticated) as unknown:
        await env.app.auth.login(f"nobody-{uuid.uuid4().hex}@example.com", "wrong password!")
    assert (wrong.value.message, wrong.value.reason) == (
        unknown.value.message,
        unknown.value.reason,
    )


async def test_lockout_engages_doubles_and_releases(env: Env, clock: FakeClock) -> None:
    policy = LockoutPolicy()  # 5 failures, 30 s doubling, at most 15 min
    _, admin, _ = await env.sign_up()
    for email in (admin.email, f"nobody-{uuid.uuid4().hex}@example.com"):
        for _ in range(policy.threshold):
            with pytest.raises(Unauthenticated):
                await env.app.auth.login(email, "wrong password!")
        with pytest.raises(ResourceExhausted) as locked:
            await env.app.auth.login(email, PASSWORD)  # even the right password
        assert locked.value.metadata["retryAfterSeconds"] == "30"
        assert locked.value.reason == "LOGIN_LOCKED"
        clock.advance(29)
        with pytest.raises(ResourceExhausted) as locked:
            await env.app.auth.login(email, PASSWORD)
        assert locked.value.metadata["retryAfterSeconds"] == "1"
        clock.advance(1)
        with pytest.raises(Unauthenticated):
            await env.app.auth.login(email, "wrong password!")  # 6th failure: 60 s
        with pytest.raises(ResourceExhausted) as locked:
            await env.app.auth.login(email, PASSWORD)
        assert locked.value.metadata["retryAfterSeconds"] == "60"
        for expected in (120, 240, 480, 900, 900):
            clock.advance(int(locked.value.metadata["retryAfterSeconds"]))
            with pytest.raises(Unauthenticated):
                await env.app.auth.login(email, "wrong password!")
            with pytest.raises(ResourceExhausted) as locked:
                await env.app.auth.login(email, PASSWORD)
            assert locked.value.metadata["retryAfterSeconds"] == str(expected)
        clock.advance(900)
    # a success resets the count
    assert (await env.app.auth.login(admin.email, PASSWORD)).access_token
    for _ in range(policy.threshold - 1):
        with pytest.raises(Unauthenticated):
            await env.app.auth.login(admin.email, "wrong password!")
    assert (await env.app.auth.login(admin.email, PASSWORD)).access_token


async def test_lockout_threshold_is_configurable(env: Env, clock: FakeClock) -> None:
    strict = await build_env(
        env.engine, clock, lockout=LockoutPolicy(threshold=2, initial_lock=timedelta(seconds=10))
    )
    _, admin, _ = await strict.sign_up()
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            await strict.app.auth.login(admin.email, "wrong password!")
    with pytest.raises(ResourceExhausted) as locked:
        await strict.app.auth.login(admin.email, PASSWORD)
    assert locked.value.metadata["retryAfterSeconds"] == "10"


async def test_logout_and_session_management(env: Env) -> None:
    _, admin, actor = await env.sign_up()
    member = await env.app.members.create(actor, draft(), initial_password=PASSWORD)
    phone = await env.app.auth.login(member.email, PASSWORD)
    laptop = await env.app.auth.login(member.email, PASSWORD)
    me = Actor(
        member.tenant_id,
        f"members/{member.id}",
        BUILT_IN_ROLES["normal"].permissions,
        session_id=laptop.session_id,
    )
    mine = await env.app.auth.sessions(me, member.id, show_inactive=False, after=[], limit=10)
    assert {s.id for s in mine} == {phone.session_id, laptop.session_id}
    with pytest.raises(PermissionDenied):
        await env.app.auth.sessions(me, admin.id, show_inactive=False, after=[], limit=10)

    await env.app.auth.logout(me, "")
    with pytest.raises(Unauthenticated):
        await env.app.auth.refresh(laptop.refresh_token)
    revoked = await env.app.auth.revoke_session(actor, member.id, phone.session_id)
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthenticated):
        await env.app.auth.refresh(phone.refresh_token)
    with pytest.raises(NotFound):
        await env.app.auth.revoke_session(actor, admin.id, phone.session_id)
    with pytest.raises(FailedPrecondition):
        await env.app.auth.logout(Actor(member.tenant_id, "apiKeys/x", frozenset()), "")
    third = await env.app.auth.login(member.email, PASSWORD)
    await env.app.auth.logout(member_actor(member, frozenset()), third.refresh_token)
    with pytest.raises(Unauthenticated):
        await env.app.auth.refresh(third.refresh_token)
