from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crosstalk_gateway.settings import (
    GatewayConfigError,
    load_settings,
    parse_address,
    parse_duration,
)


def test_gateway_yaml_defaults(gateway_yaml: Path) -> None:
    settings = load_settings(gateway_yaml)
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8080)
    assert (settings.admin_host, settings.admin_port) == ("127.0.0.1", 9901)
    assert settings.upstreams == {
        "identity": ("127.0.0.1", 50051),
        "customers": ("127.0.0.1", 50052),
        "rules": ("127.0.0.1", 50053),
        "translation": ("127.0.0.1", 50054),
        "messaging": ("127.0.0.1", 50055),
        "reporting": ("127.0.0.1", 50056),
    }
    assert settings.grpc_services["identity"] == ("crosstalk.identity.v1.IdentityService",)
    assert settings.otlp_endpoint is None
    assert settings.cors.allowed_origins == ("http://localhost:3000",)
    assert settings.default_timeout == timedelta(seconds=5)
    # Identity headers come from verified token claims, never from a client.
    assert settings.strip_request_headers == (
        "x-crosstalk-tenant-id",
        "x-crosstalk-member-id",
        "x-crosstalk-client-ip",
    )
    assert "crosstalk.identity.v1.IdentityService/Login" in settings.auth.public_methods
    assert settings.rate_limit.per_client.tokens_per_fill > 0


def test_overrides_replace_ports_upstreams_and_tracing(gateway_yaml: Path) -> None:
    settings = load_settings(
        gateway_yaml,
        overrides={
            "listen_port": 18080,
            "admin_port": 19901,
            "upstreams": {"reporting": ("127.0.0.1", 6000), "identity": "127.0.0.1:6001"},
            "otlp_endpoint": "127.0.0.1:4317",
        },
    )
    assert (settings.listen_port, settings.admin_port) == (18080, 19901)
    assert settings.upstreams["reporting"] == ("127.0.0.1", 6000)
    assert settings.upstreams["identity"] == ("127.0.0.1", 6001)
    assert settings.upstreams["customers"] == ("127.0.0.1", 50052)
    assert settings.otlp_endpoint == ("127.0.0.1", 4317)
    assert load_settings(gateway_yaml, overrides={"otlp_endpoint": None}).otlp_endpoint is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"upstreams": {"nope": "127.0.0.1:1"}},
        {"listen_port": 0},
        {"admin_port": "x"},
        {"cors": []},
        {"otlp_endpoint": "no-port"},
    ],
)
def test_bad_overrides_are_rejected(gateway_yaml: Path, overrides: dict[str, object]) -> None:
    with pytest.raises(GatewayConfigError):
        load_settings(gateway_yaml, overrides=overrides)


@pytest.mark.parametrize(
    "text",
    [
        "admin: {host: 0.0.0.0}\n",
        "listener: {host: localhost}\n",
        "listner: {port: 1}\n",
        "services: {reporting: {grpc_services: [crosstalk.reporting.v1.ReportingService]}}\n",
        "services: {otel_collector: {upstream: '127.0.0.1:1'}}\n",
        "timeouts: {default: five}\n",
        "timeouts: {methods: {GetDashboard: 1s}}\n",
        "strip_request_headers: [X-Bad Header]\n",
        "tracing: {otlp_endpoint: '127.0.0.1:4317', sampling_percent: 101}\n",
        "upstream: {retry_budget_percent: 101}\n",
        "upstream: {retry_budget_percent: 0}\n",
        "upstream: {max_retries: 3}\n",
    ],
)
def test_bad_gateway_yaml_is_rejected(tmp_path: Path, text: str) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    with pytest.raises(GatewayConfigError):
        load_settings(path)


def test_addresses_and_durations() -> None:
    assert parse_address("[::1]:50051", "x") == ("::1", 50051)
    assert parse_address(("svc.ns", 7), "x") == ("svc.ns", 7)
    assert parse_duration("250ms", "x") == timedelta(milliseconds=250)
    assert parse_duration("1.5m", "x") == timedelta(seconds=90)
    assert parse_duration(3, "x") == timedelta(seconds=3)
