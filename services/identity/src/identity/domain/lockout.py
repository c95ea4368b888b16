"""Sign-in lockout with exponential backoff, per email (known or not).

After ``threshold`` failed sign-ins for one email the email is locked for
``initial_lock``; every further failure (once the lock has passed) doubles the
lock, up to ``max_lock``. While locked, sign-in is refused without checking the
password. A success resets the count, and so do ``forget_after`` without a
failure. Unknown emails are counted exactly like known ones, so the lockout
reveals nothing about which emails exist.

Each attempt is counted as a failure before its password is checked, in one
atomic step with the lock check (``AuthRepository.count_attempt``), so
concurrent attempts cannot all pass the check before any is counted: at most
``threshold`` passwords are checked per lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_MAX_DOUBLINGS = 20


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 5
    initial_lock: timedelta = timedelta(seconds=30)
    max_lock: timedelta = timedelta(minutes=15)
    forget_after: timedelta = timedelta(hours=24)

    def lock_for(self, failures: int) -> timedelta | None:
        """How long ``failures`` consecutive failures lock the email (None: not at all)."""
        if failures < self.threshold:
            return None
        doublings = min(failures - self.threshold, _MAX_DOUBLINGS)
        return min(self.initial_lock * (1 << doublings), self.max_lock)


DEFAULT_LOCKOUT = LockoutPolicy()


@dataclass(frozen=True)
class LoginThrottle:
    """The failure record of one email."""

    failures: int = 0
    locked_until: datetime | None = None
    last_failure_at: datetime | None = None

    def remaining_lock(self, now: datetime) -> timedelta | None:
        if self.locked_until is None or self.locked_until <= now:
            return None
        return self.locked_until - now
