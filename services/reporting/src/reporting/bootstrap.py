"""Composition root of the reporting service."""

from __future__ import annotations

from pathlib import Path

from crosstalk.reporting.v1 import reporting_service_pb2, reporting_service_pb2_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.bus.use_case_handler import batch_in_unit_of_work
from crosstalk_common.grpc.auth import full_method_names
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings, identity_verifier
from reporting.adapters.consumers import on_events, subscriptions
from reporting.adapters.grpc_servicer import ReportingServicer
from reporting.adapters.permissions import METHOD_PERMISSIONS
from reporting.adapters.tables import metadata
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.metrics import ReportingService

SERVICE = "reporting"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = reporting_service_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    verifier, close_jwks = identity_verifier(settings)
    for subscription in subscriptions():
        runtime.consume(
            subscription,
            batch_handler=batch_in_unit_of_work(ReportingUnitOfWork, runtime.outbox, on_events),
        )

    def new_uow() -> ReportingUnitOfWork:
        return ReportingUnitOfWork(runtime.sessions, runtime.outbox)

    servicer = ReportingServicer(
        ReportingService(new_uow), PageTokenCodec(settings.page_token_secret)
    )
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(reporting_service_pb2_grpc.add_ReportingServiceServicer_to_server, servicer)],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=verifier,
        workers=runtime.workers,
        cleanups=[*runtime.cleanups, close_jwks],
    )
