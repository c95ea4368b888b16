"""Checks every request against its fields' size limits before a servicer sees it.

The limits are the ones ``crosstalk_common.api.request_bounds`` reads from the
protos (or its defaults); a request over any of them fails with
INVALID_ARGUMENT (mapped by ``ErrorMappingInterceptor``) and never reaches
the service's code.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import Message

from crosstalk_common.api.request_bounds import check_request_bounds

# Infrastructure services (health, reflection) are not ours to bound.
_INFRASTRUCTURE = "/grpc."


class RequestBoundsInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if (
            handler is None
            or handler.unary_unary is None
            or handler_call_details.method.startswith(_INFRASTRUCTURE)
        ):
            # Every RPC of ours is unary (AuthInterceptor refuses the others).
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _bounded(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _bounded(behavior: Callable[..., Any]) -> Callable[[Any, Any], Awaitable[Any]]:
    async def call(request: Any, context: Any) -> Any:
        if isinstance(request, Message):
            check_request_bounds(request)
        result = behavior(request, context)
        return await result if inspect.isawaitable(result) else result

    return call
