"""A real Envoy from the generated config, in front of a tiny in-test ReportingService.

REST (transcoded), gRPC-Web, native gRPC, CORS, error details, access log and
tracing (traceparent upstream, spans to an in-test OTLP collector). Loopback only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import struct
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory
from google.rpc import (  # type: ignore[import-untyped, unused-ignore]
    code_pb2,
    error_details_pb2,
    status_pb2,
)
from grpc_health.v1 import health, health_pb2_grpc
from grpc_status import rpc_status
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from crosstalk_common.auth.claims import AccessClaims
from crosstalk_common.auth.tokens import public_jwk, sign_access_token
from crosstalk_common.permissions import DataScope
from crosstalk_gateway.generate import write_envoy_config
from crosstalk_gateway.process import free_port, start_envoy, stop_envoy, wait_ready
from crosstalk_gateway.settings import load_settings

SERVICE = "crosstalk.reporting.v1.ReportingService"
ORIGIN = "http://localhost:3000"
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$")
# Bounds for things Envoy does in the background (span export, access-log flush).
EVENTUALLY_SECONDS = 30.0


def message_classes(descriptor_path: Path) -> Callable[[str], type[message.Message]]:
    """Message classes straight from the descriptor set (no generated code needed)."""
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_path.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for file in fds.file:  # protoc writes dependencies first
        pool.AddSerializedFile(file.SerializeToString())

    def get(full_name: str) -> type[message.Message]:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(full_name))

    return get


class Reporting:
    """crosstalk.reporting.v1.ReportingService with fixed answers; records metadata."""

    def __init__(self, classes: Callable[[str], type[message.Message]]) -> None:
        self.dashboard = classes("crosstalk.reporting.v1.Dashboard")
        self.get_request = classes("crosstalk.reporting.v1.GetDashboardRequest")
        self.query_request = classes("crosstalk.reporting.v1.QueryMetricRequest")
        self.query_response = classes("crosstalk.reporting.v1.QueryMetricResponse")
        self.update_request = classes("crosstalk.reporting.v1.UpdateScheduledReportRequest")
        self.metadata: list[dict[str, str]] = []
        self.updated: dict[str, str] = {}  # x-test-marker -> scheduled_report.name received

    async def _record(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        """Keep the metadata; fail with UNAVAILABLE while this marker has failures left
        (``x-test-fail-first: N`` fails the first N calls carrying the same marker)."""
        metadata = {
            str(k): v if isinstance(v, str) else "<bin>"
            for k, v in context.invocation_metadata() or ()
        }
        self.metadata.append(metadata)
        marker = metadata.get("x-test-marker")
        fail_first = int(metadata.get("x-test-fail-first", "0"))
        if marker and self.calls(marker) <= fail_first:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "try again")

    def calls(self, marker: str) -> int:
        return sum(1 for m in self.metadata if m.get("x-test-marker") == marker)

    async def get_dashboard(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await self._record(context)
        return self.dashboard(
            messages_received=12, rules_fired=3, customers_created=5, customers_tagged=0
        )

    async def query_metric(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await self._record(context)
        if not request.metric:
            status = status_pb2.Status(
                code=code_pb2.INVALID_ARGUMENT, message="metric: name the metric to query"
            )
            status.details.add().Pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field="metric", description="required, e.g. messages_received"
                        )
                    ]
                )
            )
            rich = rpc_status.to_status(status)
            await context.abort(rich.code, rich.details, rich.trailing_metadata)
        return self.query_response(total=1.5)

    async def update_scheduled_report(
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Any:
        await self._record(context)
        self.updated[self.metadata[-1].get("x-test-marker", "")] = request.scheduled_report.name
        return request.scheduled_report

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "GetDashboard": grpc.unary_unary_rpc_method_handler(
                    self.get_dashboard,
                    request_deserializer=self.get_request.FromString,
                    response_serializer=lambda m: m.SerializeToString(),
                ),
                "QueryMetric": grpc.unary_unary_rpc_method_handler(
                    self.query_metric,
                    request_deserializer=self.query_request.FromString,
                    response_serializer=lambda m: m.SerializeToString(),
                ),
                "UpdateScheduledReport": grpc.unary_unary_rpc_method_handler(
                    self.update_scheduled_report,
                    request_deserializer=self.update_request.FromString,
                    response_serializer=lambda m: m.SerializeToString(),
                ),
            },
        )


class Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc, unused-ignore]
    """An OTLP/gRPC trace collector that keeps what it is sent."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def Export(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[str, str, Any]]:
        """(service.name, trace id hex, span) of everything received."""
        out = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                attrs = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        out.append((attrs.get("service.name", ""), span.trace_id.hex(), span))
        return out


