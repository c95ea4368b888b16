"""Fixtures of the translation service's tests: a migrated database, models, engines."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from crosstalk.events.v1 import envelope_pb2, translation_events_pb2
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from crosstalk_devstack.databases import service_database_urls
from translation.adapters.detector import LinguaDetector
from translation.adapters.engines.apertium import ApertiumEngine
from translation.adapters.sentiment import SnowNlpModel, VaderModel
from translation.adapters.tables import outbox
from translation.adapters.unit_of_work import TranslationUnitOfWork
from translation.app.engines import EngineRegistry
from translation.app.ports import EngineFailure, EngineInfo, SentimentModel
from translation.app.resources import GlossaryService, IntentService, PresetService
from translation.app.use_cases import TranslationService
from translation.bootstrap import MIGRATIONS
from translation.domain.languages import primary
from translation.domain.model import Formality
from translation.domain.routing import Pair

LANGUAGES = ("en", "zh", "de", "es", "vi", "fr", "pt", "it")
APERTIUM_INSTALLED = (
    shutil.which("lt-proc") is not None and Path("/usr/share/apertium/modes/eng-spa.mode").exists()
)
needs_apertium = pytest.mark.skipif(
    not APERTIUM_INSTALLED,
    reason="Apertium eng-spa is not installed (run tools/install_apertium.sh as root)",
)


class FakeEngine:
    """An engine the test controls: records calls, fails on demand."""

    def __init__(
        self,
        name: str,
        pairs: Sequence[Pair] = (("en", "de"), ("de", "en")),
        *,
        translate: dict[str, str] | None = None,
        fail: bool = False,
    ) -> None:
        self.name = name
        self.pairs = frozenset(pairs)
        self.calls: list[tuple[tuple[str, ...], str, str]] = []
        self.fail = fail
        self.table = translate or {}

    def info(self) -> EngineInfo:
        return EngineInfo(self.name, self.name, True, True, pairs=self.pairs)

    async def translate(
        self, texts: Sequence[str], source: str, target: str, formality: Formality
    ) -> list[str]:
        self.calls.append((tuple(texts), source, target))
        if self.fail:
            raise EngineFailure(f"{self.name} is down")
        return [self.table.get(t, f"[{primary(target)}] {t}") for t in texts]

    async def close(self) -> None:
        return None


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    label = f"tr{uuid.uuid4().hex[:6]}"
    url = service_database_urls(("translation",), tmp_path_factory.mktemp("db"), label)[
        "translation"
    ]
    upgrade_to_head(MIGRATIONS, url)
    return url


@pytest.fixture(scope="session")
async def sessions(database_url: str) -> AsyncIterator[object]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture(scope="session")
def new_uow(sessions: object):  # type: ignore[no-untyped-def]
    def factory() -> TranslationUnitOfWork:
        return TranslationUnitOfWork(sessions, outbox)  # type: ignore[arg-type]

    return factory


@pytest.fixture(scope="session")
def detector() -> LinguaDetector:
    return LinguaDetector(LANGUAGES)


@pytest.fixture(scope="session")
def sentiment_models() -> list[SentimentModel]:
    return [VaderModel(), SnowNlpModel()]


@pytest.fixture(scope="session")
async def apertium() -> AsyncIterator[ApertiumEngine]:
    if not APERTIUM_INSTALLED:
        pytest.skip("Apertium eng-spa is not installed (run tools/install_apertium.sh as root)")
    engine = ApertiumEngine(languages=LANGUAGES, timeout=20)
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture
def tenant() -> str:
    return f"tenant-{uuid.uuid4().hex[:10]}"


def make_service(
    new_uow,  # type: ignore[no-untyped-def]
    engines: Sequence[object],
    detector: LinguaDetector,
    sentiment: Sequence[SentimentModel] = (),
) -> TranslationService:
    registry = EngineRegistry(engines, order=[e.name for e in engines])  # type: ignore[attr-defined,arg-type]
    return TranslationService(new_uow, registry, detector, sentiment)


def services(new_uow, translation: TranslationService):  # type: ignore[no-untyped-def]
    return (
        GlossaryService(new_uow),
        PresetService(new_uow, on_change=translation.forget_tenant_languages),
        IntentService(new_uow),
    )


async def completed_events(
    sessions: object, tenant_id: str
) -> list[translation_events_pb2.TranslationCompleted]:
    """The translation.completed events of a tenant in the outbox, oldest first."""
    async with sessions() as session:  # type: ignore[operator]
        rows = (await session.execute(select(outbox.c.payload).order_by(outbox.c.created_at))).all()
    events = []
    for (payload,) in rows:
        envelope = envelope_pb2.EventEnvelope.FromString(payload)
        if envelope.tenant_id == tenant_id and envelope.type == "translation.completed":
            event = translation_events_pb2.TranslationCompleted()
            envelope.payload.Unpack(event)
            events.append(event)
    return events
