"""Calling peer services: a deadline on every call, failures as domain errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from crosstalk_common.errors import Unavailable
from crosstalk_common.grpc.auth import Caller
from crosstalk_common.grpc.deadlines import call_budget
from crosstalk_common.grpc.errors import domain_error_from_rpc_error

Resp = TypeVar("Resp")

DEFAULT_DEADLINE_SECONDS = 3.0


async def call(
    method: Callable[..., Awaitable[Resp]],
    request: Any,
    *,
    caller: Caller,
    timeout: float = DEFAULT_DEADLINE_SECONDS,  # noqa: ASYNC109 - the RPC's deadline, passed to gRPC
) -> Resp:
    """Invoke a unary stub method with a deadline; failures become DomainErrors.

    The deadline is ``timeout`` or, while serving a call, what is left of that
    call's deadline if less; a call with nothing left is not made.
    """
    budget = call_budget(timeout)
    if budget <= 0:
        raise Unavailable(
            "the request's deadline passed before a peer could be asked",
            reason="DEADLINE_EXCEEDED",
        )
    try:
        return await method(request, timeout=budget, metadata=caller.metadata())
    except grpc.aio.AioRpcError as err:
        raise domain_error_from_rpc_error(err) from err
