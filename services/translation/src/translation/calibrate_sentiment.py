"""Sentiment on the labelled customer-service messages the package ships.

``python -m translation.calibrate_sentiment`` scores every message through the
service's own analysis (VADER, SnowNLP, Apertium to English, cue words), chooses
each method's cue weight and thresholds on the calibration half (even lines per
language) and prints accuracy per language on both halves, with the values in
``domain.sentiment.CALIBRATED`` and before calibration side by side. The chosen
values are printed, not written: copy them into ``CALIBRATED``.
"""

from __future__ import annotations

import asyncio
import csv
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from crosstalk_common.db.engine import create_engine, session_factory
from crosstalk_common.db.migrations import upgrade_to_head
from translation.adapters.detector import LinguaDetector
from translation.adapters.engines.apertium import ApertiumEngine
from translation.adapters.sentiment import SnowNlpModel, VaderModel
from translation.adapters.tables import outbox
from translation.adapters.unit_of_work import TranslationUnitOfWork
from translation.app.engines import EngineRegistry
from translation.app.use_cases import TranslationService
from translation.bootstrap import MIGRATIONS
from translation.domain.calibration import Scored, accuracy, choose
from translation.domain.sentiment import (
    CALIBRATED,
    UNCALIBRATED,
    Calibration,
    Sentiment,
    SentimentLabel,
    judge,
)

LABELLED_MESSAGES = Path(__file__).parent / "data" / "customer_service_sentiment.tsv"
# Written after the cue words and thresholds were chosen, and never used to choose them.
UNSEEN_MESSAGES = Path(__file__).parent / "data" / "customer_service_sentiment_unseen.tsv"
HALVES: tuple[tuple[str, bool | None], ...] = (
    ("calibration", False),
    ("held-out", True),
    ("all", None),
)
LANGUAGES = ("en", "es", "zh", "de")


@dataclass(frozen=True)
class Labelled:
    language: str
    expected: SentimentLabel
    text: str
    held_out: bool  # the odd lines of each language; calibration uses the even ones


def load_labelled(path: Path = LABELLED_MESSAGES) -> list[Labelled]:
    rows: list[Labelled] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            index = seen.get(row["language"], 0)
            seen[row["language"]] = index + 1
            rows.append(
                Labelled(row["language"], SentimentLabel[row["label"]], row["text"], index % 2 == 1)
            )
    return rows


@asynccontextmanager
async def analysing_service() -> AsyncIterator[TranslationService]:
    """The service as it runs: a fresh SQLite database, Apertium when installed, both models."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'translation.db'}"
        upgrade_to_head(MIGRATIONS, url)
        db = create_engine(url)
        sessions = session_factory(db)
        apertium = ApertiumEngine(languages=LANGUAGES)
        await apertium.start()
        try:
            yield TranslationService(
                lambda: TranslationUnitOfWork(sessions, outbox),
                EngineRegistry([apertium], order=["apertium"]),
                LinguaDetector(LANGUAGES),
                [VaderModel(), SnowNlpModel()],
            )
        finally:
            await apertium.close()
            await db.dispose()


async def analyse(service: TranslationService, rows: Sequence[Labelled]) -> list[Sentiment]:
    tenant = f"calibration-{uuid.uuid4().hex[:8]}"
    return [(await service.analyze(tenant, r.text, r.language)).sentiment for r in rows]


def relabel(sentiment: Sentiment, calibrations: dict[str, Calibration]) -> SentimentLabel:
    return judge(sentiment.method, sentiment.model_score, sentiment.cues, calibrations).label


def accuracy_of(
    rows: Sequence[Labelled],
    sentiments: Sequence[Sentiment],
    calibrations: dict[str, Calibration],
    *,
    language: str = "",
    held_out: bool | None = None,
) -> tuple[float, int]:
    """Accuracy and count of the rows of ``language`` (all when "") in the chosen half."""
    pairs = [
        (r.expected, relabel(s, calibrations))
        for r, s in zip(rows, sentiments, strict=True)
        if (not language or r.language == language) and (held_out is None or r.held_out is held_out)
    ]
    return accuracy(pairs), len(pairs)


def calibrate(rows: Sequence[Labelled], sentiments: Sequence[Sentiment]) -> dict[str, Calibration]:
    """Each method's calibration, chosen on the calibration half only."""
    by_method: dict[str, list[Scored]] = {}
    for r, s in zip(rows, sentiments, strict=True):
        if not r.held_out and s.method:
            by_method.setdefault(s.method, []).append(Scored(s.model_score, s.cues, r.expected))
    return {method: choose(scored) for method, scored in sorted(by_method.items())}


def accuracy_table(
    rows: Sequence[Labelled],
    sentiments: Sequence[Sentiment],
    columns: Sequence[tuple[str, dict[str, Calibration]]],
    halves: Sequence[tuple[str, bool | None]] = HALVES,
) -> list[str]:
    """Lines of accuracy per language and overall in each half (calibration, held-out, all)."""
    head = f"{'language':<9} {'half':<12}" + "".join(f"{name:>16}" for name, _ in columns)
    lines = [head]
    methods = {r.language: s.method or "none" for r, s in zip(rows, sentiments, strict=True)}
    for language in (*LANGUAGES, ""):
        for half, held_out in halves:
            cells = []
            for _, calibrations in columns:
                value, n = accuracy_of(
                    rows, sentiments, calibrations, language=language, held_out=held_out
                )
                cells.append(f"{value:>10.1%} n={n:<3}")
            label = language or "overall"
            lines.append(f"{label:<9} {half:<12}" + "".join(cells))
        if language:
            lines[-1] += f"  ({methods.get(language, 'none')})"
    return lines


async def main() -> None:
    rows = load_labelled()
    unseen = load_labelled(UNSEEN_MESSAGES)
    async with analysing_service() as service:
        sentiments = await analyse(service, rows)
        unseen_sentiments = await analyse(service, unseen)
    chosen = calibrate(rows, sentiments)
    print("chosen on the calibration half (copy into domain.sentiment.CALIBRATED):")
    for method, calibration in chosen.items():
        t = calibration.thresholds
        print(
            f"  {method!r}: Calibration({calibration.cue_weight}, "
            f"Thresholds({t.negative_to}, {t.positive_from})),"
        )
    columns = [("before", UNCALIBRATED), ("in code", CALIBRATED), ("just chosen", chosen)]
    for line in accuracy_table(rows, sentiments, columns):
        print(line)
    print(f"unseen messages ({UNSEEN_MESSAGES.name}):")
    for line in accuracy_table(unseen, unseen_sentiments, columns, [("unseen", None)]):
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
