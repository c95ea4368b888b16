"""gateway.yaml -> GatewaySettings: the small typed model the Envoy config is built from."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from .rate_limits import RateLimitConfigError, RateLimitSettings, TokenBucket, parse_rate_limit

__all__ = ["RateLimitSettings", "TokenBucket"]

DEFAULT_LISTEN = ("127.0.0.1", 8080)
DEFAULT_ADMIN = ("127.0.0.1", 9901)

DEFAULT_CORS_ALLOW_HEADERS = (
    "content-type",
    "authorization",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "x-request-id",
    "traceparent",
    "tracestate",
)
DEFAULT_CORS_EXPOSE_HEADERS = (
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "x-request-id",
)
DEFAULT_CORS_ALLOW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# Cluster names the generator uses for itself; services may not take them.
RESERVED_CLUSTER_NAMES = frozenset({"otel_collector", "identity_jwks"})

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_GRPC_SERVICE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")
_METHOD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+/[A-Za-z_][A-Za-z0-9_]*$")
_HEADER = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

OVERRIDABLE = frozenset(
    {
        "listen_host",
        "listen_port",
        "admin_port",
        "upstreams",
        "otlp_endpoint",
        "jwks_endpoint",
        "rate_limit",
    }
)


class GatewayConfigError(ValueError):
    """gateway.yaml, an override or the descriptor set does not make a valid gateway."""


@dataclass(frozen=True)
class CorsSettings:
    allowed_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = DEFAULT_CORS_ALLOW_METHODS
    allow_headers: tuple[str, ...] = DEFAULT_CORS_ALLOW_HEADERS
    expose_headers: tuple[str, ...] = DEFAULT_CORS_EXPOSE_HEADERS
    allow_credentials: bool = False
    max_age: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class RetrySettings:
    num_retries: int = 2
    per_try_timeout: timedelta = timedelta(seconds=2)
    # "<package>.<Service>/<Method>" treated as idempotent besides GET-rule methods.
    idempotent_methods: frozenset[str] = frozenset()


@dataclass(frozen=True)
class UpstreamSettings:
    """How Envoy talks to every service cluster."""

    connect_timeout: timedelta = timedelta(seconds=1)
    health_check_interval: timedelta = timedelta(seconds=2)
    health_check_timeout: timedelta = timedelta(seconds=1)
    unhealthy_threshold: int = 2
    healthy_threshold: int = 1
    max_connections: int = 1024
    max_pending_requests: int = 1024
    max_requests: int = 1024
    # Retries in flight to a cluster may be at most this share of its active
    # requests (but always at least min_retry_concurrency): under overload the
    # gateway's retries cannot multiply the load (Envoy's retry budget).
    retry_budget_percent: int = 20
    min_retry_concurrency: int = 3


@dataclass(frozen=True)
class HttpSettings:
    """Downstream connection manager limits."""

    stream_idle_timeout: timedelta = timedelta(minutes=5)
    request_timeout: timedelta = timedelta(seconds=60)
    max_downstream_connections: int = 10_000
    # Request line plus headers (the URL counts); more is answered 431. The
    # services' gRPC metadata limit holds twice this (Envoy forwards the REST path
    # again in x-envoy-original-path).
    max_request_headers_kb: int = 8
    # A request body; more is answered 413. At most the services' gRPC message
    # limit (16 MiB), so a transcoded JSON body always fits into one message.
    max_request_body_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class ClientAddressSettings:
    """Which address is the client's: the services and the per-client limits use it.

    ``xff_num_trusted_hops`` is how many proxies in front of Envoy append to
    X-Forwarded-For (0: Envoy is the edge and the TCP peer is the client). Envoy
    writes the address it trusts into ``header`` (overwriting whatever a client sent);
    services read only that header.
    """

    xff_num_trusted_hops: int = 0
    header: str = "x-crosstalk-client-ip"


@dataclass(frozen=True)
class AuthSettings:
    """Bearer tokens checked at the edge (Envoy jwt_authn) before any service sees a call."""

    issuer: str = "crosstalk-identity"
    # Identity's plain-HTTP JWKS endpoint (host, port) and path.
    jwks_endpoint: tuple[str, int] = ("127.0.0.1", 50151)
    jwks_path: str = "/.well-known/jwks.json"
    jwks_cache: timedelta = timedelta(minutes=5)
    # "<package>.<Service>/<Method>" callable without a token.
    public_methods: frozenset[str] = frozenset()
    # Verified claims copied into request headers (informational: services
    # verify the forwarded token themselves).
    claim_headers: tuple[tuple[str, str], ...] = (
        ("x-crosstalk-tenant-id", "tid"),
        ("x-crosstalk-member-id", "sub"),
    )


@dataclass(frozen=True)
class GatewaySettings:
    listen_host: str
    listen_port: int
    admin_port: int
    upstreams: dict[str, tuple[str, int]]  # service short name -> (host, port)
    otlp_endpoint: tuple[str, int] | None  # OTLP/gRPC collector for Envoy's spans, None = off
    admin_host: str = DEFAULT_ADMIN[0]
    # service short name -> full names of the gRPC services it serves
    grpc_services: dict[str, tuple[str, ...]] = field(default_factory=dict)
    cors: CorsSettings = field(default_factory=CorsSettings)
    default_timeout: timedelta = timedelta(seconds=5)
    # "<package>.<Service>/<Method>" -> route timeout
    method_timeouts: dict[str, timedelta] = field(default_factory=dict)
    retries: RetrySettings = field(default_factory=RetrySettings)
    rate_limit: RateLimitSettings = field(default_factory=RateLimitSettings)
    strip_request_headers: tuple[str, ...] = ()
    tracing_sampling_percent: float = 100.0
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    client_address: ClientAddressSettings = field(default_factory=ClientAddressSettings)

    def __post_init__(self) -> None:
        if not is_ip_address(self.listen_host):
            raise GatewayConfigError(
                f"listener host must be an IP address (Envoy binds it), got {self.listen_host!r}"
            )
        _check_port("listen_port", self.listen_port)
        _check_port("admin_port", self.admin_port)
        if not _is_loopback(self.admin_host):
            raise GatewayConfigError(
                f"admin host must be a loopback IP address, got {self.admin_host!r}"
            )
        for name, (host, port) in self.upstreams.items():
            _check_service_name(name)
            _check_host(f"upstream {name}", host)
            _check_port(f"upstream {name}", port)
        unknown = sorted(set(self.grpc_services) - set(self.upstreams))
        if unknown:
            raise GatewayConfigError(f"services without an upstream address: {', '.join(unknown)}")
        if self.otlp_endpoint is not None:
            _check_host("otlp_endpoint", self.otlp_endpoint[0])
            _check_port("otlp_endpoint", self.otlp_endpoint[1])
        if not 0.0 <= self.tracing_sampling_percent <= 100.0:
            raise GatewayConfigError("tracing sampling_percent must be within 0..100")
        for header in self.strip_request_headers:
            if not _HEADER.match(header):
                raise GatewayConfigError(f"not a lower-case header name: {header!r}")
        _check_host("auth.jwks", self.auth.jwks_endpoint[0])
        _check_port("auth.jwks", self.auth.jwks_endpoint[1])
        for header, _ in self.auth.claim_headers:
            if header not in self.strip_request_headers:
                raise GatewayConfigError(
                    f"{header} carries a verified claim: list it in strip_request_headers "
                    "so a client cannot send its own"
                )
        if self.client_address.header not in self.strip_request_headers:
            raise GatewayConfigError(
                f"{self.client_address.header} carries the client address Envoy trusts: list "
                "it in strip_request_headers so a client cannot send its own"
            )
        if self.client_address.xff_num_trusted_hops < 0:
            raise GatewayConfigError("client_address.xff_num_trusted_hops must be 0 or more")
        for method in (
            *self.method_timeouts,
            *self.retries.idempotent_methods,
            *self.auth.public_methods,
            *self.rate_limit.per_client_methods,
        ):
            if not _METHOD.match(method):
                raise GatewayConfigError(
                    f"methods are written '<package>.<Service>/<Method>', got {method!r}"
                )


def load_settings(path: Path, *, overrides: Mapping[str, Any] | None = None) -> GatewaySettings:
    """Read gateway.yaml; ``overrides`` replace listen_host, listen_port, admin_port,
    upstreams (per service: ``{"reporting": ("127.0.0.1", 6000)}`` or ``"host:port"``)
    and otlp_endpoint (``(host, port)``, ``"host:port"``, or None/"" for no tracing)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise GatewayConfigError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    settings = _parse(_mapping(raw, str(path)))
    return apply_overrides(settings, overrides or {})


