"""Build Envoy's bootstrap config from gateway.yaml and the API descriptor set.

The config is assembled as plain dicts and written with ``yaml.safe_dump``; there is
no text templating. ``crosstalk-gateway-gen --help`` for the command line.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import descriptor_pb2

from .body_fields import (
    LUA_FILTER,
    body_message,
    body_schemas,
    lua_filter,
    path_name,
    route_metadata,
)
from .descriptors import (
    MethodInfo,
    ServiceInfo,
    api_services,
    read_descriptor_set,
)
from .edge_policy import local_rate_limit, local_reply_config, method_path_regex
from .openapi import OPENAPI_PATH, build_openapi
from .settings import (
    GatewayConfigError,
    GatewaySettings,
    is_ip_address,
    load_settings,
    parse_address,
)

OTEL_CLUSTER = "otel_collector"
TRACING_SERVICE_NAME = "gateway"
ROUTE_CONFIG_NAME = "crosstalk"
STAT_PREFIX = "ingress_http"

# Filter names, in the order they run. The router must be last.
F_HEALTH_CHECK = "envoy.filters.http.health_check"
F_HEADER_MUTATION = "envoy.filters.http.header_mutation"
F_CORS = "envoy.filters.http.cors"
F_GRPC_WEB = "envoy.filters.http.grpc_web"
F_LOCAL_RATELIMIT = "envoy.filters.http.local_ratelimit"
F_JWT_AUTHN = "envoy.filters.http.jwt_authn"
F_BUFFER = "envoy.filters.http.buffer"
F_BODY_FIELDS = LUA_FILTER
F_TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
F_ROUTER = "envoy.filters.http.router"
FILTER_ORDER = (
    F_HEALTH_CHECK,
    F_HEADER_MUTATION,
    F_CORS,
    F_GRPC_WEB,
    F_LOCAL_RATELIMIT,
    F_JWT_AUTHN,
    F_BUFFER,
    F_BODY_FIELDS,
    F_TRANSCODER,
    F_ROUTER,
)
JWKS_CLUSTER = "identity_jwks"
# Answered by Envoy itself on the listener: 200 while it serves, 503 while draining.
# Kubernetes probes use it; the admin interface stays on loopback.
READY_PATH = "/ready"
JWT_PROVIDER = "identity"

_T = "type.googleapis.com/"
_HCM_TYPE = _T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

# The package of a versioned API: crosstalk.<service>.v<N>
_API_PACKAGE = re.compile(r"^crosstalk\.([a-z][a-z0-9_]*)\.v\d+[a-z0-9]*$")


@dataclass(frozen=True)
class _Plan:
    """Which cluster serves which gRPC service, checked against the descriptor set."""

    services: list[ServiceInfo]
    cluster_of: dict[str, str]  # full gRPC service name -> cluster (service short name)
    descriptor_set: descriptor_pb2.FileDescriptorSet

    def method_paths(self, keys: Iterable[str]) -> dict[str, str]:
        """Method key -> one regex of its ``:path`` in gRPC and REST form."""
        wanted = set(keys)
        return {
            method.key: method_path_regex(
                method.grpc_path,
                [path_template_regex(b.path, where=method.key) for b in method.http],
            )
            for service in self.services
            for method in service.methods
            if method.key in wanted
        }


def build_envoy_config(
    descriptor_path: Path, settings: GatewaySettings, *, descriptor_at: Path | None = None
) -> dict[str, Any]:
    """The complete Envoy bootstrap (static_resources) as plain dicts.

    The descriptor set is read from ``descriptor_path``; Envoy loads it from
    ``descriptor_at`` at run time (the same file by default; an image's path
    when the config is made for one)."""
    descriptor_path = Path(descriptor_path).resolve()
    plan = _plan(read_descriptor_set(descriptor_path), settings)
    if descriptor_at is not None:
        descriptor_path = descriptor_at
    config: dict[str, Any] = {
        "node": {"id": "crosstalk-gateway", "cluster": "gateway"},
        "admin": {"address": _socket_address(settings.admin_host, settings.admin_port)},
        "static_resources": {
            "listeners": [_listener(descriptor_path, plan, settings)],
            "clusters": _clusters(settings),
        },
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": _T + "envoy.extensions.resource_monitors."
                        "downstream_connections.v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": (
                            settings.http.max_downstream_connections
                        ),
                    },
                }
            ]
        },
    }
    return config


def write_envoy_config(
    descriptor_path: Path,
    settings: GatewaySettings,
    out: Path,
    *,
    descriptor_at: Path | None = None,
) -> Path:
    """Build the config and write it to ``out`` (atomically); returns ``out``."""
    config = build_envoy_config(descriptor_path, settings, descriptor_at=descriptor_at)
    text = (
        "# Generated by crosstalk-gateway-gen from gateway/gateway.yaml and the API\n"
        "# descriptor set. Do not edit: change gateway.yaml or proto/ and regenerate.\n"
        + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        Path(tmp).replace(out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def is_idempotent(method: MethodInfo, settings: GatewaySettings) -> bool:
    """GET-rule methods and those gateway.yaml lists; never streaming ones."""
    if method.client_streaming or method.server_streaming:
        return False
    return method.http_verb == "GET" or method.key in settings.retries.idempotent_methods


def route_timeout(method: MethodInfo, settings: GatewaySettings) -> timedelta | None:
    """The per-route timeout; None (no limit) for streaming methods without an override."""
    if method.key in settings.method_timeouts:
        return settings.method_timeouts[method.key]
    if method.client_streaming or method.server_streaming:
        return None
    return settings.default_timeout


# -- planning -----------------------------------------------------------------------------


def _plan(descriptor_set: descriptor_pb2.FileDescriptorSet, settings: GatewaySettings) -> _Plan:
    services = api_services(descriptor_set)
    if not services:
        raise GatewayConfigError("the descriptor set has no crosstalk.* services")
    by_name = {s.full_name: s for s in services}
    cluster_of: dict[str, str] = {}
    problems: list[str] = []
    for short, names in settings.grpc_services.items():
        for full_name in names:
            if full_name not in by_name:
                problems.append(
                    f"gateway.yaml lists {full_name} under {short}, "
                    "but the descriptor set has no such service"
                )
            cluster_of[full_name] = short
    for service in services:
        if service.full_name in cluster_of:
            continue
        match = _API_PACKAGE.match(service.package)
        if match and match.group(1) in settings.upstreams:
            cluster_of[service.full_name] = match.group(1)
        else:
            problems.append(
                f"{service.full_name} is in the descriptor set but no gateway.yaml service "
                "serves it (add it to a service's grpc_services)"
            )
    methods = {m.key for s in services for m in s.methods}
    for key in sorted(settings.method_timeouts):
        if key not in methods:
            problems.append(f"timeouts.methods names an unknown method {key}")
    for key in sorted(settings.retries.idempotent_methods):
        if key not in methods:
            problems.append(f"retries.idempotent_methods names an unknown method {key}")
    for key in sorted(settings.auth.public_methods):
        if key not in methods:
            problems.append(f"auth.public_methods names an unknown method {key}")
    for key in sorted(settings.rate_limit.per_client_methods):
        if key not in methods:
            problems.append(f"rate_limit.per_client_methods names an unknown method {key}")
    if problems:
        raise GatewayConfigError("; ".join(problems))
    return _Plan(services=services, cluster_of=cluster_of, descriptor_set=descriptor_set)


# -- listener and HTTP connection manager ------------------------------------------------


def _listener(descriptor_path: Path, plan: _Plan, settings: GatewaySettings) -> dict[str, Any]:
    hcm: dict[str, Any] = {
        "@type": _HCM_TYPE,
        "stat_prefix": STAT_PREFIX,
        "codec_type": "AUTO",
        # The client address is the TCP peer's, or (behind xff_num_trusted_hops
        # proxies) the X-Forwarded-For entry those proxies appended; never one a
        # client wrote itself.
        "use_remote_address": True,
        "xff_num_trusted_hops": settings.client_address.xff_num_trusted_hops,
        "max_request_headers_kb": settings.http.max_request_headers_kb,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
        "generate_request_id": True,
        "stream_idle_timeout": _duration(settings.http.stream_idle_timeout),
        "request_timeout": _duration(settings.http.request_timeout),
        "common_http_protocol_options": {"headers_with_underscores_action": "REJECT_REQUEST"},
        "http2_protocol_options": {
            "max_concurrent_streams": 100,
            "initial_stream_window_size": 65536,
            "initial_connection_window_size": 1048576,
        },
        "access_log": [_access_log()],
        "local_reply_config": local_reply_config(
            settings.rate_limit, plan.method_paths(settings.rate_limit.per_client_methods)
        ),
        "route_config": _route_config(plan, settings),
        "http_filters": _http_filters(descriptor_path, plan, settings),
    }
    if settings.otlp_endpoint is not None:
        hcm["tracing"] = {
            "random_sampling": {"value": settings.tracing_sampling_percent},
            "spawn_upstream_span": True,
            "provider": {
                "name": "envoy.tracers.opentelemetry",
                "typed_config": {
                    "@type": _T + "envoy.config.trace.v3.OpenTelemetryConfig",
                    "grpc_service": {
                        "envoy_grpc": {"cluster_name": OTEL_CLUSTER},
                        "timeout": "1s",
                    },
                    "service_name": TRACING_SERVICE_NAME,
                },
            },
        }
    return {
        "name": "ingress",
        "address": _socket_address(settings.listen_host, settings.listen_port),
        "filter_chains": [
            {
                "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
                ]
            }
        ],
    }


def _access_log() -> dict[str, Any]:
    return {
        "name": "envoy.access_loggers.stdout",
        "typed_config": {
            "@type": _T + "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            "log_format": {
                "json_format": {
                    "time": "%START_TIME%",
                    "method": "%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
                    # Never the query string: it may hold a password or a token.
                    "path": "%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)%",
                    "grpc_method": "%REQ_WITHOUT_QUERY(:PATH)%",
                    "protocol": "%PROTOCOL%",
                    "status": "%RESPONSE_CODE%",
                    "grpc_status": "%GRPC_STATUS(NUMBER)%",
                    "response_flags": "%RESPONSE_FLAGS%",
                    "duration_ms": "%DURATION%",
                    "upstream_ms": "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
                    "route": "%ROUTE_NAME%",
                    "upstream": "%UPSTREAM_CLUSTER%",
                    "bytes_received": "%BYTES_RECEIVED%",
                    "bytes_sent": "%BYTES_SENT%",
                    "request_id": "%REQ(X-REQUEST-ID)%",
                    "trace_id": "%TRACE_ID%",
                    "downstream": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
                    "user_agent": "%REQ(USER-AGENT)%",
                },
                "formatters": [
                    {
                        "name": "envoy.formatter.req_without_query",
                        "typed_config": {
                            "@type": _T
                            + "envoy.extensions.formatter.req_without_query.v3.ReqWithoutQuery"
                        },
                    }
                ],
            },
        },
    }


def _http_filters(
    descriptor_path: Path, plan: _Plan, settings: GatewaySettings
) -> list[dict[str, Any]]:
    filters: dict[str, dict[str, Any]] = {
        F_HEALTH_CHECK: {
            "@type": _T + "envoy.extensions.filters.http.health_check.v3.HealthCheck",
            "pass_through_mode": False,
            "headers": [{"name": ":path", "string_match": {"exact": READY_PATH}}],
        },
        F_HEADER_MUTATION: {
            "@type": _T + "envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
            "mutations": {
                "request_mutations": [{"remove": h} for h in settings.strip_request_headers]
            },
        },
        # The policy itself is typed_per_filter_config on the virtual host.
        F_CORS: {"@type": _T + "envoy.extensions.filters.http.cors.v3.Cors"},
        F_GRPC_WEB: {"@type": _T + "envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"},
        F_LOCAL_RATELIMIT: local_rate_limit(
            settings.rate_limit, plan.method_paths(settings.rate_limit.per_client_methods)
        ),
        F_JWT_AUTHN: _jwt_authn(plan, settings),
        # A bigger body is answered 413 here. Without it a service refuses the
        # message as RESOURCE_EXHAUSTED, which the transcoder turns into 429.
        F_BUFFER: {
            "@type": _T + "envoy.extensions.filters.http.buffer.v3.Buffer",
            "max_request_bytes": settings.http.max_request_body_bytes,
        },
        # Unknown JSON body fields: 400 naming the field (the transcoder drops them).
        F_BODY_FIELDS: {
            "@type": _T + "envoy.extensions.filters.http.lua.v3.Lua",
            "default_source_code": lua_filter(body_schemas(plan.descriptor_set)),
        },
        F_TRANSCODER: {
            "@type": _T
            + "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
            "proto_descriptor": str(descriptor_path),
            "services": [s.full_name for s in plan.services],
            "convert_grpc_status": True,
            # Room for a List page of the largest items as JSON (ADR 0016); left
            # unset it would be the connection buffer, 1 MiB.
            "max_response_body_size": 16 * 1024 * 1024,
            # "a+b" in a query string means "a b" (form encoding, what browsers
            # and HTTP clients send); without this Envoy keeps the plus.
            "query_param_unescape_plus": True,
            "print_options": {
                "add_whitespace": False,
                "always_print_primitive_fields": True,
                "always_print_enums_as_ints": False,
                "preserve_proto_field_names": False,
            },
            "request_validation_options": {
                "reject_unknown_method": True,
                "reject_unknown_query_parameters": True,
            },
        },
        F_ROUTER: {"@type": _T + "envoy.extensions.filters.http.router.v3.Router"},
    }
    return [{"name": name, "typed_config": filters[name]} for name in FILTER_ORDER]


def _route_config(plan: _Plan, settings: GatewaySettings) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [_openapi_route(plan, settings)]
    for service in plan.services:
        cluster = plan.cluster_of[service.full_name]
        routes.extend(_method_route(method, cluster, settings) for method in service.methods)
    routes.extend(_rest_routes(plan, settings))
    routes.append(
        {
            "name": "not_found",
            "match": {"prefix": "/"},
            "direct_response": {
                "status": 404,
                "body": {"inline_string": '{"code":5,"message":"no such route"}'},
            },
            "response_headers_to_add": [
                {
                    "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    "header": {"key": "content-type", "value": "application/json"},
                }
            ],
        }
    )
    cors = settings.cors
    cors_policy: dict[str, Any] = {
        "@type": _T + "envoy.extensions.filters.http.cors.v3.CorsPolicy",
        "allow_origin_string_match": [{"exact": origin} for origin in cors.allowed_origins],
        "allow_methods": ",".join(cors.allow_methods),
        "allow_headers": ",".join(cors.allow_headers),
        "expose_headers": ",".join(cors.expose_headers),
        "max_age": str(int(cors.max_age.total_seconds())),
        "allow_credentials": cors.allow_credentials,
        # A preflight from an origin not allowed is answered here (without
        # access-control-allow-origin) instead of reaching a gRPC upstream.
        "forward_not_matching_preflights": False,
    }
    return {
        "name": ROUTE_CONFIG_NAME,
        # The OpenAPI document is a direct_response (Envoy's default cap is 4 KiB).
        "max_direct_response_body_size_bytes": _openapi_body_cap(routes[0]),
        "virtual_hosts": [
            {
                "name": "crosstalk",
                "domains": ["*"],
                "routes": routes,
                "typed_per_filter_config": {F_CORS: cors_policy},
                # The client address Envoy trusts, for the services (audit log,
                # sessions); a client's own copy was removed by header_mutation.
                "request_headers_to_add": [
                    {
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                        "header": {
                            "key": settings.client_address.header,
                            "value": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
                        },
                    }
                ],
            }
        ],
    }


def _openapi_route(plan: _Plan, settings: GatewaySettings) -> dict[str, Any]:
    """``GET /openapi.json``: the OpenAPI 3.1 document of the REST API (openapi.py).

    Generated here from the same descriptor set and public methods as the rest of
    the config, and answered by Envoy itself (a direct_response whose body is inline,
    so the config needs no file beside it). Public (jwt_authn's rules skip it) and
    cacheable; the transcoder and the body-fields filter are off on this route (the
    transcoder would refuse a path no HTTP rule has).
    """
    document = build_openapi(plan.descriptor_set, settings.auth.public_methods)
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(body.encode()).hexdigest()[:32]
    disabled = {"@type": _T + "envoy.config.route.v3.FilterConfig", "disabled": True}
    return {
        "name": "openapi",
        "match": {"path": OPENAPI_PATH},
        "direct_response": {"status": 200, "body": {"inline_string": body}},
        "response_headers_to_add": [
            {
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                "header": {"key": key, "value": value},
            }
            for key, value in (
                ("content-type", "application/json"),
                ("cache-control", "public, max-age=300"),
                ("etag", f'"{digest}"'),
            )
        ],
        "typed_per_filter_config": {F_TRANSCODER: disabled, F_BODY_FIELDS: disabled},
    }


def _openapi_body_cap(route: dict[str, Any]) -> int:
    """The direct_response cap: the document's size rounded up to whole MiB."""
    size = len(route["direct_response"]["body"]["inline_string"].encode())
    mib = 1 << 20
    return max(mib, -(-size // mib) * mib)


def _method_route(method: MethodInfo, cluster: str, settings: GatewaySettings) -> dict[str, Any]:
    timeout = route_timeout(method, settings)
    action: dict[str, Any] = {"cluster": cluster}
    if timeout is None:
        action["timeout"] = "0s"
    else:
        action["timeout"] = _duration(timeout)
        # A client's grpc-timeout may shorten the deadline, never extend it.
        action["max_stream_duration"] = {"grpc_timeout_header_max": _duration(timeout)}
    if is_idempotent(method, settings):
        per_try = settings.retries.per_try_timeout
        if timeout is not None:
            per_try = min(per_try, timeout)
        action["retry_policy"] = {
            "retry_on": "unavailable",
            "num_retries": settings.retries.num_retries,
            "per_try_timeout": _duration(per_try),
        }
    return {"name": method.key, "match": {"path": method.grpc_path}, "route": action}


def _rest_routes(plan: _Plan, settings: GatewaySettings) -> list[dict[str, Any]]:
    """Routes for the REST paths, as clients send them.

    The transcoder rewrites a REST request to its gRPC path and Envoy matches the
    route again, so the gRPC-path routes above do the routing. The filters before the
    transcoder (CORS above all) only work on a request whose *incoming* path matches a
    real route, though: the CORS filter skips requests whose route is the 404
    direct_response. These routes give every REST path such a route, pointing at the
    cluster that serves it; they carry no timeout or retry of their own because they
    never reach the router with a REST path (untranscodable requests get a 4xx from
    the transcoder first).
    """
    routes: dict[str, dict[str, Any]] = {}
    bodies: dict[str, list[tuple[str, str]]] = {}
    for service in plan.services:
        cluster = plan.cluster_of[service.full_name]
        for method in service.methods:
            for binding in method.http:
                regex = path_template_regex(binding.path, where=method.key)
                message = body_message(method, binding.body, plan.descriptor_set)
                if message is not None:
                    verbs = bodies.setdefault(regex, [])
                    verbs.append((binding.verb, message))
                    verbs.extend(path_name(binding.verb, binding.path, binding.body))
                if regex in routes:
                    continue
                routes[regex] = {
                    "name": f"rest {binding.path}",
                    "match": {"safe_regex": {"regex": regex}},
                    "route": {
                        "cluster": cluster,
                        "timeout": _duration(settings.default_timeout),
                    },
                }
    for regex, verbs in bodies.items():
        # Which message each method's JSON body is, and which body field the path
        # names, for the body-fields filter.
        routes[regex]["metadata"] = {"filter_metadata": route_metadata(verbs)}
    return list(routes.values())


_REGEX_SPECIAL = frozenset(".^$*+?()[]{}|\\")


def path_template_regex(template: str, *, where: str = "") -> str:
    """An RE2 regex (full match) for a google.api.http path template.

    ``/v1/{name=customers/*}:revoke`` -> ``/v1/customers/[^/]+:revoke``; ``*`` is one
    segment, ``**`` any number of them, ``{field}`` one segment.
    """
    if not template.startswith("/"):
        raise GatewayConfigError(f"{where}: http path must start with '/': {template!r}")
    body, verb = template[1:], ""
    depth, split = 0, -1
    for index, char in enumerate(body):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == ":" and depth == 0:
            split = index
    if depth != 0:
        raise GatewayConfigError(f"{where}: unbalanced braces in http path {template!r}")
    if split >= 0:
        body, verb = body[:split], body[split + 1 :]
    regex = "/" + _segments_regex(body, template, where)
    if verb:
        regex += ":" + _literal(verb)
    return regex


def _segments_regex(segments: str, template: str, where: str) -> str:
    parts: list[str] = []
    depth, start = 0, 0
    pieces: list[str] = []
    for index, char in enumerate(segments):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "/" and depth == 0:
            pieces.append(segments[start:index])
            start = index + 1
    pieces.append(segments[start:])
    for piece in pieces:
        if piece == "*":
            parts.append("[^/]+")
        elif piece == "**":
            parts.append(".*")
        elif piece.startswith("{") and piece.endswith("}"):
            _, eq, inner = piece[1:-1].partition("=")
            parts.append(_segments_regex(inner, template, where) if eq else "[^/]+")
        elif piece and not any(c in piece for c in "{}*"):
            parts.append(_literal(piece))
        else:
            raise GatewayConfigError(f"{where}: cannot read http path template {template!r}")
    return "/".join(parts)


def _literal(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


# -- clusters ------------------------------------------------------------------------------


def _clusters(settings: GatewaySettings) -> list[dict[str, Any]]:
    up = settings.upstream
    clusters: list[dict[str, Any]] = []
    for name, (host, port) in settings.upstreams.items():
        cluster = _grpc_cluster(name, host, port, settings)
        cluster["health_checks"] = [
            {
                "timeout": _duration(up.health_check_timeout),
                "interval": _duration(up.health_check_interval),
                # Without traffic Envoy would otherwise wait 60s between checks,
                # so a service started after the gateway stayed "unhealthy" that long.
                "no_traffic_interval": _duration(up.health_check_interval),
                "unhealthy_threshold": up.unhealthy_threshold,
                "healthy_threshold": up.healthy_threshold,
                "grpc_health_check": {"service_name": ""},
            }
        ]
        cluster["circuit_breakers"] = {
            "thresholds": [
                {
                    "priority": "DEFAULT",
                    "max_connections": up.max_connections,
                    "max_pending_requests": up.max_pending_requests,
                    "max_requests": up.max_requests,
                    # Replaces a fixed max_retries: retries scale with the load
                    # and can never add more than this share on top of it.
                    "retry_budget": {
                        "budget_percent": {"value": float(up.retry_budget_percent)},
                        "min_retry_concurrency": up.min_retry_concurrency,
                    },
                }
            ]
        }
        clusters.append(cluster)
    if settings.otlp_endpoint is not None:
        host, port = settings.otlp_endpoint
        clusters.append(_grpc_cluster(OTEL_CLUSTER, host, port, settings))
    clusters.append(_jwks_cluster(settings))
    return clusters


def _jwks_cluster(settings: GatewaySettings) -> dict[str, Any]:
    host, port = settings.auth.jwks_endpoint
    return {
        "name": JWKS_CLUSTER,
        "type": "STATIC" if is_ip_address(host) else "STRICT_DNS",
        "connect_timeout": _duration(settings.upstream.connect_timeout),
        "load_assignment": {
            "cluster_name": JWKS_CLUSTER,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": _socket_address(host, port)}}]}
            ],
        },
    }


# -- authentication -------------------------------------------------------------------------


# Verified tokens each Envoy worker remembers (LRU, tokens up to 4 KiB): about
# one per client active in the last minutes.
JWT_CACHE_SIZE = 10_000


def _jwt_authn(plan: _Plan, settings: GatewaySettings) -> dict[str, Any]:
    """Verify bearer tokens at the edge; public methods (both path forms) skip it.

    jwt_authn runs before the transcoder, so a REST call still has its REST path
    here and a gRPC or gRPC-Web call its gRPC path: public methods are listed in
    both forms. Everything else requires a valid token from identity.
    """
    auth = settings.auth
    host, port = auth.jwks_endpoint
    public_rules: list[dict[str, Any]] = [{"match": {"path": OPENAPI_PATH}}]
    for service in plan.services:
        for method in service.methods:
            if method.key not in auth.public_methods:
                continue
            public_rules.append({"match": {"path": method.grpc_path}})
            for binding in method.http:
                regex = path_template_regex(binding.path, where=method.key)
                public_rules.append({"match": {"safe_regex": {"regex": regex}}})
    return {
        "@type": _T + "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        "providers": {
            JWT_PROVIDER: {
                "issuer": auth.issuer,
                # No audiences here: Envoy answers a wrong audience with 403, so
                # the services check it and the caller gets 401 (UNAUTHENTICATED).
                "remote_jwks": {
                    "http_uri": {
                        "uri": f"http://{host}:{port}{auth.jwks_path}",
                        "cluster": JWKS_CLUSTER,
                        "timeout": "2s",
                    },
                    "cache_duration": _duration(auth.jwks_cache),
                    "async_fetch": {"fast_listener": False, "failed_refetch_duration": "1s"},
                    "retry_policy": {"num_retries": 3},
                },
                # Services verify the same token again: keep the header.
                "forward": True,
                "clock_skew_seconds": 30,
                # A verified token is remembered by its exact string (a changed
                # byte is another token) until it expires: a client sends the same
                # token for minutes, and checking its Ed25519 signature on every
                # request was about 0.2 ms of each REST call (issue 14). Envoy's
                # cache takes 60 s of clock skew where a fresh check takes 30, so a
                # token expired 30 to 60 s ago may still pass here; the service
                # behind verifies it again and refuses it (UNAUTHENTICATED, 401).
                "jwt_cache_config": {"jwt_cache_size": JWT_CACHE_SIZE},
                "claim_to_headers": [
                    {"header_name": header, "claim_name": claim}
                    for header, claim in auth.claim_headers
                ],
            }
        },
        "rules": [
            *public_rules,
            {"match": {"prefix": "/"}, "requires": {"provider_name": JWT_PROVIDER}},
        ],
        "bypass_cors_preflight": True,
    }


def _grpc_cluster(name: str, host: str, port: int, settings: GatewaySettings) -> dict[str, Any]:
    static = is_ip_address(host)
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC" if static else "STRICT_DNS",
        "connect_timeout": _duration(settings.upstream.connect_timeout),
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            _HTTP_OPTIONS_KEY: {
                "@type": _T + _HTTP_OPTIONS_KEY,
                "explicit_http_config": {
                    "http2_protocol_options": {
                        "connection_keepalive": {"interval": "30s", "timeout": "5s"}
                    }
                },
            }
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": _socket_address(host, port)}}]}
            ],
        },
    }
    if not static:
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    return cluster


