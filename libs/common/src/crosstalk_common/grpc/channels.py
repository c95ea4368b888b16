"""gRPC channels to peer services: traced, retrying only transient unavailability."""

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


def open_channel(target: str, *, retry_unavailable: bool = True) -> grpc.aio.Channel:
    options: list[tuple[str, Any]] = [("grpc.enable_retries", 1 if retry_unavailable else 0)]
    if retry_unavailable:
        options.append(("grpc.service_config", _SERVICE_CONFIG))
    return grpc.aio.insecure_channel(target, interceptors=client_interceptors(), options=options)
