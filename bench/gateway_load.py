"""Open-loop ingest load against a running gateway (the Kubernetes load-generator Job).

Signs up a tenant through the gateway, adds one rule (keyword "refund" -> tag), then
posts ``/v1/messages:ingest`` at each fixed rate for a step and prints, per step:
achieved rate, latency p50/p99 measured from each request's scheduled time (no
coordinated omission) and errors by status. ``bench.main_job_load`` is the same job
with the stack started locally and CPU per process; this one only needs a URL.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections import Counter

import httpx

from bench.stats import percentile


async def sign_up(client: httpx.AsyncClient) -> dict[str, str]:
    email = f"load-{uuid.uuid4().hex[:10]}@load.test"
    password = f"paper-{uuid.uuid4().hex}"
    response = await client.post(
        "/v1/tenants:signUp",
        json={
            "companyName": "Load Generator",
            "industry": "load",
            "teamSize": 1,
            "workingLanguage": "en",
            "adminEmail": email,
            "adminDisplayName": "Load",
            "adminPassword": password,
        },
    )
    response.raise_for_status()
    login = await client.post("/v1/auth:login", json={"email": email, "password": password})
    login.raise_for_status()
    headers = {"authorization": f"Bearer {login.json()['accessToken']}"}
    rule = await client.post(
        "/v1/rules",
        headers=headers,
        json={
            "displayName": "Refund asks",
            "trigger": "TRIGGER_MESSAGE_RECEIVED",
            "enabled": True,
            "condition": {
                "leaf": {
                    "field": "message.text",
                    "operator": "OPERATOR_MATCHES_KEYWORDS",
                    "values": ["refund"],
                }
            },
            "actions": [{"addTag": {"tags": ["refund"]}}],
        },
    )
    rule.raise_for_status()
    return headers


async def step(client: httpx.AsyncClient, headers: dict[str, str], rate: int, seconds: int) -> None:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    tasks = []
    start = time.perf_counter()

    async def one(i: int, due: float) -> None:
        body = {
            "sender": {"channel": "CHANNEL_WEB_CHAT", "externalId": f"visitor-{uuid.uuid4().hex}"},
            "text": f"I want a refund for order {i}",
        }
        try:
            response = await client.post("/v1/messages:ingest", headers=headers, json=body)
            if response.status_code == 200:
                latencies.append(time.perf_counter() - due)
            else:
                errors[str(response.status_code)] += 1
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1

    for i in range(rate * seconds):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    print(
        f"rate {rate:>4}/s: achieved {len(ms) / elapsed:7.1f}/s  "
        f"p50 {percentile(ms, 50):7.1f} ms  p99 {percentile(ms, 99):7.1f} ms  "
        f"errors {dict(errors) or 0}",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway", default="http://127.0.0.1:8080")
    parser.add_argument("--rates", default="10,25,50")
    parser.add_argument("--step-seconds", type=int, default=30)
    args = parser.parse_args()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=args.gateway, timeout=10, limits=limits) as client:
        headers = await sign_up(client)
        for rate in (int(r) for r in args.rates.split(",")):
            await step(client, headers, rate, args.step_seconds)


if __name__ == "__main__":
    asyncio.run(main())
