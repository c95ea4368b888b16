"""Admission control through a real grpc.aio server on 127.0.0.1:0.

The handler holds each call until the test lets it go, so the number of calls
in flight is exact; the interceptors are the ones every service runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from crosstalk_common.errors import ResourceExhausted, Unavailable
from crosstalk_common.grpc.admission import OVERLOADED, AdmissionInterceptor, AdmissionLimits
from crosstalk_common.grpc.auth import Caller
from crosstalk_common.grpc.client import call as client_call
from crosstalk_common.grpc.deadlines import call_budget, serve_until
from crosstalk_common.grpc.errors import ErrorMappingInterceptor, domain_error_from_rpc_error
from crosstalk_common.permissions import DataScope

_METHOD = "/crosstalk_test.Held/Call"


class _Held:
    """Calls that return only when released, in the order they arrived."""

    def __init__(self) -> None:
        self.started: list[bytes] = []
        self.release = asyncio.Event()

    async def call(self, request: bytes, context: Any) -> bytes:
        self.started.append(request)
        await self.release.wait()
        return b"done:" + request


@pytest.fixture
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Any, _Held, Any, Any]]:
    limits: AdmissionLimits = request.param
    held = _Held()
    admission = AdmissionInterceptor(limits)
    server = grpc.aio.server(interceptors=[ErrorMappingInterceptor("test.crosstalk.io"), admission])
    handler = grpc.unary_unary_rpc_method_handler(held.call)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("crosstalk_test.Held", {"Call": handler})]
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield channel, held, channel.unary_unary(_METHOD), admission
    finally:
        held.release.set()
        await channel.close()
        await server.stop(None)


async def _until(predicate: Any) -> None:
    for _ in range(500):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


@pytest.mark.parametrize(
    "served", [AdmissionLimits(limit=2, wait=0.05, retry_after=3)], indirect=True
)
async def test_a_call_beyond_the_limit_is_refused_with_retry_advice(served: Any) -> None:
    channel, held, call, _ = served
    running = [
        asyncio.ensure_future(call(b"a", timeout=10)),
        asyncio.ensure_future(call(b"b", timeout=10)),
    ]
    await _until(lambda: len(held.started) == 2)

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(b"c", timeout=10)

    err = refused.value
    assert err.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert sorted(held.started) == [b"a", b"b"]  # the refused call never reached the handler
    assert ("retry-after", "3") in tuple(err.trailing_metadata() or ())
    status = rpc_status.from_call(err)
    infos = {d.TypeName(): d for d in status.details}
    retry = error_details_pb2.RetryInfo()
    infos[retry.DESCRIPTOR.full_name].Unpack(retry)
    assert retry.retry_delay.seconds == 3
    rebuilt = domain_error_from_rpc_error(err)
    assert isinstance(rebuilt, ResourceExhausted)
    assert rebuilt.reason == OVERLOADED
    assert rebuilt.retry_after == 3

    # Health checks are never refused, however busy the service is.
    answer = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(), timeout=5
    )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING

    held.release.set()
    assert await asyncio.gather(*running) == [b"done:a", b"done:b"]
    assert await call(b"d", timeout=10) == b"done:d"  # slots came back


@pytest.mark.parametrize(
    "served", [AdmissionLimits(limit=1, wait=10, retry_after=1)], indirect=True
)
async def test_waiting_calls_get_freed_slots_in_arrival_order(served: Any) -> None:
    _, held, call, admission = served
    first = asyncio.ensure_future(call(b"1", timeout=20))
    await _until(lambda: held.started == [b"1"])
    second = asyncio.ensure_future(call(b"2", timeout=20))
    await _until(lambda: len(admission._waiting) == 1)
    third = asyncio.ensure_future(call(b"3", timeout=20))
    await _until(lambda: len(admission._waiting) == 2)
    assert held.started == [b"1"]  # the others wait for the one slot

    held.release.set()
    assert await asyncio.gather(first, second, third) == [b"done:1", b"done:2", b"done:3"]
    assert held.started == [b"1", b"2", b"3"]


@pytest.mark.parametrize(
    "served", [AdmissionLimits(limit=1, wait=10, retry_after=1)], indirect=True
)
async def test_a_wait_never_outlasts_the_callers_deadline_and_frees_nothing(served: Any) -> None:
    _, held, call, _ = served
    first = asyncio.ensure_future(call(b"1", timeout=20))
    await _until(lambda: held.started == [b"1"])

    with pytest.raises(grpc.aio.AioRpcError) as late:
        await call(b"2", timeout=0.3)
    assert late.value.code() in (
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    )

    # The abandoned wait does not take the slot when it frees up.
    held.release.set()
    assert await first == b"done:1"
    assert await call(b"3", timeout=5) == b"done:3"
    assert held.started == [b"1", b"3"]


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        AdmissionLimits(limit=0)
    with pytest.raises(ValueError):
        AdmissionLimits(wait=-1)


def _caller() -> Caller:
    return Caller(
        tenant_id="t",
        subject="members/1",
        permissions=frozenset(),
        data_scope=DataScope.ALL,
        department_id="",
        visible_departments=frozenset(),
        token="x",
    )


async def test_a_peer_is_given_no_more_time_than_the_caller_has_left() -> None:
    """A service serving a call asks its peer with the caller's remaining deadline,
    not its own longer one (crosstalk_common.grpc.deadlines)."""
    seen: list[float | None] = []

    async def peer(request: bytes, context: Any) -> bytes:
        seen.append(context.time_remaining())
        return request

    peer_server = grpc.aio.server()
    peer_server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "crosstalk_test.Peer", {"Echo": grpc.unary_unary_rpc_method_handler(peer)}
            )
        ]
    )
    peer_port = peer_server.add_insecure_port("127.0.0.1:0")
    await peer_server.start()
    peer_channel = grpc.aio.insecure_channel(f"127.0.0.1:{peer_port}")
    caller = _caller()

    async def front(request: bytes, context: Any) -> bytes:
        echoed: bytes = await client_call(
            peer_channel.unary_unary("/crosstalk_test.Peer/Echo"),
            request,
            caller=caller,
            timeout=30,
        )
        return echoed

    server = grpc.aio.server(
        interceptors=[
            ErrorMappingInterceptor("test.crosstalk.io"),
            AdmissionInterceptor(AdmissionLimits()),
        ]
    )
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "crosstalk_test.Front", {"Call": grpc.unary_unary_rpc_method_handler(front)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await channel.unary_unary("/crosstalk_test.Front/Call")(b"x", timeout=2) == b"x"
            assert await channel.unary_unary("/crosstalk_test.Front/Call")(b"y") == b"y"
    finally:
        await peer_channel.close()
        await server.stop(None)
        await peer_server.stop(None)
    with_deadline, without = seen
    assert with_deadline is not None
    assert with_deadline < 5  # about the caller's 2 s, not the 30 s the service asks for itself
    assert without is not None
    assert without > 10  # no caller deadline: the service's own 30 s


async def test_a_peer_is_not_asked_once_the_callers_deadline_has_passed() -> None:
    asked: list[Any] = []

    async def method(request: Any, **kwargs: Any) -> Any:
        asked.append(request)
        return request

    caller = _caller()
    serve_until(-0.001)
    try:
        with pytest.raises(Unavailable) as late:
            await client_call(method, b"x", caller=caller, timeout=5)
    finally:
        serve_until(None)
    assert late.value.reason == "DEADLINE_EXCEEDED"
    assert asked == []
    assert call_budget(5) == 5
