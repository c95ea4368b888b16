"""Composition root of the identity service."""

from __future__ import annotations

from pathlib import Path

from crosstalk.identity.v1 import identity_service_pb2, identity_service_pb2_grpc
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings
from identity.adapters.grpc_servicer import IdentityServicer
from identity.adapters.passwords import Argon2Hasher
from identity.adapters.tables import metadata
from identity.adapters.unit_of_work import IdentityUnitOfWork
from identity.app.use_cases import IdentityService

SERVICE = "identity"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)

    def new_uow() -> IdentityUnitOfWork:
        return IdentityUnitOfWork(
            runtime.sessions, runtime.outbox, after_commit=runtime.relay.nudge
        )

    servicer = IdentityServicer(IdentityService(new_uow, Argon2Hasher()))
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(identity_service_pb2_grpc.add_IdentityServiceServicer_to_server, servicer)],
        service_names=[
            identity_service_pb2.DESCRIPTOR.services_by_name["IdentityService"].full_name
        ],
        workers=runtime.workers,
        cleanups=runtime.cleanups,
    )