def apply_overrides(settings: GatewaySettings, overrides: Mapping[str, Any]) -> GatewaySettings:
    unknown = sorted(set(overrides) - OVERRIDABLE)
    if unknown:
        raise GatewayConfigError(
            f"cannot override {', '.join(unknown)} (only {', '.join(sorted(OVERRIDABLE))})"
        )
    changes: dict[str, Any] = {}
    if "listen_host" in overrides:
        changes["listen_host"] = str(overrides["listen_host"])
    for key in ("listen_port", "admin_port"):
        if key in overrides:
            changes[key] = _int(overrides[key], key)
    if "upstreams" in overrides:
        upstreams = dict(settings.upstreams)
        for name, value in _mapping(overrides["upstreams"], "upstreams").items():
            if name not in upstreams:
                raise GatewayConfigError(
                    f"upstream override for unknown service {name!r} "
                    f"(known: {', '.join(sorted(upstreams))})"
                )
            upstreams[name] = parse_address(value, f"upstream {name}")
        changes["upstreams"] = upstreams
    if "jwks_endpoint" in overrides:
        changes["auth"] = replace(
            settings.auth, jwks_endpoint=parse_address(overrides["jwks_endpoint"], "jwks_endpoint")
        )
    if "rate_limit" in overrides:
        changes["rate_limit"] = _rate_limit(_mapping(overrides["rate_limit"], "rate_limit"))
    if "otlp_endpoint" in overrides:
        value = overrides["otlp_endpoint"]
        changes["otlp_endpoint"] = (
            None if value in (None, "") else parse_address(value, "otlp_endpoint")
        )
    return replace(settings, **changes)