# -- a stand-in for identity: a signing key, its JWKS over HTTP, a token --------------------

SIGNING_KEY = Ed25519PrivateKey.generate()
KID = "test-key"
TOKEN_TENANT = "tenant-from-token"


def access_token(*, expires_in: int = 600) -> str:
    now = int(time.time())
    claims = AccessClaims(
        subject="members/m-1",
        tenant_id=TOKEN_TENANT,
        permissions=frozenset({"reports.read"}),
        data_scope=DataScope.ALL,
        department_id="",
        visible_departments=frozenset(),
        issued_at=now - 10,
        expires_at=now + expires_in,
        token_id=uuid.uuid4().hex,
    )
    return sign_access_token(claims, SIGNING_KEY, KID)


def start_jwks_server() -> tuple[ThreadingHTTPServer, int]:
    body = json.dumps({"keys": [public_jwk(SIGNING_KEY.public_key(), KID)]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/.well-known/jwks.json" else 404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


@dataclass
class Gateway:
    token: str
    base_url: str
    grpc_target: str
    log_path: Path
    reporting: Reporting
    collector: Collector


@pytest.fixture(scope="module")
async def gateway(
    descriptor_path: Path, gateway_yaml: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Gateway]:
    work = tmp_path_factory.mktemp("envoy-run")
    reporting = Reporting(message_classes(descriptor_path))
    upstream = grpc.aio.server()
    upstream.add_generic_rpc_handlers([reporting.handler()])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), upstream)
    upstream_port = upstream.add_insecure_port("127.0.0.1:0")
    collector = Collector()
    collector_server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(  # type: ignore[no-untyped-call, unused-ignore]
        collector, collector_server
    )
    collector_port = collector_server.add_insecure_port("127.0.0.1:0")
    await upstream.start()
    await collector_server.start()

    jwks_server, jwks_port = start_jwks_server()
    base = load_settings(gateway_yaml)
    listen_port, admin_port = free_port(), free_port()
    upstreams = {name: ("127.0.0.1", free_port()) for name in base.upstreams}  # nothing there
    upstreams["reporting"] = ("127.0.0.1", upstream_port)
    settings = load_settings(
        gateway_yaml,
        overrides={
            "listen_port": listen_port,
            "admin_port": admin_port,
            "upstreams": upstreams,
            "otlp_endpoint": ("127.0.0.1", collector_port),
            "jwks_endpoint": ("127.0.0.1", jwks_port),
        },
    )
    config = write_envoy_config(descriptor_path, settings, work / "envoy.yaml")
    log_path = work / "envoy.log"
    process = await asyncio.to_thread(start_envoy, config, random.randint(10_000, 60_000), log_path)
    try:
        await asyncio.to_thread(wait_ready, admin_port, 60.0, process=process, log_path=log_path)
        yield Gateway(
            token=access_token(),
            base_url=f"http://127.0.0.1:{listen_port}",
            grpc_target=f"127.0.0.1:{listen_port}",
            log_path=log_path,
            reporting=reporting,
            collector=collector,
        )
    finally:
        await asyncio.to_thread(stop_envoy, process)
        jwks_server.shutdown()
        await upstream.stop(None)
        await collector_server.stop(None)


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=gateway.base_url,
        timeout=10.0,
        headers={"authorization": f"Bearer {gateway.token}"},
    ) as http:
        yield http


