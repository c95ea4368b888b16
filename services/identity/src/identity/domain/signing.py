"""When signing keys are used, published, rotated and forgotten.

A key signs from ``activate_at`` until ``retired_at`` (when the next key takes
over). It is published (in the JWKS) from its creation, so verifiers can fetch
it before it signs anything, until ``retired_at`` plus the longest access-token
lifetime, so every token it signed still verifies until it expires. Automatic
rotation creates the next key ``publish_ahead`` before the current one reaches
``max_age``; a manual rotation takes over at once (for a leaked key).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class KeyInfo:
    kid: str
    created_at: datetime
    activate_at: datetime
    retired_at: datetime | None = None


@dataclass(frozen=True)
class KeyPolicy:
    max_age: timedelta = timedelta(days=30)
    publish_ahead: timedelta = timedelta(minutes=10)
    # The longest access-token lifetime: how long a retired key stays published.
    token_ttl: timedelta = timedelta(minutes=15)

    def signing_key(self, keys: Sequence[KeyInfo], now: datetime) -> KeyInfo | None:
        usable = [
            k for k in keys if k.activate_at <= now and (k.retired_at is None or k.retired_at > now)
        ]
        return max(usable, key=lambda k: (k.activate_at, k.created_at, k.kid), default=None)

    def published(self, keys: Sequence[KeyInfo], now: datetime) -> list[KeyInfo]:
        return [k for k in keys if k.retired_at is None or k.retired_at + self.token_ttl > now]

    def forgettable(self, keys: Sequence[KeyInfo], now: datetime) -> list[KeyInfo]:
        return [
            k for k in keys if k.retired_at is not None and k.retired_at + self.token_ttl <= now
        ]

    def next_key_due(self, keys: Sequence[KeyInfo], now: datetime) -> timedelta | None:
        """None: nothing to do; otherwise create a key that activates after this delay."""
        current = self.signing_key(keys, now)
        if current is None:
            pending = [k for k in keys if k.activate_at > now and k.retired_at is None]
            return None if pending else timedelta(0)
        if any(k.activate_at > current.activate_at for k in keys if k.retired_at is None):
            return None  # the next key is already published
        takeover = current.activate_at + self.max_age
        if takeover - self.publish_ahead > now:
            return None
        # Verifiers get at least publish_ahead to fetch the next key before it signs.
        return max(takeover - now, self.publish_ahead)
