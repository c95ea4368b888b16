"""A small OTLP/gRPC trace collector that keeps spans in memory.

Tests point Envoy and the services at it to check that one inbound message
makes one trace across gateway, services and NATS.
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class CollectedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    start_ns: int = 0  # Unix epoch nanoseconds, as the span's process stamped it
    end_ns: int = 0


def _attr_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: list[CollectedSpan], lock: threading.Lock) -> None:
        self._sink = sink
        self._lock = lock

    def Export(  # noqa: N802 - the generated servicer method
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        batch = []
        for resource_spans in request.resource_spans:
            attrs = {a.key: _attr_value(a.value) for a in resource_spans.resource.attributes}
            service = str(attrs.get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    batch.append(
                        CollectedSpan(
                            service=service,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes={a.key: _attr_value(a.value) for a in span.attributes},
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                        )
                    )
        with self._lock:
            self._sink.extend(batch)
        return trace_service_pb2.ExportTraceServiceResponse()


class OtlpCollector:
    def __init__(self) -> None:
        self._spans: list[CollectedSpan] = []
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call]
            _TraceService(self._spans, self._lock), self._server
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def start(self) -> OtlpCollector:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=1)

    def spans(self) -> list[CollectedSpan]:
        with self._lock:
            return list(self._spans)
