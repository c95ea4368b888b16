"""Composition root of the translation service."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crosstalk.translation.v1 import translation_service_pb2, translation_service_pb2_grpc
from crosstalk_common.api.pagination import PageTokenCodec
from crosstalk_common.auth.verifier import TokenVerifier
from crosstalk_common.grpc.auth import full_method_names
from crosstalk_common.grpc.server import ServiceDefinition
from crosstalk_common.runtime import ServiceRuntime, ServiceSettings, identity_verifier
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from translation.adapters.detector import LinguaDetector
from translation.adapters.engines.apertium import ApertiumEngine
from translation.adapters.engines.argos import ArgosEngine
from translation.adapters.engines.http import DeepLEngine, LibreTranslateEngine, OpenAIChatEngine
from translation.adapters.grpc_servicer import TranslationServicer
from translation.adapters.permissions import METHOD_PERMISSIONS
from translation.adapters.sentiment import SnowNlpModel, VaderModel
from translation.adapters.settings import TranslationSettings
from translation.adapters.tables import metadata
from translation.adapters.unit_of_work import TranslationUnitOfWork
from translation.app.engines import EngineRegistry
from translation.app.ports import SentimentModel, TranslationEngine, UnitOfWork
from translation.app.resources import GlossaryService, IntentService, PresetService
from translation.app.use_cases import TranslationService

SERVICE = "translation"
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
SERVICE_NAME = translation_service_pb2.DESCRIPTOR.services_by_name["TranslationService"].full_name

log = logging.getLogger(__name__)


@dataclass
class Assembly:
    servicer: TranslationServicer
    translation: TranslationService
    registry: EngineRegistry
    engines: list[Any] = field(default_factory=list)

    async def close(self) -> None:
        for engine in self.engines:
            try:
                await engine.close()
            except Exception:
                log.exception("closing engine %s failed", engine.name)


def build_engines(settings: TranslationSettings) -> list[Any]:
    languages = settings.languages
    http_timeout = settings.http_timeout.total_seconds()
    engines: list[Any] = []
    if settings.apertium_enabled:
        engines.append(
            ApertiumEngine(
                modes_dir=settings.apertium_modes_dir,
                only=settings.apertium_modes,
                pool_size=settings.apertium_pool_size,
                timeout=settings.apertium_timeout.total_seconds(),
                languages=languages,
            )
        )
    engines.append(
        ArgosEngine(
            models_dir=settings.argos_models_dir,
            cache_dir=settings.argos_cache_dir,
            beam_size=settings.argos_beam_size,
            threads=settings.argos_threads,
            languages=languages,
        )
    )
    engines.append(
        LibreTranslateEngine(
            base_url=settings.libretranslate_url,
            api_key=settings.libretranslate_api_key,
            timeout=http_timeout,
            languages=languages,
        )
    )
    engines.append(
        DeepLEngine(
            base_url=settings.deepl_url,
            api_key=settings.deepl_api_key,
            timeout=http_timeout,
            languages=languages,
        )
    )
    engines.append(
        OpenAIChatEngine(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
            model=settings.openai_model,
            timeout=http_timeout,
            languages=languages,
        )
    )
    order = list(settings.engine_order)
    return [e for e in engines if e.name in order]


async def assemble(
    settings: TranslationSettings,
    new_uow: UnitOfWorkFactory[UnitOfWork],
    page_tokens: PageTokenCodec,
    *,
    engines: list[Any] | None = None,
    detector: LinguaDetector | None = None,
    sentiment: list[SentimentModel] | None = None,
) -> Assembly:
    """Everything but the process runtime: models loaded, engines started and warm."""
    if detector is None:
        detector = await asyncio.to_thread(LinguaDetector, settings.languages)
    if sentiment is None:
        sentiment = (
            list(
                await asyncio.gather(asyncio.to_thread(VaderModel), asyncio.to_thread(SnowNlpModel))
            )
            if settings.sentiment_enabled
            else []
        )
    if engines is None:
        engines = build_engines(settings)
    started: list[Any] = []
    try:
        for engine in engines:
            start = getattr(engine, "start", None)
            if start is not None:
                await start()
            started.append(engine)
    except BaseException:
        for engine in started:
            await engine.close()
        raise
    typed: list[TranslationEngine] = list(engines)
    registry = EngineRegistry(typed, order=settings.engine_order, pivot=settings.pivot_language)
    for info in registry.infos():
        log.info(
            "engine %s: %s",
            info.name,
            f"available, {len(info.pairs)} pairs" if info.available else info.unavailable_reason,
        )
    translation = TranslationService(
        new_uow,
        registry,
        detector,
        sentiment,
        max_text_characters=settings.max_text_characters,
        default_languages=settings.default_languages,
    )
    servicer = TranslationServicer(
        translation,
        GlossaryService(new_uow),
        PresetService(new_uow, on_change=translation.forget_tenant_languages),
        IntentService(new_uow),
        page_tokens,
    )
    return Assembly(servicer, translation, registry, list(engines))


def definition(
    assembly: Assembly, host: str, port: int, verifier: TokenVerifier, **kwargs: Any
) -> ServiceDefinition:
    return ServiceDefinition(
        name=SERVICE,
        host=host,
        port=port,
        servicers=[
            (
                translation_service_pb2_grpc.add_TranslationServiceServicer_to_server,
                assembly.servicer,
            )
        ],
        service_names=[SERVICE_NAME],
        permissions=full_method_names(SERVICE_NAME, METHOD_PERMISSIONS),
        verifier=verifier,
        **kwargs,
    )


async def build(settings: ServiceSettings) -> ServiceDefinition:
    own = TranslationSettings.from_env()
    runtime = await ServiceRuntime.start(settings, metadata, MIGRATIONS)
    verifier, close_jwks = identity_verifier(settings)

    def new_uow() -> TranslationUnitOfWork:
        return TranslationUnitOfWork(
            runtime.sessions, runtime.outbox, after_commit=runtime.relay.nudge
        )

    assembly = await assemble(own, new_uow, PageTokenCodec(settings.page_token_secret))
    return definition(
        assembly,
        settings.host,
        settings.port,
        verifier,
        workers=runtime.workers,
        cleanups=[assembly.close, *runtime.cleanups, close_jwks],
    )
