"""The shared interceptor shape: our unary RPCs wrapped once per method, health untouched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from crosstalk_common.grpc.unary_interceptor import Behavior, UnaryInterceptor, run


class _Counting(UnaryInterceptor):
    def __init__(self) -> None:
        super().__init__()
        self.wrapped: list[str] = []
        self.calls = 0

    def wrap(self, behavior: Behavior, method: str) -> Callable[[Any, Any], Awaitable[Any]]:
        self.wrapped.append(method)

        async def call(request: Any, context: Any) -> Any:
            self.calls += 1
            return await run(behavior, request, context)

        return call


async def _echo(request: bytes, context: Any) -> bytes:
    return request


def _shout(request: bytes, context: Any) -> bytes:  # a plain function works too
    return request.upper()


async def test_each_method_is_wrapped_once_and_health_checks_pass_by() -> None:
    counting = _Counting()
    server = grpc.aio.server(interceptors=[counting])
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(_echo),
        "Shout": grpc.unary_unary_rpc_method_handler(_shout),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.S", handlers)])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo, shout = channel.unary_unary("/t.S/Echo"), channel.unary_unary("/t.S/Shout")
            for n in range(3):
                assert await echo(b"x%d" % n, timeout=5) == b"x%d" % n
            assert await shout(b"hey", timeout=5) == b"HEY"
            probe = health_pb2_grpc.HealthStub(channel)
            await probe.Check(health_pb2.HealthCheckRequest(), timeout=5)
    finally:
        await server.stop(None)

    assert counting.wrapped == ["/t.S/Echo", "/t.S/Shout"]  # once per method, not per call
    assert counting.calls == 4  # every call of ours went through; the health check did not
