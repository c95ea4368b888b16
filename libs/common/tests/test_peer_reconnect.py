"""A peer that was down a while is called again soon after it is back.

gRPC's default reconnect backoff grows to minutes, and a call made while the
channel waits to retry fails at once. In CI, a customers service killed and
restarted under load stayed unreachable from messaging for the rest of the
run (every ingest 503) although it was up: this test keeps a peer down for
ten seconds, long enough for the defaults' next attempt to come some six
seconds after the peer is back, then starts it and counts how long the
channel takes to reach it.
"""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from crosstalk_common.grpc.channels import open_channel
from crosstalk_devstack.ports import free_port

DOWN_SECONDS = 10.0
# The channel's backoff is at most a second (plus gRPC's 20 % jitter); the rest is
# slack for a busy machine. gRPC's defaults would next try 4-7 s after the start.
BACK_WITHIN_SECONDS = 3.0


async def _check(stub: health_pb2_grpc.HealthStub) -> grpc.StatusCode:
    try:
        await stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
    except grpc.aio.AioRpcError as failed:
        return failed.code()
    return grpc.StatusCode.OK


_DOWN = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


async def test_a_peer_back_after_a_long_outage_is_reached_within_seconds() -> None:
    port = free_port()
    loop = asyncio.get_running_loop()
    channel = open_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)
    server = grpc.aio.server()
    try:
        down_until = loop.time() + DOWN_SECONDS
        failures = 0
        while loop.time() < down_until:  # callers keep trying while the peer is down
            assert await _check(stub) in _DOWN
            failures += 1
            await asyncio.sleep(0.2)
        assert failures > 10

        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        assert server.add_insecure_port(f"127.0.0.1:{port}") == port
        await server.start()
        back = loop.time()
        while (code := await _check(stub)) is not grpc.StatusCode.OK:
            assert code in _DOWN
            assert loop.time() - back < BACK_WITHIN_SECONDS, "the peer is up but not reached"
            await asyncio.sleep(0.05)
    finally:
        await channel.close()
        await server.stop(None)
