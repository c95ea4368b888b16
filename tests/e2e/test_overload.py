"""An overloaded service says so at once, through the gateway, with retry advice (issue 14).

Customers is restarted with room for one call at a time and no queue; a burst of
customer creations through Envoy then finds it busy (each one waits on its
database writes, so they overlap; a read by key is answered without ever
yielding the event loop, so reads would simply take turns). The calls it cannot take are answered
429 with ``Retry-After`` and a google.rpc.RetryInfo, not left to time out, and
it serves again as soon as the burst is over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from crosstalk_devstack.stack import Stack
from tests.e2e.rest import eventually, ok, sign_up

pytestmark = pytest.mark.e2e

ONE_SLOT = {
    "CROSSTALK_MAX_IN_FLIGHT": "1",
    "CROSSTALK_ADMISSION_WAIT": "0s",
    "CROSSTALK_RETRY_AFTER": "2s",
}


@pytest.fixture
def customers_with_one_slot(stack: Stack) -> Iterator[None]:
    stack.stop_process("customers")
    stack.start_service("customers", extra_env=ONE_SLOT)
    try:
        yield
    finally:
        stack.stop_process("customers")
        stack.start_service("customers")


async def _burst(base_url: str, token: str, calls: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(
        base_url=base_url, headers={"authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        return await asyncio.gather(
            *(
                client.post("/v1/customers", json={"displayName": f"Burst {n}"})
                for n in range(calls)
            )
        )


def test_a_busy_service_answers_429_with_retry_advice(
    stack: Stack, customers_with_one_slot: None
) -> None:
    base_url = stack.config.gateway_url
    with httpx.Client(base_url=base_url, timeout=30) as http:
        session = sign_up(http, "Overload Traders")
        headers = {"authorization": f"Bearer {session.access_token}"}
        # The gateway may still count the restarted service as down for a moment.
        created = eventually(
            lambda: (
                (r := http.post("/v1/customers", headers=headers, json={"displayName": "Busy"}))
                and r.status_code == 200
                and r
            ),
            what="customers serving again",
        )
        name = created.json()["name"]

        answers = asyncio.run(_burst(base_url, session.access_token, 40))

        statuses = sorted({r.status_code for r in answers})
        assert statuses == [200, 429], statuses
        refused = next(r for r in answers if r.status_code == 429)
        assert refused.headers["retry-after"] == "2"
        body = refused.json()
        assert body["code"] == 8  # RESOURCE_EXHAUSTED
        kinds = {d["@type"].rsplit("/", 1)[-1]: d for d in body["details"]}
        assert kinds["google.rpc.ErrorInfo"]["reason"] == "OVERLOADED"
        assert kinds["google.rpc.RetryInfo"]["retryDelay"] == "2s"

        # Once the burst is over the service serves again.
        assert ok(http.get(f"/v1/{name}", headers=headers))["name"] == name
