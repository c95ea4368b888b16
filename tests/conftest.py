"""Fixtures for the cross-service suites: the database backend, a collector, the stack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from crosstalk_devstack.databases import DEFAULT_PG_URL, postgres_reachable, service_database_urls
from crosstalk_devstack.otlp_collector import OtlpCollector
from crosstalk_devstack.stack import SERVICES, Stack, StackConfig
from tests.mail_sink import MailSink

BACKEND = os.environ.get("CROSSTALK_TEST_DB", "sqlite")

# Every e2e test calls from 127.0.0.1 and signs up its own tenants: no per-method
# limits for the shared stack (tests/e2e/test_gateway_edge.py runs a second gateway
# with gateway.yaml's own limits against the same services).
E2E_RATE_LIMIT = {"per_client_methods": {}}


@pytest.fixture(scope="session", autouse=True)
def _database_backend_available() -> None:
    if BACKEND != "postgres":
        return
    url = os.environ.get("CROSSTALK_TEST_PG_URL", DEFAULT_PG_URL)
    if postgres_reachable(url):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is not reachable at {url} (CI=true: this is a failure)")
    pytest.skip(f"PostgreSQL is not reachable at {url}")


@pytest.fixture(scope="session")
def collector() -> Iterator[OtlpCollector]:
    server = OtlpCollector().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    """The SMTP server the stack's services mail to (scheduled reports)."""
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory, collector: OtlpCollector, mail_sink: MailSink
) -> Iterator[Stack]:
    """The whole platform, once per session, on free loopback ports."""
    var_dir: Path = tmp_path_factory.mktemp("stack")
    config = StackConfig.on_free_ports(
        var_dir,
        database_urls=service_database_urls(SERVICES, var_dir, "e2e"),
        otlp_endpoint=("127.0.0.1", collector.port),
        gateway_rate_limit=E2E_RATE_LIMIT,
        extra_env={"REPORTING_SMTP_HOST": "127.0.0.1", "REPORTING_SMTP_PORT": str(mail_sink.port)},
    )
    with Stack(config) as running:
        yield running
