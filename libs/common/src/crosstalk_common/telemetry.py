"""OpenTelemetry setup: one tracer provider per process, gRPC interceptors.

Spans go to the OTLP collector named by OTEL_EXPORTER_OTLP_ENDPOINT (gRPC)
when it is set, and nowhere otherwise. Health checks make no spans.
"""

from __future__ import annotations

import os
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.instrumentation.grpc.filters import health_check, negate
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from crosstalk_common.grpc.tracing import ServerTracingInterceptor

_provider: TracerProvider | None = None


def setup_telemetry(service_name: str) -> TracerProvider:
    """Install the process's tracer provider (once; later calls return it)."""
    global _provider
    if _provider is not None:
        return _provider
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        _provider = current  # tests install their own in-memory provider first
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_telemetry() -> None:
    if _provider is not None:
        _provider.shutdown()


def server_interceptors() -> list[Any]:
    return [ServerTracingInterceptor()]


def client_interceptors() -> list[Any]:
    return list(aio_client_interceptors(filter_=negate(health_check())))  # type: ignore[no-untyped-call]
