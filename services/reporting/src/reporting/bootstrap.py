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
from reporting.adapters.cron_calendar import CroniterCalendar
from reporting.adapters.grpc_servicer import ReportingServicer
from reporting.adapters.options import ReportingOptions
from reporting.adapters.permissions import METHOD_PERMISSIONS
from reporting.adapters.report_files import SpreadsheetRenderer
from reporting.adapters.tables import metadata
from reporting.adapters.unit_of_work import ReportingUnitOfWork
from reporting.app.dashboards import Dashboards
from reporting.app.folding import keep_days_for
from reporting.app.metrics import ReportingService
from reporting.app.reports import ReportJobs

SERVICE = "reporting"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = reporting_service_pb2.DESCRIPTOR.services_by_name["ReportingService"].full_name


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    options = ReportingOptions.from_env()

    def new_uow() -> ReportingUnitOfWork:
        return ReportingUnitOfWork(runtime.sessions, runtime.outbox)

    await keep_days_for(new_uow, options.day_zones)
    verifier, close_jwks = identity_verifier(settings)
    for subscription in subscriptions():
        runtime.consume(
            subscription,
            batch_handler=batch_in_unit_of_work(ReportingUnitOfWork, runtime.outbox, on_events),
        )

    metrics = ReportingService(new_uow)
    jobs = ReportJobs(
        new_uow,
        metrics,
        SpreadsheetRenderer(),
        options.mailer(),
        CroniterCalendar(),
    )
    servicer = ReportingServicer(
        metrics, jobs, Dashboards(new_uow, metrics), PageTokenCodec(settings.page_token_secret)
    )
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(reporting_service_pb2_grpc.add_ReportingServiceServicer_to_server, servicer)],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=verifier,
        workers=[*runtime.workers, jobs.run],
        cleanups=[*runtime.cleanups, close_jwks],
    )
