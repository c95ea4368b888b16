"""Language detection with Lingua, models loaded once at start."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from translation.domain.languages import primary

# Texts longer than this are scored in a worker thread (they take over ~1 ms).
INLINE_CHARACTERS = 300


def lingua_language(code: str) -> Language | None:
    try:
        return Language.from_iso_code_639_1(IsoCode639_1.from_str(primary(code)))
    except (ValueError, AttributeError):
        return None


class LinguaDetector:
    """Scores a text among a tenant's languages.

    ``preload`` languages are loaded at start, so no request pays for it. Lingua
    shares loaded models between detectors, so the small detector built for each
    distinct language set (cached) costs well under a millisecond.
    """

    def __init__(self, preload: Sequence[str]) -> None:
        languages = [lang for lang in (lingua_language(c) for c in preload) if lang is not None]
        if len(languages) < 2:
            raise ValueError("language detection needs at least two known languages")
        self._preloaded: LanguageDetector = (
            LanguageDetectorBuilder.from_languages(*languages)
            .with_preloaded_language_models()
            .build()
        )
        self._supported = frozenset(primary(c) for c in preload)

    @property
    def supported(self) -> frozenset[str]:
        return self._supported

    @lru_cache(maxsize=256)  # noqa: B019 - one detector per language set, for the process
    def _detector(self, languages: tuple[str, ...]) -> Any:
        chosen = [lang for lang in (lingua_language(c) for c in languages) if lang is not None]
        if len(chosen) < 2:
            return None
        return LanguageDetectorBuilder.from_languages(*chosen).build()

    def scores_now(self, text: str, languages: Sequence[str]) -> list[tuple[str, float]]:
        detector = self._detector(tuple(sorted(set(languages))))
        if detector is None:
            return []
        values = detector.compute_language_confidence_values(text)
        return [
            (v.language.iso_code_639_1.name.lower(), float(v.value)) for v in values if v.value > 0
        ]

    async def scores(self, text: str, languages: Sequence[str]) -> list[tuple[str, float]]:
        if len(text) <= INLINE_CHARACTERS:
            return self.scores_now(text, languages)
        return await asyncio.to_thread(self.scores_now, text, languages)
