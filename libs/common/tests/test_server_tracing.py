"""The server span of a call, through a real grpc.aio server on 127.0.0.1:0.

The interceptors are in the order every service runs them (tracing outermost,
then error mapping); spans go to an in-memory exporter.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from crosstalk_common.errors import NotFound
from crosstalk_common.grpc.errors import ErrorMappingInterceptor
from crosstalk_common.grpc.tracing import ServerTracingInterceptor

SERVICE = "crosstalk_test.Traced"
CALLER_TRACE = 0x0AF7651916CD43DD8448EB211C80319C
CALLER_SPAN = 0xB7AD6B7169203331
TRACEPARENT = f"00-{CALLER_TRACE:032x}-{CALLER_SPAN:016x}-01"


@pytest.fixture
def provider() -> TracerProvider:
    """A provider of the test's own: the process-wide one is left alone."""
    return TracerProvider()


@pytest.fixture
def exporter(provider: TracerProvider) -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


async def _ok(request: bytes, context: Any) -> bytes:
    return request


async def _current(request: bytes, context: Any) -> bytes:
    """The span current in the handler: trace id and span id, hex."""
    current = trace.get_current_span().get_span_context()
    return f"{current.trace_id:032x}-{current.span_id:016x}".encode()


async def _missing(request: bytes, context: Any) -> bytes:
    raise NotFound("customer", "customers/42")


async def _broken(request: bytes, context: Any) -> bytes:
    raise RuntimeError("bug")


@pytest.fixture
async def channel(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(
        interceptors=[
            ServerTracingInterceptor(tracer_provider=provider),
            ErrorMappingInterceptor("test.crosstalk.io"),
        ]
    )
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(behavior)
        for name, behavior in {
            "Ok": _ok,
            "Current": _current,
            "Missing": _missing,
            "Broken": _broken,
        }.items()
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as connected:
        yield connected
    await server.stop(None)


async def finished_spans(exporter: InMemorySpanExporter) -> Sequence[Any]:
    """The spans finished so far, once there is one: the server ends a call's span in
    its own task, which may run after the client has its answer (at most 2 s)."""
    for _ in range(200):
        spans = exporter.get_finished_spans()
        if spans:
            return spans
        await asyncio.sleep(0.01)
    return exporter.get_finished_spans()


async def test_a_call_is_one_server_span_in_the_callers_trace(
    channel: grpc.aio.Channel, exporter: InMemorySpanExporter
) -> None:
    call = channel.unary_unary(f"/{SERVICE}/Ok")
    assert await call(b"x", metadata=[("traceparent", TRACEPARENT)], timeout=5) == b"x"

    (span,) = await finished_spans(exporter)
    assert span.name == f"/{SERVICE}/Ok"
    assert span.kind is SpanKind.SERVER
    assert span.context.trace_id == CALLER_TRACE
    assert span.parent is not None
    assert span.parent.span_id == CALLER_SPAN
    assert span.attributes == {
        "rpc.system": "grpc",
        "rpc.service": SERVICE,
        "rpc.method": "Ok",
        "rpc.grpc.status_code": 0,
    }
    assert span.status.status_code is StatusCode.UNSET


async def test_a_domain_error_sets_the_code_without_an_exception_event(
    channel: grpc.aio.Channel, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await channel.unary_unary(f"/{SERVICE}/Missing")(b"x", timeout=5)
    assert refused.value.code() is grpc.StatusCode.NOT_FOUND

    (span,) = await finished_spans(exporter)
    assert span.parent is None  # no traceparent: a trace of its own
    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert span.events == ()  # no traceback formatted for a caller's mistake
    assert span.status.status_code is StatusCode.UNSET


async def test_a_server_failure_marks_the_span_as_an_error(
    channel: grpc.aio.Channel, exporter: InMemorySpanExporter
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await channel.unary_unary(f"/{SERVICE}/Broken")(b"x", timeout=5)
    assert failed.value.code() is grpc.StatusCode.INTERNAL

    (span,) = await finished_spans(exporter)
    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INTERNAL.value[0]
    assert span.status.status_code is StatusCode.ERROR


async def test_the_calls_span_is_current_in_the_handler(
    channel: grpc.aio.Channel, exporter: InMemorySpanExporter
) -> None:
    # What the handler writes to the outbox and sends to peers continues this span.
    call = channel.unary_unary(f"/{SERVICE}/Current")
    seen = await call(b"", metadata=[("traceparent", TRACEPARENT)], timeout=5)
    (span,) = await finished_spans(exporter)
    assert seen.decode() == f"{span.context.trace_id:032x}-{span.context.span_id:016x}"
    assert span.context.trace_id == CALLER_TRACE
