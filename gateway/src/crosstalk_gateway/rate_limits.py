"""The ``rate_limit:`` section of gateway.yaml: token buckets per client and per process.

Every bucket is a token bucket (``max_tokens``, ``tokens_per_fill`` added every
``fill_interval``). A client is its trusted IP address (``client_address`` in
gateway.yaml decides which one Envoy trusts). Three kinds of bucket:

* ``total``: one bucket for the whole Envoy process, all clients together;
* ``per_client``: every client's own bucket for all its requests;
* ``per_client_methods``: every client's own bucket for one method (the public,
  expensive ones: sign-up, login, refresh, API-key exchange).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

DEFAULT_MAX_CLIENTS = 10_000


class RateLimitConfigError(ValueError):
    """The rate_limit section does not describe valid buckets."""


@dataclass(frozen=True)
class TokenBucket:
    max_tokens: int
    tokens_per_fill: int
    fill_interval: timedelta

    def __post_init__(self) -> None:
        if self.max_tokens < 1 or self.tokens_per_fill < 1:
            raise RateLimitConfigError("max_tokens and tokens_per_fill must be at least 1")
        if self.fill_interval < timedelta(milliseconds=50):
            raise RateLimitConfigError("fill_interval must be at least 50ms (Envoy's minimum)")

    @property
    def retry_after_seconds(self) -> int:
        """Whole seconds until an empty bucket has a token again (at least 1)."""
        return max(1, -(-self.fill_interval // timedelta(seconds=1)))


@dataclass(frozen=True)
class RateLimitSettings:
    total: TokenBucket = TokenBucket(4000, 2000, timedelta(seconds=1))
    per_client: TokenBucket = TokenBucket(400, 200, timedelta(seconds=1))
    # "<package>.<Service>/<Method>" -> each client's bucket for that method
    per_client_methods: Mapping[str, TokenBucket] = field(default_factory=dict)
    # How many clients Envoy keeps a bucket for at once (least recently seen dropped).
    max_clients: int = DEFAULT_MAX_CLIENTS

    def __post_init__(self) -> None:
        if self.max_clients < 1:
            raise RateLimitConfigError("max_clients must be at least 1")


def parse_rate_limit(
    raw: Mapping[str, Any],
    *,
    duration: Any,
    integer: Any,
    method_key: Any,
) -> RateLimitSettings:
    """Build RateLimitSettings from the YAML mapping (helpers come from settings.py)."""
    unknown = sorted(set(raw) - {"total", "per_client", "per_client_methods", "max_clients"})
    if unknown:
        raise RateLimitConfigError(
            f"rate_limit: unknown key(s) {', '.join(unknown)} "
            "(allowed: max_clients, per_client, per_client_methods, total)"
        )
    base = RateLimitSettings()

    def bucket(value: Any, where: str, default: TokenBucket) -> TokenBucket:
        if value is None:
            return default
        if not isinstance(value, Mapping):
            raise RateLimitConfigError(f"{where}: expected a mapping, got {value!r}")
        extra = sorted(set(value) - {"max_tokens", "tokens_per_fill", "fill_interval"})
        if extra:
            raise RateLimitConfigError(f"{where}: unknown key(s) {', '.join(map(str, extra))}")
        return TokenBucket(
            max_tokens=integer(value.get("max_tokens", default.max_tokens), f"{where}.max_tokens"),
            tokens_per_fill=integer(
                value.get("tokens_per_fill", default.tokens_per_fill), f"{where}.tokens_per_fill"
            ),
            fill_interval=duration(
                value.get("fill_interval", default.fill_interval.total_seconds()),
                f"{where}.fill_interval",
            ),
        )

    methods_raw = raw.get("per_client_methods") or {}
    if not isinstance(methods_raw, Mapping):
        raise RateLimitConfigError("rate_limit.per_client_methods: expected a mapping")
    per_method = {
        method_key(str(name)): bucket(
            value, f"rate_limit.per_client_methods[{name}]", base.per_client
        )
        for name, value in methods_raw.items()
    }
    return RateLimitSettings(
        total=bucket(raw.get("total"), "rate_limit.total", base.total),
        per_client=bucket(raw.get("per_client"), "rate_limit.per_client", base.per_client),
        per_client_methods=per_method,
        max_clients=integer(raw.get("max_clients", base.max_clients), "rate_limit.max_clients"),
    )
