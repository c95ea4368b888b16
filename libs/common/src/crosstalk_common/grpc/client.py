"""Calling peer services: traced channels, a deadline on every call, domain errors."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from crosstalk_common.grpc.auth import Caller
from crosstalk_common.grpc.errors import domain_error_from_rpc_error
from crosstalk_common.telemetry import client_interceptors

Resp = TypeVar("Resp")

DEFAULT_DEADLINE_SECONDS = 3.0

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


async def call(
    method: Callable[..., Awaitable[Resp]],
    request: Any,
    *,
    caller: Caller,
    timeout: float = DEFAULT_DEADLINE_SECONDS,  # noqa: ASYNC109 - the RPC's deadline, passed to gRPC
) -> Resp:
    """Invoke a unary stub method with a deadline; failures become DomainErrors."""
    try:
        return await method(request, timeout=timeout, metadata=caller.metadata())
    except grpc.aio.AioRpcError as err:
        raise domain_error_from_rpc_error(err) from err
