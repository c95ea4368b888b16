"""Access tokens messaging obtains for itself (a channel's API key exchanged, its own
service token), kept until shortly before they expire, and verified before use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.errors import Unauthenticated
from crosstalk_common.grpc.auth import Caller

RENEW_BEFORE_SECONDS = 60.0


Fetch = Callable[[], Awaitable[tuple[str, float]]]


class ExpiringTokens:
    """One token per key, fetched by ``fetch() -> (token, expires at in Unix seconds)``
    and fetched again a minute before it expires."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    def _fresh(self, key: str) -> str | None:
        known = self._tokens.get(key)
        if known is not None and known[1] - RENEW_BEFORE_SECONDS > time.time():
            return known[0]
        return None

    async def get(self, key: str, fetch: Fetch) -> str:
        if (token := self._fresh(key)) is not None:
            return token
        async with self._lock:
            if (token := self._fresh(key)) is not None:  # fetched while we waited
                return token
            token, expires = await fetch()
            self._tokens[key] = (token, expires)
            return token


async def verified_caller(verifier: TokenVerifier, token: str, tenant_id: str) -> Caller:
    """The caller a token makes, which must belong to ``tenant_id``."""
    caller = Caller.from_claims(await verifier.verify(token), token)
    if caller.tenant_id != tenant_id:
        raise Unauthenticated("the token obtained for this tenant belongs to another tenant")
    return caller
