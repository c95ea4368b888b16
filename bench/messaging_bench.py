"""Messaging through Envoy (issue 15's bench). Starts the whole stack on free loopback
ports (SQLite in a temporary directory, or PostgreSQL with --pg) and prints figures; no
targets are asserted.

Parts (``--part``, all by default):

- ``replies``: SendReply with translation, sequential, one client: an English reply to a
  Spanish conversation, translated by Apertium (eng->spa) and back (spa->eng), similarity
  stored, message and delivery request written. ``fresh`` replies are each a new text (no
  translation memory); ``repeated`` replies send one text again (translation memory hits
  both ways). Delivery itself (the channel adapter) runs afterwards, outside the timing.

- ``ingest``: IngestMessage through Envoy, Apertium warm. Concurrency 1: ``-n`` calls one
  after the other, p50/p99. Concurrency 32: 32 clients, each sending its next message
  as soon as the last is answered, for ``--seconds``; p50/p99, errors and the messages/s
  sustained (closed loop: the most the stack answers at that concurrency; the open-loop,
  fixed-rate view is ``bench.main_job_load``). Each message comes from a buyer of a few
  hundred (a new customer at first, a known one later), in Spanish or English, and
  half carry a channel message id.

Other areas add their parts as functions of the same shape in PARTS.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.stats import summary_ms
from crosstalk_devstack.databases import fresh_postgres_database
from crosstalk_devstack.demo import login
from crosstalk_devstack.stack import SERVICES, Stack, StackConfig

_UNLIMITED = {"max_tokens": 1_000_000, "tokens_per_fill": 1_000_000, "fill_interval": "1s"}
_PASSWORD = "quiet-orchard-lantern-2026"
_SENTENCES = [
    "Your order ships today",
    "We are sorry for the delay",
    "The refund was sent to your card",
    "Please send us a photo of the damaged item",
    "Thank you for your patience",
    "The new parcel leaves our warehouse tomorrow",
    "Your size is back in stock",
    "We will call you this afternoon",
]


def _sign_up(http: httpx.Client) -> dict[str, str]:
    email = f"bench-{uuid.uuid4().hex[:8]}@bench.test"
    http.post(
        "/v1/tenants:signUp",
        json={
            "companyName": "Messaging Bench",
            "workingLanguage": "en",
            "adminEmail": email,
            "adminDisplayName": "Bench",
            "adminPassword": _PASSWORD,
        },
    ).raise_for_status()
    return {"authorization": f"Bearer {login(http, email, _PASSWORD)}"}


def replies(http: httpx.Client, args: argparse.Namespace) -> list[str]:
    n = args.n
    headers = _sign_up(http)
    inbound = http.post(
        "/v1/messages:ingest",
        headers=headers,
        json={
            "sender": {"channel": "CHANNEL_EMAIL", "externalId": "cliente@example.es"},
            "text": "Hola, ¿dónde está mi pedido? Lo compré hace dos semanas.",
        },
    )
    inbound.raise_for_status()
    conversation = inbound.json()["conversation"]

    def send(text: str) -> float:
        t0 = time.perf_counter()
        response = http.post(f"/v1/{conversation}:sendReply", headers=headers, json={"text": text})
        elapsed = time.perf_counter() - t0
        response.raise_for_status()
        assert response.json()["translatedLanguage"] == "es", response.text
        return elapsed

    for i in range(5):  # warm up: Apertium's processes, caches, connections
        send(f"Warm up number {i}. {_SENTENCES[i % len(_SENTENCES)]}.")
    fresh = [
        send(f"{_SENTENCES[i % len(_SENTENCES)]}, reference {uuid.uuid4().hex[:6]}.")
        for i in range(n)
    ]
    repeated = [send("Your order ships today. Thank you for your patience.") for _ in range(n)]
    return [
        summary_ms("SendReply with translation, fresh text", fresh),
        summary_ms("SendReply with translation, repeated text", repeated),
    ]


_INBOUND = [
    "Hola, ¿dónde está mi pedido {n}? Lo compré hace dos semanas.",
    "Hello, parcel {n} arrived broken. I would like a refund, please.",
    "El paquete {n} llegó dañado, quiero un reembolso.",
    "Can you tell me when order {n} ships?",
]
_BUYERS = 300
CONCURRENCY = 32


def _inbound(run: str, n: int) -> dict[str, object]:
    body: dict[str, object] = {
        "sender": {
            "channel": "CHANNEL_EMAIL",
            "externalId": f"buyer-{run}-{n % _BUYERS}@shop.test",
        },
        "text": _INBOUND[n % len(_INBOUND)].format(n=n),
    }
    if n % 2:
        body["externalId"] = f"mail-{run}-{n}"
    return body


async def _closed_loop(
    base_url: str, headers: dict[str, str], run: str, seconds: float
) -> tuple[list[float], Counter[str], float]:
    """CONCURRENCY clients, each sending again as soon as it is answered."""
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    numbers = iter(range(1_000_000, 10_000_000))
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        start = time.perf_counter()
        end = start + seconds

        async def one_client() -> None:
            while time.perf_counter() < end:
                body = _inbound(run, next(numbers))
                t0 = time.perf_counter()
                try:
                    response = await client.post("/v1/messages:ingest", headers=headers, json=body)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[f"HTTP {response.status_code}"] += 1

        await asyncio.gather(*(one_client() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - start
    return latencies, errors, elapsed


def ingest(http: httpx.Client, args: argparse.Namespace) -> list[str]:
    n, seconds = args.n, args.seconds
    headers = _sign_up(http)
    run = uuid.uuid4().hex[:6]

    def send(i: int) -> float:
        t0 = time.perf_counter()
        response = http.post("/v1/messages:ingest", headers=headers, json=_inbound(run, i))
        elapsed = time.perf_counter() - t0
        response.raise_for_status()
        return elapsed

    for i in range(20):  # warm up: Apertium, caches, connections; the first buyers exist
        send(i)
    sequential = [send(20 + i) for i in range(n)]
    latencies, errors, elapsed = asyncio.run(
        _closed_loop(str(http.base_url), headers, run, seconds)
    )
    failed = ", ".join(f"{k} x{v}" for k, v in errors.most_common()) or "none"
    return [
        summary_ms("IngestMessage, concurrency 1", sequential),
        summary_ms(f"IngestMessage, concurrency {CONCURRENCY}", latencies),
        f"IngestMessage, concurrency {CONCURRENCY}: {len(latencies) / elapsed:.1f} messages/s "
        f"sustained over {elapsed:.0f} s; errors: {failed}  [target >= 300 messages/s]",
    ]


PARTS: dict[str, Callable[[httpx.Client, argparse.Namespace], list[str]]] = {
    "ingest": ingest,
    "replies": replies,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=sorted(PARTS), action="append")
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="ingest at concurrency 32")
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
                gateway_rate_limit={"per_client": _UNLIMITED, "per_client_methods": {}},
            )
        ) as stack,
        httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http,
    ):
        lines = [f"messaging through Envoy; services on {'PostgreSQL' if args.pg else 'SQLite'}"]
        for part in args.part or sorted(PARTS):
            lines += PARTS[part](http, args)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
