"""Composition root of the reporting service."""

from __future__ import annotations

from pathlib import Path

from crosstalk.reporting.v1 import reporting_service_pb2, reporting_service_pb2_grpc
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings
from reporting.adapters.consumers import fold_event, subscriptions
from reporting.adapters.grpc_servicer import ReportingServicer
from reporting.adapters.read_models import SqlReadModels
from reporting.adapters.tables import metadata
from reporting.app.use_cases import ReportingService

SERVICE = "reporting"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    for subscription in subscriptions():
        runtime.consume(subscription, fold_event)
    servicer = ReportingServicer(ReportingService(SqlReadModels(runtime.sessions)))
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(reporting_service_pb2_grpc.add_ReportingServiceServicer_to_server, servicer)],
        service_names=[
            reporting_service_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name
        ],
        workers=runtime.workers,
        cleanups=runtime.cleanups,
    )
