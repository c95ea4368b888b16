"""Unary round trip: direct gRPC to a service vs the same call through Envoy (REST).

Starts the whole stack on free loopback ports (SQLite in a temporary
directory, or PostgreSQL with --pg), creates one customer, then reads it
back sequentially, N times each way. The gRPC health check on the same
server (same interceptors, no handler work) shows what the transport alone
costs. Client and servers share this machine's cores: figures are a floor.

Through Envoy the calls go over one kept-alive connection with the standard
library's http.client, whose request costs the client a few tens of
microseconds; httpx's costs about 0.6 ms of Python (issue 14: on a loaded
machine 2.5 ms with httpx against 1.8 ms with http.client for the same
calls), which says more about the client than about the gateway. The httpx
figure is printed as well, for comparison with earlier runs.
"""

from __future__ import annotations

import argparse
import http.client
import tempfile
import time
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.stats import summary_ms
from crosstalk.customers.v1 import customers_service_pb2 as cpb
from crosstalk.customers.v1 import customers_service_pb2_grpc as cgrpc
from crosstalk_devstack.databases import fresh_postgres_database
from crosstalk_devstack.demo import login
from crosstalk_devstack.stack import SERVICES, Stack, StackConfig

_UNLIMITED = {"max_tokens": 1_000_000, "tokens_per_fill": 1_000_000, "fill_interval": "1s"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--pg", default="", help="PostgreSQL admin URL: services on PostgreSQL")
    args = parser.parse_args()
    urls = (
        {s: fresh_postgres_database(args.pg, f"crosstalk_bench_{s}") for s in SERVICES}
        if args.pg
        else {}
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        Stack(
            StackConfig.on_free_ports(
                Path(tmp),
                database_urls=urls,
                # One client calling back to back: gateway.yaml's per-client
                # bucket (200/s) would answer 429 once calls take < 5 ms.
                gateway_rate_limit={"per_client": _UNLIMITED, "per_client_methods": {}},
            )
        ) as stack,
        httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http,
    ):
        http.post(
            "/v1/tenants:signUp",
            json={
                "companyName": "Bench",
                "workingLanguage": "en",
                "adminEmail": "bench@bench.test",
                "adminDisplayName": "Bench",
                "adminPassword": "quiet-orchard-lantern-2026",
            },
        ).raise_for_status()
        token = login(http, "bench@bench.test", "quiet-orchard-lantern-2026")
        headers = {"authorization": f"Bearer {token}"}
        name = http.post(
            "/v1/customers", headers=headers, json={"displayName": "Bench Customer"}
        ).json()["name"]

        with grpc.insecure_channel(stack.config.address("customers")) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            probe = health_pb2.HealthCheckRequest()
            for _ in range(200):
                health.Check(probe, timeout=5)
            transport = []
            for _ in range(args.n):
                t0 = time.perf_counter()
                health.Check(probe, timeout=5)
                transport.append(time.perf_counter() - t0)
            stub = cgrpc.CustomersServiceStub(channel)
            request = cpb.GetCustomerRequest(name=name)
            metadata = (("authorization", f"Bearer {token}"),)
            for _ in range(200):  # warm up
                stub.GetCustomer(request, metadata=metadata, timeout=5)
            direct = []
            for _ in range(args.n):
                t0 = time.perf_counter()
                stub.GetCustomer(request, metadata=metadata, timeout=5)
                direct.append(time.perf_counter() - t0)

        gateway = http_client_to(stack.config.gateway_url)
        try:
            via_envoy = timed_gets(gateway, f"/v1/{name}", headers, args.n)
        finally:
            gateway.close()
        via_envoy_httpx = []
        for _ in range(200):
            http.get(f"/v1/{name}", headers=headers)
        for _ in range(args.n):
            t0 = time.perf_counter()
            response = http.get(f"/v1/{name}", headers=headers)
            via_envoy_httpx.append(time.perf_counter() - t0)
            assert response.status_code == 200

    backend = "PostgreSQL" if args.pg else "SQLite"
    print(f"unary round trip, sequential, one client; customers on {backend}")
    print(
        summary_ms("direct gRPC, health check (no handler work)", transport, target="p50 <= 1 ms")
    )
    print(summary_ms("direct gRPC, GetCustomer (one read)", direct, target="p50 <= 1 ms"))
    print(summary_ms("REST via Envoy, GetCustomer", via_envoy, target="p50 <= 2 ms"))
    print(summary_ms("REST via Envoy, GetCustomer, httpx client", via_envoy_httpx))


def http_client_to(url: str) -> http.client.HTTPConnection:
    host, _, port = url.removeprefix("http://").partition(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def timed_gets(
    connection: http.client.HTTPConnection, path: str, headers: dict[str, str], n: int
) -> list[float]:
    """``n`` GETs of ``path`` one after the other on one kept-alive connection, timed
    (after 200 unmeasured ones); each must answer 200."""

    def get() -> None:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body[:200])

    for _ in range(200):
        get()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        get()
        times.append(time.perf_counter() - t0)
    return times


if __name__ == "__main__":
    main()
