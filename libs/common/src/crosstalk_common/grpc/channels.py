"""gRPC channels to peer services: traced, retrying only transient unavailability,
reconnecting within a second of a peer coming back."""

from __future__ import annotations

import json
from typing import Any

import grpc

from crosstalk_common.telemetry import client_interceptors

# Retries for transient unavailability only; methods must be idempotent to
# be called through this channel's retry (peers' reads and upserts are).
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{}],
                "retryPolicy": {
                    "maxAttempts": 3,
                    "initialBackoff": "0.05s",
                    "maxBackoff": "0.5s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)


# How soon a channel tries again to connect to a peer it could not reach. gRPC's
# defaults (1 s, growing 1.6x to 120 s) left a service refusing every call for
# seconds to minutes after a peer that had been down a while was back: a call
# while the channel waits fails at once as UNAVAILABLE. Peers here are a few
# services on a known network, so trying once a second costs nothing.
INITIAL_RECONNECT_BACKOFF_SECONDS = 0.2
MAX_RECONNECT_BACKOFF_SECONDS = 1.0


def open_channel(target: str, *, retry_unavailable: bool = True) -> grpc.aio.Channel:
    options: list[tuple[str, Any]] = [
        ("grpc.enable_retries", 1 if retry_unavailable else 0),
        ("grpc.initial_reconnect_backoff_ms", round(INITIAL_RECONNECT_BACKOFF_SECONDS * 1000)),
        ("grpc.max_reconnect_backoff_ms", round(MAX_RECONNECT_BACKOFF_SECONDS * 1000)),
    ]
    if retry_unavailable:
        options.append(("grpc.service_config", _SERVICE_CONFIG))
    return grpc.aio.insecure_channel(target, interceptors=client_interceptors(), options=options)
