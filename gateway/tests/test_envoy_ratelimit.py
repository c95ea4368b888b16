"""The local rate limit, with a process bucket of one token that never refills (in a test)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import httpx

from crosstalk_gateway.generate import write_envoy_config
from crosstalk_gateway.process import envoy_running, free_port
from crosstalk_gateway.settings import RateLimitSettings, TokenBucket, load_settings


def test_requests_over_the_limit_get_429(
    descriptor_path: Path, gateway_yaml: Path, tmp_path: Path
) -> None:
    listen_port, admin_port = free_port(), free_port()
    base = load_settings(gateway_yaml)
    settings = dataclasses.replace(
        load_settings(
            gateway_yaml,
            overrides={
                "listen_port": listen_port,
                "admin_port": admin_port,
                # Nothing listens there: the limit applies before any upstream is chosen.
                "upstreams": {name: ("127.0.0.1", free_port()) for name in base.upstreams},
            },
        ),
        rate_limit=RateLimitSettings(total=TokenBucket(1, 1, timedelta(hours=1))),
    )
    config = write_envoy_config(descriptor_path, settings, tmp_path / "envoy.yaml")
    with (
        envoy_running(config, admin_port, tmp_path / "envoy.log"),
        httpx.Client(base_url=f"http://127.0.0.1:{listen_port}", timeout=10.0) as client,
    ):
        first = client.get("/no/such/path")
        assert first.status_code == 401  # let through by the limiter, refused for no token
        second = client.get("/no/such/path")
        assert second.status_code == 429
        assert second.headers["x-local-rate-limit"] == "true"
        assert second.headers["content-type"] == "application/json"
        assert second.json()["code"] == 8  # RESOURCE_EXHAUSTED
        assert int(second.headers["retry-after"]) >= 1
