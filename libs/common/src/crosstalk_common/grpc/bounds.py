"""Checks every request against its fields' size limits before a servicer sees it.

The limits are the ones ``crosstalk_common.api.request_bounds`` reads from the
protos (or its defaults); a request over any of them fails with
INVALID_ARGUMENT (mapped by ``ErrorMappingInterceptor``) and never reaches
the service's code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.message import Message

from crosstalk_common.api.request_bounds import check_request_bounds
from crosstalk_common.grpc.unary_interceptor import Behavior, UnaryInterceptor, run


class RequestBoundsInterceptor(UnaryInterceptor):
    def wrap(self, behavior: Behavior, method: str) -> Callable[[Any, Any], Awaitable[Any]]:
        async def call(request: Any, context: Any) -> Any:
            if isinstance(request, Message):
                check_request_bounds(request)
            return await run(behavior, request, context)

        return call
