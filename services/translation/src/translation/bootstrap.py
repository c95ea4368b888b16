"""Composition root of the translation service."""

from __future__ import annotations

from pathlib import Path

from crosstalk.translation.v1 import translation_service_pb2, translation_service_pb2_grpc
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings
from translation.adapters.grpc_servicer import TranslationServicer
from translation.adapters.tables import metadata

SERVICE = "translation"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def build(settings: ServiceSettings) -> ServiceDefinition:
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    return ServiceDefinition(
        name=SERVICE,
        host=settings.host,
        port=settings.port,
        servicers=[
            (
                translation_service_pb2_grpc.add_TranslationServiceServicer_to_server,
                TranslationServicer(),
            )
        ],
        service_names=[
            translation_service_pb2.DESCRIPTOR.services_by_name["TranslationService"].full_name
        ],
        workers=runtime.workers,
        cleanups=runtime.cleanups,
    )
