"""Fixtures for single-component reliability tests: a private NATS and a database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crosstalk_devstack.databases import service_database_urls
from crosstalk_devstack.nats import start_nats
from crosstalk_devstack.ports import free_port


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = start_nats(port, tmp_path / "nats", tmp_path / "nats.log")
    yield f"nats://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    label = f"it{uuid.uuid4().hex[:8]}"
    return service_database_urls(("reliability",), tmp_path, label)["reliability"]
