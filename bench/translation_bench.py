"""Translation service figures: detection, warm Apertium vs spawn per message, memory, batch,
sentiment accuracy per language on the shipped labelled messages.

`python -m bench.translation_bench` — prints figures, asserts nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from bench.stats import summary_ms
from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from translation.adapters.detector import LinguaDetector
from translation.adapters.engines.apertium import ApertiumEngine
from translation.adapters.tables import outbox
from translation.adapters.unit_of_work import TranslationUnitOfWork
from translation.app.engines import EngineRegistry
from translation.app.use_cases import TranslateRequest, TranslationService
from translation.bootstrap import MIGRATIONS
from translation.calibrate_sentiment import (
    UNSEEN_MESSAGES,
    accuracy_table,
    analyse,
    analysing_service,
    load_labelled,
)
from translation.domain.detection import decide, text_for_detection
from translation.domain.model import Formality
from translation.domain.sentiment import CALIBRATED, UNCALIBRATED

SIX = ("en", "zh", "de", "es", "vi", "fr")
SHORT = [
    "Where is my package?",
    "我的快递到哪了?",
    "Wo ist mein Paket?",
    "¿Dónde está mi pedido?",
    "Đơn hàng của tôi đâu rồi?",
    "Où est mon colis ?",
    "I want a refund, it arrived broken",
    "请问什么时候发货",
    "Ich möchte mein Geld zurück",
    "Quiero un reembolso",
]
MESSAGE_30_WORDS = (
    "Hello, thank you for your message. Your order was shipped yesterday and the courier "
    "says it will arrive on Friday. If it does not arrive, please write to us again."
)


def bench_detection() -> None:
    started = time.perf_counter()
    detector = LinguaDetector((*SIX, "pt", "it"))
    print(f"lingua models loaded at start in {time.perf_counter() - started:.2f} s")
    for text in SHORT:  # warm the per-language-set detector
        detector.scores_now(text, SIX)
    samples = []
    for _ in range(200):
        for text in SHORT:
            t0 = time.perf_counter()
            decide(text, detector.scores_now(text_for_detection(text), SIX))
            samples.append(time.perf_counter() - t0)
    print(summary_ms("detect short text, 6 languages", samples, target="p99 <= 1 ms"))


async def bench_apertium() -> ApertiumEngine | None:
    if shutil.which("lt-proc") is None:
        print("apertium not installed: skipped (run tools/install_apertium.sh)")
        return None
    words = len(MESSAGE_30_WORDS.split())
    engine = ApertiumEngine(only=("eng-spa",))
    started = time.perf_counter()
    await engine.start()
    print(f"apertium eng-spa pipeline started and warmed in {time.perf_counter() - started:.2f} s")
    warm = []
    for _ in range(200):
        t0 = time.perf_counter()
        await engine.translate([MESSAGE_30_WORDS], "en", "es", Formality.UNSPECIFIED)
        warm.append(time.perf_counter() - t0)
    print(summary_ms(f"apertium warm, {words}-word message", warm, target="p50 <= 30 ms"))
    naive = []
    for _ in range(15):
        t0 = time.perf_counter()
        await asyncio.to_thread(
            subprocess.run,
            ["apertium", "eng-spa"],
            input=MESSAGE_30_WORDS,
            capture_output=True,
            text=True,
            check=True,
        )
        naive.append(time.perf_counter() - t0)
    print(summary_ms("apertium spawned per message (baseline)", naive))
    return engine


async def bench_service(engine: ApertiumEngine | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'translation.db'}"
        upgrade_to_head(MIGRATIONS, url)
        db = create_engine(url)
        sessions = session_factory(db)

        def new_uow() -> TranslationUnitOfWork:
            return TranslationUnitOfWork(sessions, outbox)

        detector = LinguaDetector(SIX)
        engines = [engine] if engine else []
        service = TranslationService(new_uow, EngineRegistry(engines, order=["apertium"]), detector)
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        if engine is None:
            print("memory and batch figures need apertium: skipped")
            await db.dispose()
            return
        request = TranslateRequest((MESSAGE_30_WORDS,), source_language="en", target_language="es")
        await service.translate(tenant, request)  # fills the memory
        hits = []
        for _ in range(300):
            t0 = time.perf_counter()
            result = await service.translate(tenant, request)
            hits.append(time.perf_counter() - t0)
            assert result[0].memory_hit
        print(summary_ms("TranslateText memory hit (use case, SQLite)", hits, target="p50 <= 1 ms"))
        found = await service_memory_lookup(new_uow, tenant)
        print(summary_ms("memory lookup alone (one indexed SELECT)", found, target="p50 <= 1 ms"))
        texts = tuple(f"{MESSAGE_30_WORDS} Ticket {i}." for i in range(100))
        batch = TranslateRequest(
            texts, source_language="en", target_language="es", batch=True, ignore_memory=True
        )
        t0 = time.perf_counter()
        rounds = 3
        for _ in range(rounds):
            await service.translate(tenant, batch)
        elapsed = time.perf_counter() - t0
        print(
            f"{'BatchTranslateText, 100 x 30 words, apertium':<44} "
            f"{rounds * len(texts) / elapsed:8.1f} messages/s (events written, memory off)"
        )
        await db.dispose()


async def service_memory_lookup(new_uow, tenant: str) -> list[float]:  # type: ignore[no-untyped-def]
    from translation.domain.protection import protect

    key = hashlib.sha256(protect(MESSAGE_30_WORDS).text.encode()).hexdigest()
    samples = []
    async with new_uow() as uow:
        for _ in range(300):
            t0 = time.perf_counter()
            rows = await uow.memory.find(tenant, "en", "es", key, [])
            samples.append(time.perf_counter() - t0)
            assert rows
    return samples


async def bench_sentiment_accuracy() -> None:
    """Labels against the shipped labelled messages, before and after calibration."""
    if shutil.which("lt-proc") is None:
        print("sentiment accuracy needs apertium (es->en): skipped")
        return
    rows = load_labelled()
    unseen = load_labelled(UNSEEN_MESSAGES)
    async with analysing_service() as service:
        sentiments = await analyse(service, rows)
        unseen_sentiments = await analyse(service, unseen)
    columns = [("old thresholds", UNCALIBRATED), ("calibrated", CALIBRATED)]
    print(f"sentiment accuracy, {len(rows)} labelled customer-service messages:")
    for line in accuracy_table(rows, sentiments, columns):
        print(f"  {line}")
    print(f"sentiment accuracy, {len(unseen)} messages written after calibration:")
    for line in accuracy_table(unseen, unseen_sentiments, columns, [("unseen", None)]):
        print(f"  {line}")


async def main() -> None:
    bench_detection()
    engine = await bench_apertium()
    try:
        await bench_service(engine)
    finally:
        if engine is not None:
            await engine.close()
    await bench_sentiment_accuracy()


if __name__ == "__main__":
    asyncio.run(main())
