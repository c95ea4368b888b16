"""The chaos tests' stack: the whole platform with gateway.yaml's own limits and a
JetStream store small enough to fill; on the PostgreSQL run, a PostgreSQL cluster of
their own when one can be started here (so restarting it disturbs no other database)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from crosstalk_devstack.databases import fresh_postgres_database, service_database_urls
from crosstalk_devstack.stack import SERVICES, Stack, StackConfig
from tests.chaos.harness import Audit, PrivatePostgres, Profile, Verdict, rule_body
from tests.chaos.timers import timer_rule_body
from tests.e2e.rest import Session, ok, sign_up

BACKEND = os.environ.get("CROSSTALK_TEST_DB", "sqlite")
# Enough for the whole run's events (a few thousand of about 1 KiB) many times over,
# small enough to fill in a second or two.
NATS_STORE_LIMIT = 64 * 1024 * 1024

VERDICTS: list[Verdict] = []


@dataclass
class Chaos:
    stack: Stack
    tenant: Session
    audit: Audit
    profile: Profile
    postgres: PrivatePostgres | None
    postgres_unavailable: str  # why PostgreSQL cannot be restarted here ("" when it can)


def _private_postgres() -> tuple[PrivatePostgres | None, str]:
    # Straight under the system's temporary directory: the server runs as the postgres
    # user when the tests run as root, and pytest's own directories are private.
    root = Path(tempfile.mkdtemp(prefix="crosstalk-chaos-pg-"))
    root.chmod(0o755)
    try:
        cluster = PrivatePostgres(root / "cluster")
        cluster.start()
    except Exception as exc:  # reported as the reason of the skip
        shutil.rmtree(root, ignore_errors=True)
        return None, f"no PostgreSQL cluster of the test's own could be started: {exc}"
    return cluster, ""


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    var_dir = tmp_path_factory.mktemp("chaos")
    cluster: PrivatePostgres | None = None
    unavailable = "PostgreSQL is restarted only on the PostgreSQL run (CROSSTALK_TEST_DB=postgres)"
    if BACKEND == "postgres":
        cluster, unavailable = _private_postgres()
        if cluster is not None:
            urls = {s: fresh_postgres_database(cluster.admin_url, f"chaos_{s}") for s in SERVICES}
        else:  # the shared server: every fault but its restart
            urls = service_database_urls(SERVICES, var_dir, "chaos")
    else:
        urls = service_database_urls(SERVICES, var_dir, "chaos")
    config = StackConfig.on_free_ports(
        var_dir, database_urls=urls, nats_max_file_store=NATS_STORE_LIMIT, log_level="WARNING"
    )
    stack = Stack(config)
    try:
        stack.start()
        with httpx.Client(base_url=config.gateway_url, timeout=30) as http:
            tenant = sign_up(http, "Chaos Co", working_language="en")
            rule = ok(http.post("/v1/rules", headers=tenant.headers, json=rule_body()))
            timer = ok(http.post("/v1/rules", headers=tenant.headers, json=timer_rule_body()))
        audit = Audit(stack, tenant.tenant_id, _id(rule["name"]), _id(timer["name"]))
        yield Chaos(stack, tenant, audit, Profile.from_env(), cluster, unavailable)
    finally:
        stack.stop()
        if cluster is not None:
            cluster.stop()


def _id(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _cell(counter: object) -> str:
    items = getattr(counter, "most_common", lambda: [])()
    return ", ".join(f"{k} x{n}" for k, n in items) or "-"


def chaos_table() -> list[str]:
    if not VERDICTS:
        return []
    lines = [
        f"chaos under load ({BACKEND}): fault -> messages accepted, lost, duplicated, recovery;"
        " timers fired once / due",
        f"{'fault':<22} {'accepted':>8} {'lost':>5} {'dup':>4} {'back s':>7} {'recovered s':>11}"
        f" {'timers':>7}  refused (clean) / failures",
    ]
    for v in VERDICTS:
        back = f"{v.back_after:.1f}" if v.back_after is not None else "-"
        recovered = f"{v.recovered_after:.1f}" if v.recovered_after is not None else "never"
        timers = f"{v.timers_fired_once}/{v.timers}"
        lines.append(
            f"{v.fault:<22} {v.accepted:>8} {v.lost_count:>5} {v.duplicated_count:>4}"
            f" {back:>7} {recovered:>11} {timers:>7}  {_cell(v.refused)} / {_cell(v.failures)}"
        )
        for what, found in (
            ("lost", v.lost),
            ("duplicated", v.duplicated),
            ("never fired:", v.timers_missing),
            ("fired twice or wrongly:", v.timers_doubled),
        ):
            for effect, ids in found.items():
                lines.append(f"    {what} {effect}: {len(ids)} (e.g. {', '.join(ids[:3])})")
        for kind, sample in v.samples.items():
            lines.append(f"    first {kind}: {sample[:160]!r}")
    return lines


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = chaos_table()
    if lines:
        terminalreporter.section("chaos")
        for line in lines:
            terminalreporter.write_line(line)
