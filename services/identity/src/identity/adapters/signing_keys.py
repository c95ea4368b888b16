"""Identity's Ed25519 signing keys, kept in its own database, sealed.

``SqlSigningKeys`` creates, rotates and forgets keys (the when is decided by
``identity.domain.signing.KeyPolicy``), signs access tokens with the current
key and lists the published public keys. ``LocalKeySource`` hands those public
keys to the token verifier inside identity itself, so identity verifies its own
tokens without a network call.

Private keys are stored sealed with the keyring's current KEK (ADR 0015):
``maintain`` (at start and every minute) seals rows written in plaintext
before encryption existed and re-wraps rows sealed under a previous KEK, so a
KEK rotation changes no signing key and logs nobody out.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crosstalk_common.aio import sleep_unless_stopped
from crosstalk_common.auth.claims import AccessClaims
from crosstalk_common.auth.tokens import public_jwk, sign_access_token
from crosstalk_common.clock import as_utc, utc_now
from crosstalk_common.errors import Unavailable
from crosstalk_common.secrets import Keyring, SecretError, is_sealed
from identity.adapters.sql import utc
from identity.adapters.tables import signing_keys
from identity.domain.signing import KeyInfo, KeyPolicy

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class _Key:
    info: KeyInfo
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()


def _kid(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest()[:12]).decode().rstrip("=")


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def seal_context(kid: str) -> str:
    """What a sealed key is bound to: it opens only in its own row."""
    return f"identity/signing_keys/{kid}"


def _open_private_key(keyring: Keyring, kid: str, stored: str) -> Ed25519PrivateKey:
    try:
        if is_sealed(stored):
            return Ed25519PrivateKey.from_private_bytes(
                keyring.open(stored, context=seal_context(kid))
            )
        # Written before keys were sealed: maintain() seals it at start.
        loaded = serialization.load_pem_private_key(stored.encode(), password=None)
    except SecretError as exc:
        raise SecretError(f"signing key {kid}: {exc}") from None
    except ValueError as exc:
        raise SecretError(f"signing key {kid} is neither sealed nor a PEM key: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SecretError(f"signing key {kid} is not an Ed25519 key")
    return loaded


def _resealed(keyring: Keyring, kid: str, stored: str) -> str | None:
    """The stored value under the current KEK, or None when it already is."""
    context = seal_context(kid)
    if not is_sealed(stored):
        return keyring.seal(_raw(_open_private_key(keyring, kid, stored)), context=context)
    if not keyring.needs_rewrap(stored):
        return None
    try:
        return keyring.rewrap(stored, context=context)
    except SecretError as exc:
        raise SecretError(f"signing key {kid}: {exc}") from None


class SqlSigningKeys:
    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        policy: KeyPolicy,
        *,
        keyring: Keyring,
        clock: Clock = utc_now,
        cache_seconds: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self.policy = policy
        self._keyring = keyring
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._parsed: dict[str, Ed25519PrivateKey] = {}
        self._keys: list[_Key] = []
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _load(self, *, fresh: bool = False) -> list[_Key]:
        async with self._lock:
            if not fresh and time.monotonic() - self._loaded_at < self._cache_seconds:
                return self._keys
            async with self._sessions() as session:
                rows = (await session.execute(select(signing_keys))).all()
            keys = []
            for row in rows:
                private = self._parsed.get(row.kid)
                if private is None:
                    private = _open_private_key(self._keyring, row.kid, row.private_key)
                    self._parsed[row.kid] = private
                info = KeyInfo(
                    kid=row.kid,
                    created_at=as_utc(row.created_at),
                    activate_at=as_utc(row.activate_at),
                    retired_at=utc(row.retired_at),
                )
                keys.append(_Key(info, private))
            self._keys, self._loaded_at = keys, time.monotonic()
            return keys

    async def rotate(self, *, activate_in_seconds: float = 0) -> str:
        """Create the next key; it signs after ``activate_in_seconds`` and the
        keys signing until then retire at that moment (still published for the
        token lifetime after it)."""
        now = self._clock()
        activate_at = now + timedelta(seconds=activate_in_seconds)
        private = Ed25519PrivateKey.generate()
        kid = _kid(private)
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(signing_keys)
                .where(signing_keys.c.retired_at.is_(None))
                .values(retired_at=activate_at)
            )
            await session.execute(
                update(signing_keys)
                .where(signing_keys.c.retired_at > activate_at)
                .values(retired_at=activate_at)
            )
            await session.execute(
                insert(signing_keys).values(
                    kid=kid,
                    private_key=self._keyring.seal(_raw(private), context=seal_context(kid)),
                    created_at=now,
                    activate_at=activate_at,
                    retired_at=None,
                )
            )
        log.info("signing key %s created; it signs from %s", kid, activate_at.isoformat())
        await self._load(fresh=True)
        return kid

    async def maintain(self) -> None:
        """Create the first key, publish the next one ahead of rotation, forget old ones."""
        now = self._clock()
        async with self._sessions() as session, session.begin():
            # Serialise replicas doing the same (a no-op lock on an empty table).
            await session.execute(select(signing_keys.c.kid).with_for_update())
            rows = (await session.execute(select(signing_keys))).all()
            infos = [
                KeyInfo(r.kid, as_utc(r.created_at), as_utc(r.activate_at), utc(r.retired_at))
                for r in rows
            ]
            forgettable = [k.kid for k in self.policy.forgettable(infos, now)]
            if forgettable:
                await session.execute(
                    delete(signing_keys).where(signing_keys.c.kid.in_(forgettable))
                )
            await self._reseal([r for r in rows if r.kid not in forgettable], session)
            due = self.policy.next_key_due(infos, now)
        if due is not None:
            await self.rotate(activate_in_seconds=due.total_seconds())
        else:
            await self._load(fresh=True)

    async def _reseal(self, rows: Sequence[Row[Any]], session: AsyncSession) -> None:
        """Seal plaintext rows and re-wrap rows of a previous KEK under the current one."""
        for row in rows:
            resealed = _resealed(self._keyring, row.kid, row.private_key)
            if resealed is None:
                continue
            await session.execute(
                update(signing_keys)
                .where(signing_keys.c.kid == row.kid)
                .values(private_key=resealed)
            )
            log.info(
                "signing key %s %s under KEK %s",
                row.kid,
                "re-wrapped" if is_sealed(row.private_key) else "sealed",
                self._keyring.current.id,
            )

    async def _signing_key(self) -> _Key:
        now = self._clock()
        for fresh in (False, True):
            keys = await self._load(fresh=fresh)
            current = self.policy.signing_key([k.info for k in keys], now)
            if current is not None:
                return next(k for k in keys if k.info.kid == current.kid)
        raise Unavailable("identity has no signing key yet; retry in a moment")

    async def sign(self, claims: AccessClaims) -> str:
        key = await self._signing_key()
        return sign_access_token(claims, key.private, key.info.kid)

    async def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The published keys: the current one, the next one and those retired
        less than one access-token lifetime ago."""
        keys = await self._load()
        published = {k.kid for k in self.policy.published([k.info for k in keys], self._clock())}
        return {k.info.kid: k.public for k in keys if k.info.kid in published}

    async def jwks(self) -> list[dict[str, str]]:
        keys = await self.public_keys()
        return [public_jwk(key, kid) for kid, key in sorted(keys.items())]

    async def run(self, stop: asyncio.Event, *, every: float = 60.0) -> None:
        """Worker: keep the keys maintained until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.maintain()
            except Exception:
                log.exception("signing key maintenance failed; retrying")
            await sleep_unless_stopped(stop, every)


class LocalKeySource:
    """Identity's own public keys for its token verifier: no network call."""

    def __init__(self, keys: SqlSigningKeys) -> None:
        self._keys = keys

    async def public_keys(self) -> dict[str, Ed25519PublicKey]:
        return await self._keys.public_keys()
