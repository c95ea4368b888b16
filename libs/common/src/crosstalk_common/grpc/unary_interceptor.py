"""The shape every one of our server interceptors shares, written once.

Each of them wraps the behaviour of a unary RPC of ours in a function of its
own; health checks and reflection (``/grpc.*``) pass untouched. grpc.aio asks
every interceptor for the handler on every call, so the wrapped handler is
kept per method and handed out again as long as the handler beneath it is the
same object (it is, call after call): a call no longer builds a new handler
and new closures in every interceptor.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

Behavior = Callable[[Any, Any], Any]
Deserializer = Callable[[bytes], Any]

INFRASTRUCTURE = "/grpc."

_Handler = TypeVar("_Handler")
_Wrapped = TypeVar("_Wrapped")


class WrappedHandlers:
    """Per method, the handler beneath and its wrapped form: the wrapped one is
    handed out again while the handler beneath is the same object."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[Any, Any]] = {}

    def get(self, method: str, handler: _Handler, wrap: Callable[[_Handler], _Wrapped]) -> _Wrapped:
        kept = self._kept.get(method)
        if kept is not None and kept[0] is handler:
            wrapped: _Wrapped = kept[1]
            return wrapped
        wrapped = wrap(handler)
        self._kept[method] = (handler, wrapped)
        return wrapped


async def run(behavior: Behavior, request: Any, context: Any) -> Any:
    """The wrapped behaviour's answer, whether it is a coroutine function or not."""
    result = behavior(request, context)
    return await result if inspect.isawaitable(result) else result


class UnaryInterceptor(grpc.aio.ServerInterceptor, ABC):
    def __init__(self) -> None:
        self._wrapped = WrappedHandlers()

    @abstractmethod
    def wrap(self, behavior: Behavior, method: str) -> Callable[[Any, Any], Awaitable[Any]]:
        """The behaviour of ``method`` with this interceptor's work around it."""

    def deserializer(self, deserializer: Deserializer | None) -> Deserializer | None:
        """The request deserializer to use instead (the same one unless overridden)."""
        return deserializer

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or method.startswith(INFRASTRUCTURE):
            return handler
        return self._wrapped.get(
            method,
            handler,
            lambda beneath: grpc.unary_unary_rpc_method_handler(
                self.wrap(beneath.unary_unary, method),
                request_deserializer=self.deserializer(beneath.request_deserializer),
                response_serializer=beneath.response_serializer,
            ),
        )
