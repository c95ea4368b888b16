"""Running one service: gRPC server, health, reflection, background workers, drain.

On SIGTERM (or SIGINT): health turns NOT_SERVING so load balancers stop
sending, the server stops accepting RPCs and lets in-flight ones finish
within the grace period, background workers (outbox relay, consumers) finish
their current batch, then resources are closed and spans flushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.grpc.admission import AdmissionInterceptor, AdmissionLimits
from crosstalk_common.grpc.auth import AuthInterceptor
from crosstalk_common.grpc.bounds import RequestBoundsInterceptor
from crosstalk_common.grpc.errors import ErrorMappingInterceptor
from crosstalk_common.grpc.request_validation import RequestValidationInterceptor
from crosstalk_common.telemetry import server_interceptors, shutdown_telemetry

log = logging.getLogger(__name__)

Worker = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
Cleanup = Callable[[], Awaitable[None]]
AddServicer = Callable[[Any, grpc.aio.Server], None]

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_METADATA_BYTES = 32 * 1024


@dataclass
class ServiceDefinition:
    name: str
    host: str
    port: int
    servicers: Sequence[tuple[AddServicer, Any]]
    service_names: Sequence[str]
    # Full method name -> permission (or PUBLIC / AUTHENTICATED), for every RPC.
    permissions: Mapping[str, str]
    verifier: TokenVerifier
    workers: Sequence[Worker] = ()
    cleanups: Sequence[Cleanup] = ()
    grace_seconds: float = 10.0
    on_started: Callable[[int], None] | None = None
    extra_interceptors: Sequence[grpc.aio.ServerInterceptor] = field(default_factory=tuple)
    # How many calls run at once before new ones wait, then get RESOURCE_EXHAUSTED.
    admission: AdmissionLimits = field(default_factory=AdmissionLimits.from_env)


def build_server(definition: ServiceDefinition) -> tuple[grpc.aio.Server, HealthServicer, int]:
    server = grpc.aio.server(
        interceptors=[
            *server_interceptors(),
            ErrorMappingInterceptor(f"{definition.name}.crosstalk.io"),
            AdmissionInterceptor(definition.admission),
            RequestValidationInterceptor(),
            AuthInterceptor(definition.verifier, definition.permissions),
            RequestBoundsInterceptor(),
            *definition.extra_interceptors,
        ],
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Headers: the gateway lets 8 KiB through and forwards the REST path
            # again (x-envoy-original-path); gRPC's 8 KiB default would refuse
            # some of those calls at random as RESOURCE_EXHAUSTED (HTTP 429).
            ("grpc.max_metadata_size", MAX_METADATA_BYTES),
            ("grpc.absolute_max_metadata_size", 2 * MAX_METADATA_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    for add, servicer in definition.servicers:
        add(servicer, server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [
            *definition.service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    port = server.add_insecure_port(f"{definition.host}:{definition.port}")
    return server, health, port


async def serve(definition: ServiceDefinition, stop: asyncio.Event | None = None) -> None:
    """Serve until ``stop`` is set or the process gets SIGTERM/SIGINT, then drain."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    server, health, port = build_server(definition)
    await server.start()
    for name in ["", *definition.service_names]:
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    workers_stop = asyncio.Event()
    tasks = [asyncio.create_task(worker(workers_stop)) for worker in definition.workers]
    log.info("%s serving on %s:%d", definition.name, definition.host, port)
    if definition.on_started is not None:
        definition.on_started(port)
    await stop.wait()

    log.info("%s draining", definition.name)
    await health.enter_graceful_shutdown()
    await server.stop(definition.grace_seconds)
    workers_stop.set()
    done, pending = (
        await asyncio.wait(tasks, timeout=definition.grace_seconds)
        if tasks
        else (
            set(),
            set(),
        )
    )
    for task in pending:
        task.cancel()
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: worker failed", definition.name, exc_info=task.exception())
    for cleanup in definition.cleanups:
        try:
            await cleanup()
        except Exception:
            log.exception("%s: cleanup failed", definition.name)
    shutdown_telemetry()
    log.info("%s stopped", definition.name)
