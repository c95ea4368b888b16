"""Messaging through Envoy (issue 15's bench). Starts the whole stack on free loopback
ports (SQLite in a temporary directory, or PostgreSQL with --pg) and prints figures; no
targets are asserted.

Parts (``--part``, all by default):

- ``replies``: SendReply with translation, sequential, one client: an English reply to a
  Spanish conversation, translated by Apertium (eng->spa) and back (spa->eng), similarity
  stored, message and delivery request written. ``fresh`` replies are each a new text (no
  translation memory); ``repeated`` replies send one text again (translation memory hits
  both ways). Delivery itself (the channel adapter) runs afterwards, outside the timing.

Other areas add their parts (e.g. ingest) as functions of the same shape in PARTS.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
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


def replies(http: httpx.Client, n: int) -> list[str]:
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


PARTS: dict[str, Callable[[httpx.Client, int], list[str]]] = {"replies": replies}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=sorted(PARTS), action="append")
    parser.add_argument("-n", type=int, default=50)
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
            lines += PARTS[part](http, args.n)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
