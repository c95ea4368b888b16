"""Composition root of the rules service."""

from __future__ import annotations

from pathlib import Path

from crosstalk.rules.v1 import rules_service_pb2, rules_service_pb2_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.bus.use_case_handler import in_unit_of_work
from crosstalk_common.grpc.auth import full_method_names
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings, identity_verifier
from rules.adapters.consumers import MESSAGES, on_message
from rules.adapters.grpc_servicer import RulesServicer
from rules.adapters.permissions import METHOD_PERMISSIONS
from rules.adapters.tables import metadata
from rules.adapters.unit_of_work import RulesUnitOfWork
from rules.app.enabled_rules import EnabledRules
from rules.app.use_cases import RuleService

SERVICE = "rules"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = rules_service_pb2.DESCRIPTOR.services_by_name["RulesService"].full_name


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    verifier, close_jwks = identity_verifier(settings)

    def new_uow() -> RulesUnitOfWork:
        return RulesUnitOfWork(runtime.sessions, runtime.outbox, after_commit=runtime.relay.nudge)

    runtime.consume(
        MESSAGES, in_unit_of_work(RulesUnitOfWork, runtime.outbox, on_message(EnabledRules()))
    )
    servicer = RulesServicer(RuleService(new_uow), PageTokenCodec(settings.page_token_secret))
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(rules_service_pb2_grpc.add_RulesServiceServicer_to_server, servicer)],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=verifier,
        workers=runtime.workers,
        cleanups=[*runtime.cleanups, close_jwks],
    )
