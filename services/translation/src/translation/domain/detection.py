"""When a detector's guess is good enough to report, and when it is ``und``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from translation.domain.languages import UND
from translation.domain.protection import protect

_HAN_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")

# A guess is kept when it is clearly ahead of the runner-up, or confident outright.
MIN_CONFIDENCE = 0.5
MIN_LEAD_CONFIDENCE = 0.35
MIN_LEAD = 0.2
# Fewer letters than this (one CJK character counts as two) is too little to tell.
MIN_LETTERS = 4


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float

    @property
    def undetermined(self) -> bool:
        return self.language == UND


def letters_weight(text: str) -> int:
    """Letters that carry language, after removing URLs, numbers, variables and e-mails."""
    stripped = text_for_detection(text)
    weight = 0
    for ch in stripped:
        if _HAN_KANA_HANGUL.match(ch):
            weight += 2
        elif ch.isalpha():
            weight += 1
    return weight


def text_for_detection(text: str) -> str:
    """The text with placeholders of protected tokens removed (they are not language)."""
    protected = protect(text)
    return protected.marker.pattern.sub(" ", protected.text) if protected.slots else text


def decide(text: str, scores: Sequence[tuple[str, float]]) -> Detection:
    """The language of ``text`` given a detector's scores (best first), or ``und``."""
    if letters_weight(text) < MIN_LETTERS or not scores:
        return Detection(UND, 0.0)
    best_language, best = scores[0]
    runner_up = scores[1][1] if len(scores) > 1 else 0.0
    if best >= MIN_CONFIDENCE or (best >= MIN_LEAD_CONFIDENCE and best - runner_up >= MIN_LEAD):
        return Detection(best_language, round(best, 4))
    return Detection(UND, round(best, 4))
