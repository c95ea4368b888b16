"""Composition root: settings, runtime, use cases, servicer, consumers."""

from __future__ import annotations

import os
from pathlib import Path

from crosstalk.customers.v1 import customers_service_pb2, customers_service_pb2_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.bus.use_case_handler import (
    batch_in_unit_of_work,
    in_unit_of_work,
    scoped_batch_in_unit_of_work,
)
from crosstalk_common.config import parse_bool
from crosstalk_common.db.engine import write_slice_seconds, writers_at_once
from crosstalk_common.grpc.auth import full_method_names
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings, identity_verifier
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from customers.adapters.change_log_pruning import ChangeLogPruner
from customers.adapters.consumers import (
    MESSAGES,
    RULE_ACTIONS,
    TENANT_SETTINGS,
    on_messages,
    on_rule_actions,
    on_tenant_settings,
)
from customers.adapters.filter_index.index import FilterIndex
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.import_store import import_store_of
from customers.adapters.one_customer_reads import OneCustomerReads
from customers.adapters.permissions import METHOD_PERMISSIONS
from customers.adapters.rpc_segments import segment_filter_reader
from customers.adapters.score_rule_consumer import (
    on_scorable_event_batches,
    score_rule_subscriptions,
)
from customers.adapters.spreadsheets import SpreadsheetReader, SpreadsheetWriter
from customers.adapters.tables import metadata
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.blacklist import Blacklist
from customers.app.bulk_operations import BulkOperationHandler
from customers.app.custom_fields import CustomFieldService
from customers.app.exports import ExportHandler, ExportService
from customers.app.identity_resolution import IdentityResolution
from customers.app.import_job import ImportHandler
from customers.app.imports import ImportService
from customers.app.jobs import JobRunner, JobService
from customers.app.lifecycle import LifecycleStages
from customers.app.merging import MergeService
from customers.app.orders import Orders
from customers.app.points import Points
from customers.app.points_expiry import PointsExpiry
from customers.app.ports import UnitOfWork
from customers.app.profiles import CustomerProfiles, OneCustomerRead
from customers.app.score_changes import ScoreAdjustments
from customers.app.score_rules import EnabledScoreRules
from customers.app.scoring import ScoringService
from customers.app.search import CustomerSearch
from customers.app.segments import SegmentService
from customers.app.tags import TagService
from customers.app.tiers import TierSweep
from customers.app.timeline import Timeline
from customers.domain.jobs import JobKind

SERVICE = "customers"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = customers_service_pb2.DESCRIPTOR.services_by_name["CustomersService"].full_name


def compose_servicer(
    new_uow: UnitOfWorkFactory[UnitOfWork],
    page_tokens: PageTokenCodec,
    *,
    read_one: OneCustomerRead | None = None,
) -> CustomersServicer:
    """The servicer with every use case it maps to (also used by tests)."""
    search = CustomerSearch(new_uow)
    return CustomersServicer(
        page_tokens,
        profiles=CustomerProfiles(new_uow, read_one),
        search=search,
        identities=IdentityResolution(new_uow),
        lifecycle=LifecycleStages(new_uow),
        blacklist=Blacklist(new_uow),
        scores=ScoreAdjustments(new_uow),
        points=Points(new_uow),
        orders=Orders(new_uow),
        timeline=Timeline(new_uow),
        tags=TagService(new_uow),
        fields=CustomFieldService(new_uow),
        jobs=JobService(new_uow),
        scoring=ScoringService(new_uow),
        segments=SegmentService(new_uow, segment_filter_reader(search)),
        merging=MergeService(new_uow),
        imports=ImportService(new_uow, JobService(new_uow), SpreadsheetReader()),
        exports=ExportService(new_uow, JobService(new_uow)),
    )


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    verifier, close_jwks = identity_verifier(settings)

    # CUSTOMERS_FILTER_INDEX=false answers every filter with SQL (no memory held).
    use_index = parse_bool(os.environ.get("CUSTOMERS_FILTER_INDEX", "true"))
    filter_index = FilterIndex(runtime.engine) if use_index else None

    def new_uow() -> CustomersUnitOfWork:
        return CustomersUnitOfWork(
            runtime.sessions,
            runtime.outbox,
            after_commit=runtime.relay.nudge,
            filter_index=filter_index,
        )

    runtime.consume(
        TENANT_SETTINGS, in_unit_of_work(CustomersUnitOfWork, runtime.outbox, on_tenant_settings)
    )
    on_scorable_batch = on_scorable_event_batches(EnabledScoreRules())
    for subscription in score_rule_subscriptions():
        # No savepoint per unit of work: scoring catches no failure (a failed
        # batch is rolled back whole and retried event by event by the consumer),
        # and an award taken meanwhile has a savepoint of its own (add_award).
        runtime.consume(
            subscription,
            scoped_batch_handler=scoped_batch_in_unit_of_work(
                CustomersUnitOfWork, runtime.outbox, on_scorable_batch, savepoint=False
            ),
        )
    runtime.consume(
        RULE_ACTIONS,
        scoped_batch_handler=scoped_batch_in_unit_of_work(
            CustomersUnitOfWork, runtime.outbox, on_rule_actions
        ),
    )
    runtime.consume(
        MESSAGES,
        batch_handler=batch_in_unit_of_work(CustomersUnitOfWork, runtime.outbox, on_messages),
    )
    jobs = JobRunner(
        new_uow,
        {
            JobKind.BULK_OPERATION: BulkOperationHandler(
                new_uow,
                batches_at_once=writers_at_once(runtime.engine),
                write_seconds=write_slice_seconds(runtime.engine),
            ),
            JobKind.IMPORT: ImportHandler(new_uow, SpreadsheetReader(), import_store_of),
            JobKind.EXPORT: ExportHandler(new_uow, SpreadsheetWriter()),
        },
    )
    servicer = compose_servicer(
        new_uow,
        PageTokenCodec(settings.page_token_secret),
        read_one=OneCustomerReads(runtime.engine),
    )
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(customers_service_pb2_grpc.add_CustomersServiceServicer_to_server, servicer)],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=verifier,
        workers=[
            *runtime.workers,
            jobs.run,
            PointsExpiry(new_uow).run,
            TierSweep(new_uow).run,
            ChangeLogPruner(runtime.engine).run,
        ],
        cleanups=[*runtime.cleanups, close_jwks],
    )
