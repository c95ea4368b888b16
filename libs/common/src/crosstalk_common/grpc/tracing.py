"""One SERVER span per call, child of the caller's trace (W3C ``traceparent``).

Replaces opentelemetry-instrumentation-grpc's aio server interceptor, which
records every abort (and ``ErrorMappingInterceptor`` answers every domain
error, from NOT_FOUND to OVERLOADED, with an abort) as an exception event
twice, formatting its traceback each time; under overload that formatting
cost a service more CPU than the calls it refused (issue 14's profile). Here
an abort only sets the span's gRPC status code; an exception that escapes
every other interceptor is still recorded, with its stack.

Span name and attributes follow the OpenTelemetry RPC conventions as the
instrumentation did: the span is named by the full method, carries
``rpc.system``, ``rpc.service``, ``rpc.method`` and ``rpc.grpc.status_code``,
and ends in ERROR for the codes that mean the server failed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from crosstalk_common.grpc.unary_interceptor import Behavior, UnaryInterceptor, run

# A client's mistake (INVALID_ARGUMENT, NOT_FOUND, ...) is not a server failure.
_SERVER_FAILURES = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


class ServerTracingInterceptor(UnaryInterceptor):
    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        super().__init__()
        self._tracer = trace.get_tracer("crosstalk_common.grpc", tracer_provider=tracer_provider)

    def wrap(self, behavior: Behavior, method: str) -> Callable[[Any, Any], Awaitable[Any]]:
        service, _, name = method.lstrip("/").partition("/")
        tracer = self._tracer
        # The span's attributes, per method (the SDK copies them into the span).
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": name}

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            carrier = dict(context.invocation_metadata() or ())
            parent = propagate.extract(carrier) if "traceparent" in carrier else None
            # start_span and attach rather than start_as_current_span: the same
            # span made current, without its two generator context managers.
            span = tracer.start_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes=attributes,
                record_exception=False,
                set_status_on_exception=False,
            )
            token = otel_context.attach(trace.set_span_in_context(span))
            try:
                response = await run(behavior, request, context)
            except grpc.aio.AbortError:
                _finish(span, context.code() or grpc.StatusCode.UNKNOWN)
                raise
            except Exception as error:
                span.record_exception(error)
                _finish(span, grpc.StatusCode.UNKNOWN)
                raise
            else:
                _finish(span, context.code() or grpc.StatusCode.OK)
                return response
            finally:
                otel_context.detach(token)
                span.end()

        return call


def _finish(span: trace.Span, code: grpc.StatusCode) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in _SERVER_FAILURES:
        span.set_status(Status(StatusCode.ERROR, code.name))
