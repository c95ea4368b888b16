"""Shared fixtures: the API descriptor set (a private copy) and gateway.yaml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GATEWAY_YAML = REPO / "gateway" / "gateway.yaml"
BUILD_DESCRIPTOR = REPO / "build" / "api_descriptor.binpb"


@pytest.fixture(scope="session")
def gateway_yaml() -> Path:
    return GATEWAY_YAML


@pytest.fixture(scope="session")
def descriptor_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of build/api_descriptor.binpb (built by `make gen` if missing).

    Copied so a concurrent `make gen` rewriting build/ cannot change it mid-test.
    """
    if not BUILD_DESCRIPTOR.exists():
        subprocess.run([sys.executable, str(REPO / "tools" / "gen_protos.py")], check=True)
    copy = tmp_path_factory.mktemp("descriptor") / "api_descriptor.binpb"
    shutil.copyfile(BUILD_DESCRIPTOR, copy)
    return copy
