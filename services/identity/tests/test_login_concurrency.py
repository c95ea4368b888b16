"""Concurrent sign-ins cannot outrun the lockout: attempts are counted before
the password is checked, atomically (issue 12, item 3)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crosstalk_common.db.engine import session_factory
from crosstalk_common.errors import ResourceExhausted, Unauthenticated
from identity.adapters.auth_repository import SqlAuthRepository
from identity.app.auth import sha256_hex
from identity.app.ports import PasswordHasher
from identity.domain.lockout import LockoutPolicy
from services.identity.tests.conftest import FAST_HASHER, PASSWORD, FakeClock, build_env

AT_ONCE = 12
POLICY = LockoutPolicy()  # 5 attempts, then 30 s


class CountingHasher:
    """The real argon2 hasher, counting the passwords it checks."""

    def __init__(self, inner: PasswordHasher) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.checked = 0

    def hash(self, password: str) -> str:
        return self._inner.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._lock:
            self.checked += 1
        return self._inner.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._inner.needs_rehash(password_hash)


async def test_concurrent_wrong_logins_check_at_most_the_threshold_of_passwords(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    hasher = CountingHasher(FAST_HASHER)
    env = await build_env(engine, clock, hasher=hasher)
    _, admin, _ = await env.sign_up()
    for email in (admin.email, f"nobody-{uuid.uuid4().hex}@example.com"):
        hasher.checked = 0
        outcomes = await asyncio.gather(
            *(env.app.auth.login(email, "wrong password!") for _ in range(AT_ONCE)),
            return_exceptions=True,
        )
        assert hasher.checked <= POLICY.threshold, (email, hasher.checked)
        refused = [o for o in outcomes if isinstance(o, Unauthenticated)]
        locked = [o for o in outcomes if isinstance(o, ResourceExhausted)]
        assert len(refused) == hasher.checked
        assert len(refused) + len(locked) == AT_ONCE, outcomes
        assert {o.reason for o in locked} == {"LOGIN_LOCKED"}
        # locked now: even the right password is not checked
        with pytest.raises(ResourceExhausted) as still_locked:
            await env.app.auth.login(email, PASSWORD)
        assert still_locked.value.reason == "LOGIN_LOCKED"
        assert hasher.checked <= POLICY.threshold
    # once the lock has passed, the right password works and resets the count
    clock.advance(POLICY.initial_lock.total_seconds())
    assert (await env.app.auth.login(admin.email, PASSWORD)).access_token
    for _ in range(POLICY.threshold - 1):
        with pytest.raises(Unauthenticated):
            await env.app.auth.login(admin.email, "wrong password!")
    assert (await env.app.auth.login(admin.email, PASSWORD)).access_token


async def _count_once(engine: AsyncEngine, key: str, clock: FakeClock) -> timedelta | None:
    async with session_factory(engine)() as session, session.begin():
        return await SqlAuthRepository(session).count_attempt(key, POLICY, clock.now)


async def test_the_attempt_counter_is_atomic_in_the_database(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    """Many transactions counting one email at once: exactly ``threshold`` get through."""
    key = sha256_hex(f"race-{uuid.uuid4().hex}@example.com")
    outcomes = await asyncio.gather(*(_count_once(engine, key, clock) for _ in range(AT_ONCE)))
    let_through = [o for o in outcomes if o is None]
    assert len(let_through) == POLICY.threshold, outcomes
    assert all(o == POLICY.initial_lock for o in outcomes if o is not None)
    async with session_factory(engine)() as session:
        throttle = await SqlAuthRepository(session).throttle(key)
    assert throttle.failures == POLICY.threshold
    assert throttle.remaining_lock(clock.now) == POLICY.initial_lock
    # after the lock: one more attempt, and the lock doubles
    clock.advance(POLICY.initial_lock.total_seconds())
    assert await _count_once(engine, key, clock) is None
    assert await _count_once(engine, key, clock) == 2 * POLICY.initial_lock
