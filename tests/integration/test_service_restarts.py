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
from tests.e2e.rest import Session, eventually, ok, sign_up

pytestmark = pytest.mark.e2e


async def _ingest_all(
    address: str,
    tenant: Session,
    prefix: str,
    numbers: range | list[int],
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
                        metadata=tenant.metadata,
                        timeout=30,
                    )
                except grpc.aio.AioRpcError as err:
                    return err.code()
                nonlocal done
                done += 1
                if after is not None and done == after[0]:
                    threading.Thread(target=after[1]).start()
                return grpc.StatusCode.OK

        return list(await asyncio.gather(*(one(n) for n in numbers)))


def _received(http: httpx.Client, tenant: Session) -> int:
    return int(ok(http.get("/v1/dashboard", headers=tenant.headers))["messagesReceived"])


def test_sigterm_drains_in_flight_requests_and_loses_nothing(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        tenant = sign_up(http, "Drain Co")
        address = stack.config.address("messaging")
        stopped = threading.Event()

        def sigterm() -> None:
            stack.stop_process("messaging")
            stopped.set()

        total = 1000
        codes = asyncio.run(
            _ingest_all(address, tenant, "drain", range(total), after=(100, sigterm))
        )
        assert stopped.wait(30)
        stack.start_service("messaging")
        refused = [n for n, code in enumerate(codes) if code != grpc.StatusCode.OK]
        # A call caught by the shutdown is refused, never half-done ...
        assert {codes[n] for n in refused} <= {
            grpc.StatusCode.UNAVAILABLE,
            grpc.StatusCode.CANCELLED,
        }
        assert refused, "the service stopped only after every call: nothing was in flight"
        assert codes.count(grpc.StatusCode.OK) >= 100
        # ... so the client retries those with the same channel message ids,
        retried = asyncio.run(_ingest_all(address, tenant, "drain", refused))
        assert retried == [grpc.StatusCode.OK] * len(refused)
        # and every message is received exactly once.
        eventually(
            lambda: _received(http, tenant) == total, timeout=60, what=f"{total} messages counted"
        )
        asyncio.run(asyncio.sleep(2))
        assert _received(http, tenant) == total


def test_sigkill_with_unpublished_events_loses_nothing(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        tenant = sign_up(http, "Crash Co")
        stack.stop_process("nats")  # the relay cannot publish: events wait in the outbox
        codes = asyncio.run(
            _ingest_all(stack.config.address("messaging"), tenant, "kill", range(100))
        )
        assert codes == [grpc.StatusCode.OK] * 100
        stack.kill_process("messaging")  # no drain, no goodbye
        stack.start_nats()
        stack.start_service("messaging")
        eventually(lambda: _received(http, tenant) == 100, timeout=90, what="100 messages counted")
