"""Composition root: settings, runtime, use cases, servicer, consumers."""

from __future__ import annotations

from pathlib import Path

from crosstalk.customers.v1 import customers_service_pb2, customers_service_pb2_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.grpc.auth import full_method_names
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings, identity_verifier
from customers.adapters.consumers import RULE_ACTIONS, RuleActionHandler
from customers.adapters.grpc_servicer import CustomersServicer
from customers.adapters.permissions import METHOD_PERMISSIONS
from customers.adapters.tables import metadata
from customers.adapters.unit_of_work import CustomersUnitOfWork
from customers.app.custom_fields import CustomFieldService
from customers.app.tags import TagService
from customers.app.use_cases import CustomerService

SERVICE = "customers"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = customers_service_pb2.DESCRIPTOR.services_by_name["CustomersService"].full_name


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    verifier, close_jwks = identity_verifier(settings)

    def new_uow() -> CustomersUnitOfWork:
        return CustomersUnitOfWork(
            runtime.sessions, runtime.outbox, after_commit=runtime.relay.nudge
        )

    service = CustomerService(new_uow)
    runtime.consume(RULE_ACTIONS, RuleActionHandler(runtime.outbox))
    servicer = CustomersServicer(
        service,
        TagService(new_uow),
        PageTokenCodec(settings.page_token_secret),
        CustomFieldService(new_uow),
    )
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(customers_service_pb2_grpc.add_CustomersServiceServicer_to_server, servicer)],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=verifier,
        workers=runtime.workers,
        cleanups=[*runtime.cleanups, close_jwks],
    )
