"""Verifying bearer tokens with identity's public keys, cached."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from crosstalk_common.auth.claims import AccessClaims
from crosstalk_common.auth.tokens import LEEWAY_SECONDS, token_kid, verify_access_token
from crosstalk_common.errors import Unavailable


class KeySource(Protocol):
    """Where a service gets the keys that verify access tokens, by key id."""

    async def public_keys(self) -> Mapping[str, Ed25519PublicKey]: ...


class TokenVerifier:
    """Verifies tokens against cached keys; a token naming an unknown key id
    makes it ask its source again (at most once per ``min_refresh_interval``),
    so a rotated key is picked up without a restart.

    A verified token is remembered (keyed by the whole signed token, so a
    changed byte is a different key) until it expires: a client reuses its
    token for many calls, and checking the signature once is enough. A
    remembered token passes only while the key that signed it is still among
    identity's keys: once the keys are ``max_age`` old they are fetched again
    (on a remembered token's call too), and a token whose key identity no
    longer publishes (rotated out, withdrawn) is refused like a new one.
    """

    def __init__(
        self,
        source: KeySource,
        *,
        max_age: float = 300.0,
        min_refresh_interval: float = 5.0,
        max_remembered: int = 10_000,
    ) -> None:
        self._source = source
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._keys: Mapping[str, Ed25519PublicKey] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        # token -> its claims and the id of the key that signed it
        self._verified: dict[str, tuple[AccessClaims, str]] = {}
        self._max_remembered = max_remembered

    async def _refresh(self, *, force: bool) -> Mapping[str, Ed25519PublicKey]:
        async with self._lock:
            age = time.monotonic() - self._fetched_at
            if age < self._min_refresh_interval or (not force and age < self._max_age):
                return self._keys
            try:
                self._keys = dict(await self._source.public_keys())
            except Unavailable:
                if not self._keys:
                    raise
                # Keep verifying with the keys we have; try again next time.
            self._fetched_at = time.monotonic()
            return self._keys

    async def verify(self, token: str) -> AccessClaims:
        known = self._verified.get(token)
        if known is not None:
            claims, kid = known
            if time.monotonic() - self._fetched_at >= self._max_age:
                await self._refresh(force=False)
            if claims.expires_at + LEEWAY_SECONDS >= time.time() and kid in self._keys:
                return claims
            self._verified.pop(token, None)
        kid = token_kid(token)
        claims = await self._verify_signature(token, kid)
        if len(self._verified) >= self._max_remembered:
            self._verified.clear()  # crude but bounded; tokens live minutes
        self._verified[token] = (claims, kid)
        return claims

    async def _verify_signature(self, token: str, kid: str) -> AccessClaims:
        keys = await self._refresh(force=False)
        if kid not in keys:
            keys = await self._refresh(force=True)
        return verify_access_token(token, keys)
