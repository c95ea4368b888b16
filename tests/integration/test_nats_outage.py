"""NATS goes away while messaging keeps committing: nothing is lost, nothing doubles."""

from __future__ import annotations

import asyncio

import grpc
import httpx
import pytest

from crosstalk.common.v1 import channel_pb2
from crosstalk.messaging.v1 import messaging_service_pb2 as mpb
from crosstalk.messaging.v1 import messaging_service_pb2_grpc as mgrpc
from crosstalk_devstack.stack import Stack
from tests.e2e.rest import Session, eventually, ok, sign_up

pytestmark = pytest.mark.e2e

TOTAL = 1000


async def _ingest(address: str, tenant: Session, numbers: range) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = mgrpc.MessagingServiceStub(channel)
        gate = asyncio.Semaphore(16)

        async def one(n: int) -> None:
            request = mpb.IngestMessageRequest(
                sender=channel_pb2.ChannelIdentity(
                    channel=channel_pb2.CHANNEL_AMAZON,
                    external_id=f"buyer-{n % 50}",
                    store="amazon-de",
                ),
                text=f"where is my order #{n}?",
                external_id=f"amz-msg-{n}",
            )
            # Like a channel adapter: UNAVAILABLE (a dependency too slow for its
            # deadline) is retried with the same channel message id, which the
            # ingest deduplicates, so a retry can never double a message.
            for attempt in range(5):
                async with gate:
                    try:
                        await stub.IngestMessage(request, metadata=tenant.metadata, timeout=30)
                        return
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == 4:
                            raise
                await asyncio.sleep(0.5 * (attempt + 1))

        await asyncio.gather(*(one(n) for n in numbers))


def test_every_event_arrives_exactly_once_across_a_nats_outage(stack: Stack) -> None:
    with httpx.Client(base_url=stack.config.gateway_url, timeout=10) as http:
        tenant = sign_up(http, "Outage Co")
        headers = tenant.headers
        ok(
            http.post(
                "/v1/rules",
                headers=headers,
                json={
                    "displayName": "orders",
                    "trigger": "TRIGGER_MESSAGE_RECEIVED",
                    "enabled": True,
                    "condition": {
                        "leaf": {
                            "field": "text",
                            "operator": "OPERATOR_CONTAINS",
                            "values": ["order"],
                        }
                    },
                    "actions": [{"addTag": {"tags": ["asked-about-order"]}}],
                },
            )
        )
        address = stack.config.address("messaging")
        asyncio.run(_ingest(address, tenant, range(0, 300)))
        stack.stop_process("nats")
        asyncio.run(_ingest(address, tenant, range(300, 700)))  # commits keep working: outbox
        stack.start_nats()
        asyncio.run(_ingest(address, tenant, range(700, TOTAL)))

        def dashboard() -> dict[str, str] | None:
            """The dashboard, or None while the gateway answers that reporting is
            busy (a 502/503/504 while it folds the backlog is not a lost event)."""
            response = http.get("/v1/dashboard", headers=headers)
            return None if response.status_code in (502, 503, 504) else ok(response)

        def settled() -> dict[str, str]:
            return eventually(dashboard, timeout=30, what="the dashboard answers")

        def counted() -> dict[str, str] | None:
            board = dashboard()
            if board is None:
                return None
            done = board.get("messagesReceived") == str(TOTAL) and board.get("rulesFired") == str(
                TOTAL
            )
            return board if done else None

        eventually(counted, timeout=180, what=f"{TOTAL} messages received and {TOTAL} rules fired")
        # Nothing more trickles in: redeliveries and re-publishes were absorbed.
        asyncio.run(asyncio.sleep(3))
        board = settled()
        assert board["messagesReceived"] == str(TOTAL)
        assert board["rulesFired"] == str(TOTAL)

        # 50 buyers, each tagged once however many of their messages matched (the
        # tags come one hop later: rule.action.tag -> customers -> customer.tagged)
        def tagged() -> str | None:
            value = (dashboard() or {}).get("customersTagged")
            return value if value == "50" else None

        eventually(tagged, timeout=60, what="50 customers tagged")
        asyncio.run(asyncio.sleep(3))
        assert settled()["customersTagged"] == "50"