# -- helpers ------------------------------------------------------------------------------


def _socket_address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _duration(value: timedelta) -> str:
    """A protobuf JSON Duration: "5s", "0.25s"."""
    micros = value // timedelta(microseconds=1)
    seconds, frac = divmod(micros, 1_000_000)
    if not frac:
        return f"{seconds}s"
    return f"{seconds}.{frac:06d}".rstrip("0") + "s"


# -- command line -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crosstalk-gateway-gen",
        description="Generate Envoy's config from gateway.yaml and the API descriptor set.",
    )
    parser.add_argument("--config", type=Path, default=Path("gateway/gateway.yaml"))
    parser.add_argument("--descriptor", type=Path, default=Path("build/api_descriptor.binpb"))
    parser.add_argument("--out", type=Path, default=Path("build/envoy.yaml"))
    parser.add_argument(
        "--descriptor-at",
        type=Path,
        help="where Envoy reads the descriptor set at run time (default: --descriptor)",
    )
    parser.add_argument("--listen-host", help="override listener.host (0.0.0.0 in a pod)")
    parser.add_argument("--listen-port", type=int, help="override listener.port")
    parser.add_argument("--jwks", metavar="HOST:PORT", help="override auth.jwks")
    parser.add_argument("--admin-port", type=int, help="override admin.port")
    parser.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="override one service's upstream address (repeatable)",
    )
    parser.add_argument(
        "--otlp", metavar="HOST:PORT", help="OTLP/gRPC collector for traces ('' = tracing off)"
    )
    parser.add_argument(
        "--validate", action="store_true", help="also run `envoy --mode validate` on the result"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        overrides: dict[str, Any] = {}
        if args.listen_host is not None:
            overrides["listen_host"] = args.listen_host
        if args.listen_port is not None:
            overrides["listen_port"] = args.listen_port
        if args.jwks is not None:
            overrides["jwks_endpoint"] = args.jwks
        if args.admin_port is not None:
            overrides["admin_port"] = args.admin_port
        if args.upstream:
            overrides["upstreams"] = _upstream_args(args.upstream)
        if args.otlp is not None:
            overrides["otlp_endpoint"] = args.otlp or None
        settings = load_settings(args.config, overrides=overrides)
        out = write_envoy_config(
            args.descriptor, settings, args.out, descriptor_at=args.descriptor_at
        )
    except (GatewayConfigError, OSError) as exc:
        print(f"crosstalk-gateway-gen: {exc}", file=sys.stderr)
        return 1
    if args.validate:
        from .process import EnvoyError, validate_config

        try:
            validate_config(out)
        except EnvoyError as exc:
            print(f"crosstalk-gateway-gen: envoy rejected {out}: {exc}", file=sys.stderr)
            return 1
    print(f"crosstalk-gateway-gen: wrote {out}")
    return 0


def _upstream_args(values: Sequence[str]) -> dict[str, tuple[str, int]]:
    upstreams: dict[str, tuple[str, int]] = {}
    for value in values:
        name, sep, address = value.partition("=")
        if not sep or not name:
            raise GatewayConfigError(f"--upstream expects NAME=HOST:PORT, got {value!r}")
        upstreams[name.strip()] = parse_address(address, f"--upstream {name}")
    return upstreams


if __name__ == "__main__":
    raise SystemExit(main())
