"""Composition root of the messaging service."""

from __future__ import annotations

from pathlib import Path

from crosstalk.messaging.v1 import messaging_service_pb2, messaging_service_pb2_grpc
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings
from messaging.adapters.customers_client import GrpcCustomerDirectory
from messaging.adapters.grpc_servicer import MessagingServicer
from messaging.adapters.tables import metadata
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.use_cases import MessagingService

SERVICE = "messaging"
PEERS = ("customers",)
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    customers = GrpcCustomerDirectory(settings.peers["customers"])

    def new_uow() -> MessagingUnitOfWork:
        return MessagingUnitOfWork(
            runtime.sessions, runtime.outbox, after_commit=runtime.relay.nudge
        )

    servicer = MessagingServicer(MessagingService(new_uow, customers))
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(messaging_service_pb2_grpc.add_MessagingServiceServicer_to_server, servicer)],
        service_names=[
            messaging_service_pb2.DESCRIPTOR.services_by_name["MessagingService"].full_name
        ],
        workers=runtime.workers,
        cleanups=[*runtime.cleanups, customers.close],
    )