def parse_address(value: Any, what: str) -> tuple[str, int]:
    """``"host:port"``, ``"[::1]:port"`` or a (host, port) pair."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        host, port = str(value[0]), _int(value[1], what)
    elif isinstance(value, str) and ":" in value:
        host, _, port_text = value.strip().rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        port = _int(port_text, what)
    else:
        raise GatewayConfigError(f"{what}: expected 'host:port', got {value!r}")
    _check_host(what, host)
    _check_port(what, port)
    return host, port


def parse_duration(value: Any, what: str) -> timedelta:
    """``"250ms"``, ``"5s"``, ``"1.5m"``, ``"1h"`` or a number of seconds."""
    if isinstance(value, bool):
        raise GatewayConfigError(f"{what}: expected a duration, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise GatewayConfigError(f"{what}: expected a duration like '5s' or '250ms', got {value!r}")
    if seconds <= 0:
        raise GatewayConfigError(f"{what}: must be positive, got {value!r}")
    return timedelta(seconds=seconds)


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# -- parsing ----------------------------------------------------------------------------


def _parse(raw: Mapping[str, Any]) -> GatewaySettings:
    _only(
        raw,
        "gateway.yaml",
        {
            "listener",
            "admin",
            "services",
            "cors",
            "timeouts",
            "retries",
            "rate_limit",
            "strip_request_headers",
            "tracing",
            "upstream",
            "http",
            "auth",
            "client_address",
        },
    )
    listener = _section(raw, "listener", {"host", "port"})
    admin = _section(raw, "admin", {"host", "port"})

    upstreams: dict[str, tuple[str, int]] = {}
    grpc_services: dict[str, tuple[str, ...]] = {}
    for name, spec in _mapping(raw.get("services") or {}, "services").items():
        _check_service_name(name)
        entry = _mapping(spec, f"services.{name}")
        _only(entry, f"services.{name}", {"grpc_services", "upstream"})
        if "upstream" not in entry:
            raise GatewayConfigError(f"services.{name}: 'upstream' (host:port) is required")
        upstreams[name] = parse_address(entry["upstream"], f"services.{name}.upstream")
        names = tuple(_strings(entry.get("grpc_services") or [], f"services.{name}.grpc_services"))
        for full_name in names:
            if not _GRPC_SERVICE.match(full_name):
                raise GatewayConfigError(
                    f"services.{name}.grpc_services: not a full service name: {full_name!r}"
                )
        grpc_services[name] = names
    owners: dict[str, str] = {}
    for name, names in grpc_services.items():
        for full_name in names:
            if full_name in owners:
                raise GatewayConfigError(
                    f"{full_name} is listed under both {owners[full_name]} and {name}"
                )
            owners[full_name] = name

    cors_raw = _section(
        raw,
        "cors",
        {
            "allowed_origins",
            "allow_methods",
            "allow_headers",
            "expose_headers",
            "allow_credentials",
            "max_age",
        },
    )
    cors = CorsSettings(
        allowed_origins=tuple(_strings(cors_raw.get("allowed_origins") or [], "cors.origins")),
        allow_methods=tuple(
            _strings(cors_raw.get("allow_methods", DEFAULT_CORS_ALLOW_METHODS), "cors")
        ),
        allow_headers=tuple(
            h.lower()
            for h in _strings(cors_raw.get("allow_headers", DEFAULT_CORS_ALLOW_HEADERS), "cors")
        ),
        expose_headers=tuple(
            h.lower()
            for h in _strings(cors_raw.get("expose_headers", DEFAULT_CORS_EXPOSE_HEADERS), "cors")
        ),
        allow_credentials=_bool(cors_raw.get("allow_credentials", False), "cors.allow_credentials"),
        max_age=parse_duration(cors_raw.get("max_age", "24h"), "cors.max_age"),
    )

    timeouts = _section(raw, "timeouts", {"default", "methods"})
    method_timeouts = {
        _method_key(method): parse_duration(value, f"timeouts.methods[{method}]")
        for method, value in _mapping(timeouts.get("methods") or {}, "timeouts.methods").items()
    }

    retries_raw = _section(raw, "retries", {"num_retries", "per_try_timeout", "idempotent_methods"})
    retries = RetrySettings(
        num_retries=_int(retries_raw.get("num_retries", 2), "retries.num_retries", minimum=0),
        per_try_timeout=parse_duration(
            retries_raw.get("per_try_timeout", "2s"), "retries.per_try_timeout"
        ),
        idempotent_methods=frozenset(
            _method_key(m)
            for m in _strings(
                retries_raw.get("idempotent_methods") or [], "retries.idempotent_methods"
            )
        ),
    )

    rate_limit = _rate_limit(_mapping(raw.get("rate_limit") or {}, "rate_limit"))
    client = _section(raw, "client_address", {"xff_num_trusted_hops", "header"})
    client_address = ClientAddressSettings(
        xff_num_trusted_hops=_int(
            client.get("xff_num_trusted_hops", 0), "client_address.xff_num_trusted_hops", 0
        ),
        header=str(client.get("header", ClientAddressSettings.header)).lower(),
    )

    tracing = _section(raw, "tracing", {"otlp_endpoint", "sampling_percent"})
    endpoint = tracing.get("otlp_endpoint") or None
    sampling = tracing.get("sampling_percent", 100)
    if isinstance(sampling, bool) or not isinstance(sampling, (int, float)):
        raise GatewayConfigError(f"tracing.sampling_percent: expected a number, got {sampling!r}")

    up = _section(
        raw,
        "upstream",
        {
            "connect_timeout",
            "health_check_interval",
            "health_check_timeout",
            "unhealthy_threshold",
            "healthy_threshold",
            "max_connections",
            "max_pending_requests",
            "max_requests",
            "retry_budget_percent",
            "min_retry_concurrency",
        },
    )
    base = UpstreamSettings()
    upstream_fields: dict[str, Any] = {
        key: (
            parse_duration(value, f"upstream.{key}")
            if isinstance(getattr(base, key), timedelta)
            else _int(value, f"upstream.{key}", minimum=1)
        )
        for key, value in up.items()
    }
    upstream = UpstreamSettings(**upstream_fields)
    if upstream.retry_budget_percent > 100:
        raise GatewayConfigError(
            "upstream.retry_budget_percent: a share of active requests, at most 100, "
            f"got {upstream.retry_budget_percent}"
        )
    http_raw = _section(
        raw, "http", {"stream_idle_timeout", "request_timeout", "max_downstream_connections"}
    )
    http_base = HttpSettings()
    http_fields: dict[str, Any] = {
        key: (
            parse_duration(value, f"http.{key}")
            if isinstance(getattr(http_base, key), timedelta)
            else _int(value, f"http.{key}", minimum=1)
        )
        for key, value in http_raw.items()
    }
    http = HttpSettings(**http_fields)

    return GatewaySettings(
        listen_host=str(listener.get("host", DEFAULT_LISTEN[0])),
        listen_port=_int(listener.get("port", DEFAULT_LISTEN[1]), "listener.port"),
        admin_host=str(admin.get("host", DEFAULT_ADMIN[0])),
        admin_port=_int(admin.get("port", DEFAULT_ADMIN[1]), "admin.port"),
        upstreams=upstreams,
        grpc_services=grpc_services,
        otlp_endpoint=None
        if endpoint is None
        else parse_address(endpoint, "tracing.otlp_endpoint"),
        tracing_sampling_percent=float(sampling),
        cors=cors,
        default_timeout=parse_duration(timeouts.get("default", "5s"), "timeouts.default"),
        method_timeouts=method_timeouts,
        retries=retries,
        rate_limit=rate_limit,
        strip_request_headers=tuple(
            h.lower() for h in _strings(raw.get("strip_request_headers") or [], "strip")
        ),
        upstream=upstream,
        http=http,
        auth=_auth(raw),
        client_address=client_address,
    )


def _rate_limit(raw: Mapping[str, Any]) -> RateLimitSettings:
    try:
        return parse_rate_limit(
            raw,
            duration=parse_duration,
            integer=lambda value, where: _int(value, where, minimum=1),
            method_key=_method_key,
        )
    except RateLimitConfigError as exc:
        raise GatewayConfigError(str(exc)) from exc


def _auth(raw: Mapping[str, Any]) -> AuthSettings:
    section = _section(raw, "auth", {"issuer", "jwks", "jwks_path", "jwks_cache", "public_methods"})
    base = AuthSettings()
    return AuthSettings(
        issuer=str(section.get("issuer", base.issuer)),
        jwks_endpoint=parse_address(section["jwks"], "auth.jwks")
        if "jwks" in section
        else base.jwks_endpoint,
        jwks_path=str(section.get("jwks_path", base.jwks_path)),
        jwks_cache=parse_duration(section.get("jwks_cache", "5m"), "auth.jwks_cache"),
        public_methods=frozenset(
            _method_key(m) for m in _strings(section.get("public_methods") or [], "public_methods")
        ),
    )


def _method_key(method: str) -> str:
    return str(method).strip().removeprefix("/")


def _section(raw: Mapping[str, Any], key: str, allowed: set[str]) -> Mapping[str, Any]:
    value = _mapping(raw.get(key) or {}, key)
    _only(value, key, allowed)
    return value


def _only(value: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise GatewayConfigError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise GatewayConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


def _strings(value: Any, where: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise GatewayConfigError(f"{where}: expected a list of strings, got {value!r}")
    if not all(isinstance(v, str) and v for v in value):
        raise GatewayConfigError(f"{where}: expected non-empty strings, got {value!r}")
    return list(value)


def _int(value: Any, where: str, minimum: int | None = None) -> int:
    if isinstance(value, bool):
        raise GatewayConfigError(f"{where}: expected an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise GatewayConfigError(f"{where}: expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise GatewayConfigError(f"{where}: must be at least {minimum}, got {number}")
    return number


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise GatewayConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def _check_port(what: str, port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise GatewayConfigError(f"{what}: not a TCP port: {port!r}")


def _check_host(what: str, host: str) -> None:
    if not host or any(c.isspace() for c in host) or "/" in host:
        raise GatewayConfigError(f"{what}: not a host name or address: {host!r}")


def _check_service_name(name: str) -> None:
    if not _SERVICE_NAME.match(name):
        raise GatewayConfigError(f"service name must match {_SERVICE_NAME.pattern}: {name!r}")
    if name in RESERVED_CLUSTER_NAMES:
        raise GatewayConfigError(f"service name {name!r} is reserved by the generator")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