async def test_rest_get_is_transcoded_to_lower_camel_json(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    marker = uuid.uuid4().hex
    response = await client.get(
        "/v1/dashboard", headers={"x-crosstalk-tenant-id": "spoofed", "x-test-marker": marker}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    # int64 is a JSON string; zero values are printed too (always_print_primitive_fields).
    assert response.json() == {
        "messagesReceived": "12",
        "rulesFired": "3",
        "customersCreated": "5",
        "customersTagged": "0",
        "tiles": [],
        "defaultTiles": False,
        "etag": "",
        "name": "",
    }
    seen = next(m for m in gateway.reporting.metadata if m.get("x-test-marker") == marker)
    # The client's copy was stripped; the gateway set it from the verified token.
    assert seen["x-crosstalk-tenant-id"] == TOKEN_TENANT
    assert seen["authorization"] == f"Bearer {gateway.token}"  # forwarded for the service


async def test_rest_invalid_argument_carries_field_violations(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/metrics:query", json={"granularity": "GRANULARITY_DAY"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code_pb2.INVALID_ARGUMENT
    assert "metric" in body["message"]
    (detail,) = body["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert detail["fieldViolations"][0]["field"] == "metric"


async def test_rest_post_succeeds(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/metrics:query", json={"metric": "messages_received"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "points": [],
        "total": 1.5,
        "unit": "",
        "aggregation": "",
        "previousPoints": [],
        "previousTotal": 0,
    }


@pytest.mark.parametrize(
    "content",
    [
        b'{"metric": ',
        b"not json at all",
        b'{"metric": "m", "granularity": "GRANULARITY_HOURLY"}',
        b'{"metric": {"nested": 1}}',
        b'{"metric": "m", "startTime": "yesterday"}',
        b"[1, 2]",
    ],
    ids=["truncated", "garbage", "bad-enum", "wrong-type", "bad-timestamp", "array"],
)
async def test_rest_bad_json_is_400_not_503(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        "/v1/metrics:query", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    ("path", "content", "field"),
    [
        (
            "/v1/metrics:query",
            b'{"metric": "m", "granularity": "GRANULARITY_HOURLY"}',
            "granularity",
        ),
        ("/v1/metrics:query", b'{"metric": 5}', "metric"),
        ("/v1/metrics:query", b'{"metric": "m", "startTime": "yesterday"}', "start_time"),
        (
            "/v1/metrics:query",
            b'{"metric": "m", "filters": [{"dimension": "GROUP_BY_TAG", "values": [5]}]}',
            "filters[0].values[0]",
        ),
        ("/v1/dashboard?bogus=1", None, "bogus"),
    ],
    ids=["bad-enum", "wrong-type", "bad-timestamp", "nested-wrong-type", "unknown-query"],
)
async def test_rest_values_the_transcoder_refuses_are_named_in_a_bad_request(
    gateway: Gateway, client: httpx.AsyncClient, path: str, content: bytes | None, field: str
) -> None:
    """The transcoder's own refusals name the field only in their message; the
    gateway adds the BadRequest field violation every other 400 carries."""
    marker = uuid.uuid4().hex
    headers = {"x-test-marker": marker, "content-type": "application/json"}
    if content is None:
        response = await client.get(path, headers=headers)
    else:
        response = await client.post(path, content=content, headers=headers)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code_pb2.INVALID_ARGUMENT
    assert field in body["message"]
    (detail,) = body["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    (violation,) = detail["fieldViolations"]
    assert violation["field"] == field
    assert violation["description"]
    assert gateway.reporting.calls(marker) == 0


async def test_rest_malformed_json_names_no_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/metrics:query", content=b'{"metric": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["details"] == []


async def test_rest_unknown_json_field_is_refused(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    """Envoy's transcoder drops unknown JSON body fields (the transcoding library
    hard-codes ``ignore_unknown_fields`` and Envoy 1.40 has no option to change it);
    the body-fields Lua filter before it refuses them, naming the field, before the
    service is called. Unknown *query parameters* the transcoder refuses itself."""
    marker = uuid.uuid4().hex
    response = await client.post(
        "/v1/metrics:query",
        json={"metric": "messages_received", "noSuchField": {"x": [1]}},
        headers={"x-test-marker": marker},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == 3
    assert "noSuchField" in response.json()["message"]
    assert not any(m.get("x-test-marker") == marker for m in gateway.reporting.metadata)


async def _patch_marked(
    client: httpx.AsyncClient, path: str, content: str
) -> tuple[str, httpx.Response]:
    """PATCH a JSON body with a fresh x-test-marker; the marker and the answer."""
    marker = uuid.uuid4().hex
    headers = {"x-test-marker": marker, "content-type": "application/json"}
    return marker, await client.patch(path, content=content, headers=headers)


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/v1/scheduledReports/r1", '{"name": "scheduledReports/r2", "displayName": "x"}'),
        ("/v1/scheduledReports/r1?updateMask=displayName", '{"name": "scheduledReports/r2"}'),
        ("/v1/scheduledReports/r1", '{"displayName": "x", "name": "scheduledReports/r12"}'),
        ("/v1/scheduledReports/r1", '{"name": "scheduledReports/r1", "name": "x/r2"}'),
        # The transcoder would send the empty name rather than the path's.
        ("/v1/scheduledReports/r1", '{"name": "", "displayName": "x"}'),
    ],
    ids=["other", "other-with-query", "longer", "second-of-two", "empty"],
)
async def test_rest_update_body_naming_another_resource_is_refused(
    gateway: Gateway, client: httpx.AsyncClient, path: str, content: str
) -> None:
    """The transcoder lets the body's name override the path's (found by schemathesis:
    PATCH /v1/members/0 updated the member the body named); the body-fields filter
    refuses a body name other than the path's before the service is called."""
    marker, response = await _patch_marked(client, path, content)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code_pb2.INVALID_ARGUMENT
    (detail,) = body["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    (violation,) = detail["fieldViolations"]
    assert violation["field"] == "scheduled_report.name"
    assert "path" in violation["description"]
    assert gateway.reporting.calls(marker) == 0


@pytest.mark.parametrize(
    ("path", "content", "name"),
    [
        ("/v1/scheduledReports/r1", '{"name": "scheduledReports/r1"}', "scheduledReports/r1"),
        ("/v1/scheduledReports/r1", '{"displayName": "x"}', "scheduledReports/r1"),
        (
            "/v1/scheduledReports/r1?updateMask=displayName",
            '{"name": "scheduledReports/r1", "displayName": "x"}',
            "scheduledReports/r1",
        ),
        (
            "/v1/scheduledReports/r%C3%A9",
            r'{"name": "scheduledReports/r\u00e9"}',
            "scheduledReports/ré",
        ),
        ("/v1/scheduledReports/r1", r'{"name": "scheduledReports\/r1"}', "scheduledReports/r1"),
    ],
    ids=["same", "absent", "same-with-query", "escaped", "json-escaped"],
)
async def test_rest_update_body_naming_the_path_resource_passes(
    gateway: Gateway, client: httpx.AsyncClient, path: str, content: str, name: str
) -> None:
    marker, response = await _patch_marked(client, path, content)
    assert response.status_code == 200, response.text
    assert gateway.reporting.updated[marker] == name


async def test_unknown_query_parameter_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/dashboard", params={"bogus": "1"})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/nothing-here"),
        ("POST", "/v2/metrics:query"),
        ("GET", "/crosstalk.reporting.v1.ReportingService/NoSuchMethod"),
    ],
)
async def test_unknown_paths_are_404(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == 404, response.text


def grpc_web_frames(body: bytes) -> list[tuple[int, bytes]]:
    frames, offset = [], 0
    while offset < len(body):
        flags, length = struct.unpack(">BI", body[offset : offset + 5])
        frames.append((flags, body[offset + 5 : offset + 5 + length]))
        offset += 5 + length
    return frames


async def test_grpc_web(gateway: Gateway, client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"/{SERVICE}/GetDashboard",
        content=b"\x00\x00\x00\x00\x00",  # one uncompressed frame holding an empty message
        headers={
            "content-type": "application/grpc-web+proto",
            "x-grpc-web": "1",
            "origin": ORIGIN,
        },
    )
    assert response.status_code == 200
    frames = grpc_web_frames(response.content)
    data = [payload for flags, payload in frames if not flags & 0x80]
    trailers = [payload for flags, payload in frames if flags & 0x80]
    assert len(data) == 1
    dashboard = gateway.reporting.dashboard.FromString(data[0])
    assert dashboard.messages_received == 12  # type: ignore[attr-defined]
    (trailer_block,) = trailers
    lines = dict(
        line.split(":", 1) for line in trailer_block.decode().strip().split("\r\n") if line
    )
    assert lines["grpc-status"].strip() == "0"
    # A browser may read grpc-status and friends (CORS expose headers).
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "grpc-status" in response.headers["access-control-expose-headers"]


async def test_grpc_web_text_carries_error_details(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"/{SERVICE}/QueryMetric",
        content=base64.b64encode(b"\x00\x00\x00\x00\x00"),
        headers={"content-type": "application/grpc-web-text", "x-grpc-web": "1"},
    )
    assert response.status_code == 200
    text = response.headers.get("grpc-status") or ""
    if not text:  # not a trailers-only response: the status is in the trailer frame
        frames = grpc_web_frames(base64.b64decode(response.content))
        block = next(payload for flags, payload in frames if flags & 0x80).decode()
        text = block.split("grpc-status:")[1].split("\r\n")[0]
    assert text.strip() == str(code_pb2.INVALID_ARGUMENT)


async def test_native_grpc_through_envoy(gateway: Gateway) -> None:
    reporting = gateway.reporting
    async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
        get: Any = channel.unary_unary(
            f"/{SERVICE}/GetDashboard",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reporting.dashboard.FromString,
        )
        auth = [("authorization", f"Bearer {gateway.token}")]
        dashboard: Any = await get(reporting.get_request(), timeout=10, metadata=auth)
        assert dashboard.rules_fired == 3
        query: Any = channel.unary_unary(
            f"/{SERVICE}/QueryMetric",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=reporting.query_response.FromString,
        )
        with pytest.raises(grpc.aio.AioRpcError) as excinfo:
            await query(reporting.query_request(), timeout=10, metadata=auth)
    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details_bin = dict(excinfo.value.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(details_bin)
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail)
    assert detail.field_violations[0].field == "metric"


async def test_cors_preflight(client: httpx.AsyncClient) -> None:
    allowed = await client.options(
        f"/{SERVICE}/GetDashboard",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-grpc-web,x-user-agent",
        },
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    allow_headers = allowed.headers["access-control-allow-headers"]
    for header in ("x-grpc-web", "x-user-agent", "content-type", "authorization"):
        assert header in allow_headers
    assert "POST" in allowed.headers["access-control-allow-methods"]

    # REST paths too: they have routes of their own for the filters before the transcoder.
    rest = await client.options(
        "/v1/dashboard",
        headers={"origin": ORIGIN, "access-control-request-method": "GET"},
    )
    assert rest.status_code == 200
    assert rest.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in rest.headers["access-control-allow-headers"]

    other = await client.options(
        "/v1/dashboard",
        headers={"origin": "http://evil.example", "access-control-request-method": "GET"},
    )
    assert "access-control-allow-origin" not in other.headers


async def test_get_is_retried_on_unavailable(gateway: Gateway, client: httpx.AsyncClient) -> None:
    marker = uuid.uuid4().hex
    response = await client.get(
        "/v1/dashboard", headers={"x-test-marker": marker, "x-test-fail-first": "1"}
    )
    assert response.status_code == 200, response.text
    assert gateway.reporting.calls(marker) == 2


async def test_post_is_not_retried(gateway: Gateway, client: httpx.AsyncClient) -> None:
    marker = uuid.uuid4().hex
    response = await client.post(
        "/v1/metrics:query",
        json={"metric": "messages_received"},
        headers={"x-test-marker": marker, "x-test-fail-first": "1"},
    )
    assert response.status_code == 503, response.text
    assert response.json()["code"] == code_pb2.UNAVAILABLE
    assert gateway.reporting.calls(marker) == 1


async def test_cors_on_actual_rest_request(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/dashboard", headers={"origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = response.headers["access-control-expose-headers"]
    assert "grpc-status-details-bin" in exposed
    error = await client.post("/v1/metrics:query", json={}, headers={"origin": ORIGIN})
    assert error.status_code == 400
    assert error.headers["access-control-allow-origin"] == ORIGIN


async def eventually(check: Callable[[], Any], what: str) -> Any:
    """Poll ``check`` until it returns something truthy (bounded, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EVENTUALLY_SECONDS
    while True:
        result = check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.2)


async def test_trace_context_reaches_the_service_and_spans_the_collector(
    gateway: Gateway, client: httpx.AsyncClient
) -> None:
    marker = uuid.uuid4().hex
    response = await client.get("/v1/dashboard", headers={"x-test-marker": marker})
    assert response.status_code == 200
    seen = next(m for m in gateway.reporting.metadata if m.get("x-test-marker") == marker)
    match = TRACEPARENT.match(seen.get("traceparent", ""))
    assert match, f"no W3C traceparent upstream: {seen}"
    trace_id = match.group(1)

    upstream_span_id = match.group(2)

    def exported() -> list[tuple[str, str, Any]]:
        return [s for s in gateway.collector.spans() if s[1] == trace_id]

    # The span the service continues from is one Envoy exported (spawn_upstream_span).
    spans = await eventually(
        lambda: (
            any(span.span_id.hex() == upstream_span_id for _, _, span in exported()) and exported()
        ),
        "Envoy's spans for this request at the OTLP collector",
    )
    assert {service for service, _, _ in spans} == {"gateway"}


async def test_access_log_is_json(gateway: Gateway, client: httpx.AsyncClient) -> None:
    await client.get("/v1/dashboard")

    def entries() -> list[dict[str, Any]]:
        out = []
        for line in gateway.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("path") == "/v1/dashboard":
                    out.append(entry)
        return out

    entry = (await eventually(entries, "an access-log line for GET /v1/dashboard"))[-1]
    assert entry["method"] == "GET"
    assert entry["grpc_method"] == f"/{SERVICE}/GetDashboard"
    assert str(entry["status"]) == "200"
    assert str(entry["grpc_status"]) == "0"
    assert entry["upstream"] == "reporting"
    assert entry["request_id"]
    assert entry["trace_id"]
    assert "duration_ms" in entry


# Envoy remembers a verified token (jwt_cache_config) and checks a remembered one's
# expiry with 60 s of clock skew (a fresh check: clock_skew_seconds, 30 s).
_REMEMBERED_TOKEN_SKEW = 60


async def test_a_remembered_token_still_sets_the_caller_and_is_refused_once_expired(
    gateway: Gateway,
) -> None:
    # Expired 28 s ago: a fresh check (30 s of skew) still takes it for 2 s.
    token = access_token(expires_in=-28)
    expires_at = int(time.time()) - 28
    auth = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10.0, headers=auth) as http:
        for _ in range(2):  # verified and remembered, then taken from the cache
            marker = uuid.uuid4().hex
            response = await http.get(
                "/v1/dashboard",
                headers={"x-crosstalk-tenant-id": "spoofed", "x-test-marker": marker},
            )
            assert response.status_code == 200, response.text
            seen = next(m for m in gateway.reporting.metadata if m.get("x-test-marker") == marker)
            assert seen["x-crosstalk-tenant-id"] == TOKEN_TENANT  # from the token, not the client
        await asyncio.sleep(max(0.0, expires_at + _REMEMBERED_TOKEN_SKEW + 1 - time.time()))
        assert (await http.get("/v1/dashboard")).status_code == 401


async def test_calls_without_a_valid_token_are_401(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10.0) as anonymous:
        assert (await anonymous.get("/v1/dashboard")).status_code == 401
        expired = {"authorization": f"Bearer {access_token(expires_in=-3600)}"}
        assert (await anonymous.get("/v1/dashboard", headers=expired)).status_code == 401
        forged = {"authorization": f"Bearer {gateway.token[:-4]}AAAA"}
        assert (await anonymous.get("/v1/dashboard", headers=forged)).status_code == 401
        # public methods pass without a token (identity is not running here: 503, not 401)
        signup = await anonymous.post("/v1/tenants:signUp", json={"companyName": "x"})
        assert signup.status_code not in (401, 403)
        login = await anonymous.post("/v1/auth:login", json={"email": "a@b.c"})
        assert login.status_code not in (401, 403)
