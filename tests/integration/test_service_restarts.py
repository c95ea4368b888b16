"""A service stopped (SIGTERM) or killed (SIGKILL) loses no committed event."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import grpc
import httpx
import pytest

from crosstalk.common.v1 import channel_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as mpb
from crosstalk.messaging.v1 import messaging_service_pb2_grpc as mgrpc
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import TENANT_HEADER, eventually, ok, sign_up

pytestmark = pytest.mark.e2e


async def _ingest_all(
    address: str,
    tenant: str,
    prefix: str,
    count: int,
    after: tuple[int, Callable[[], None]] | None = None,
) -> list[grpc.StatusCode]:
    """Ingest concurrently; returns each call's status code.

    ``after=(n, action)`` starts ``action`` in a thread once n calls succeeded.
    """
    done = 0
    async with grpc.aio.insecure_channel(address) as channel:
        stub = mgrpc.MessagingServiceStub(channel)
        gate = asyncio.Semaphore(8)

        async def one(n: int) -> grpc.StatusCode:
            async with gate:
                try:
                    await stub.IngestMessage(
                        mpb.IngestMessageRequest(
                            sender=channel_pb2.ChannelIdentity(
                                channel=channel_pb2.CHANNEL_SHOPEE,
                                external_id=f"{prefix}-buyer-{n % 10}",
                                store="shopee-vn",
                            ),
                            text=f"hỏi về đơn hàng {n}",
                            external_id=f"{prefix}-{n}",
                        ),
                        metadata=[(TENANT_HEADER, tenant)],
                        timeout=30,
                    )
                except grpc.aio.AioRpcError as err:
                    return err.code()
                nonlocal done
                done += 1
                if after is not None and done == after[0]:
                    threading.Thread(target=after[1]).start()
                return grpc.StatusCode.OK

        return list(await asyncio.gather(*(one(n) for n in range(count))))


def _received(http: httpx.Client, tenant: str) -> int:
    return int(ok(http.get("/v1/dashboard", headers={TENANT_HEADER: tenant}))["messagesReceived"])


def test_sigterm_drains_in_flight_requests_and_loses_nothing(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        tenant = sign_up(http, "Drain Co")
        address = stack.config.address("messaging")
        stopped = threading.Event()

        def sigterm() -> None:
            stack.stop_process("messaging")
            stopped.set()

        codes = asyncio.run(_ingest_all(address, tenant, "drain", 1000, after=(100, sigterm)))
        assert stopped.wait(30)
        stack.start_service("messaging")
        accepted = codes.count(grpc.StatusCode.OK)
        refused = [c for c in codes if c != grpc.StatusCode.OK]
        # Calls either completed or were refused as UNAVAILABLE: none half-done.
        assert set(refused) <= {grpc.StatusCode.UNAVAILABLE}, set(refused)
        assert accepted >= 100
        assert refused, "the service stopped only after every call: nothing was in flight"
        eventually(
            lambda: _received(http, tenant) == accepted,
            timeout=60,
            what=f"{accepted} accepted messages counted",
        )


def test_sigkill_with_unpublished_events_loses_nothing(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        tenant = sign_up(http, "Crash Co")
        stack.stop_process("nats")  # the relay cannot publish: events wait in the outbox
        codes = asyncio.run(_ingest_all(stack.config.address("messaging"), tenant, "kill", 100))
        assert codes == [grpc.StatusCode.OK] * 100
        stack.kill_process("messaging")  # no drain, no goodbye
        stack.start_nats()
        stack.start_service("messaging")
        eventually(lambda: _received(http, tenant) == 100, timeout=90, what="100 messages counted")
