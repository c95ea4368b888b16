"""Composition root of the messaging service."""

from __future__ import annotations

from pathlib import Path

from crosstalk.messaging.v1 import messaging_service_pb2, messaging_service_pb2_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.grpc.auth import full_method_names
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings, identity_verifier
from messaging.adapters.case_settings import case_sla_from_env
from messaging.adapters.customers_client import GrpcCustomerDirectory
from messaging.adapters.grpc_servicer import MessagingServicer
from messaging.adapters.permissions import METHOD_PERMISSIONS
from messaging.adapters.tables import metadata
from messaging.adapters.translation_client import GrpcTranslation, GrpcWorkingLanguages
from messaging.adapters.unit_of_work import MessagingUnitOfWork
from messaging.app.cases import Cases
from messaging.app.understanding import TextUnderstanding
from messaging.app.use_cases import MessagingService

SERVICE = "messaging"
PEERS = ("customers", "translation")
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = messaging_service_pb2.DESCRIPTOR.services_by_name["MessagingService"].full_name


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    verifier, close_jwks = identity_verifier(settings)
    customers = GrpcCustomerDirectory(settings.peers["customers"])
    translation = GrpcTranslation(settings.peers["translation"])
    working_languages = GrpcWorkingLanguages(settings.peers["identity"])
    understanding = TextUnderstanding(translation, working_languages)

    def new_uow() -> MessagingUnitOfWork:
        return MessagingUnitOfWork(
            runtime.sessions, runtime.outbox, after_commit=runtime.relay.nudge
        )

    servicer = MessagingServicer(
        MessagingService(new_uow, customers, understanding),
        cases=Cases(new_uow, case_sla_from_env()),
        page_tokens=PageTokenCodec(settings.page_token_secret),
    )
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[(messaging_service_pb2_grpc.add_MessagingServiceServicer_to_server, servicer)],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=verifier,
        workers=runtime.workers,
        cleanups=[
            *runtime.cleanups,
            customers.close,
            translation.close,
            working_languages.close,
            close_jwks,
        ],
    )
