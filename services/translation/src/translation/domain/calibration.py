"""Choosing a sentiment method's cue weight and thresholds from labelled messages."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from translation.domain.sentiment import (
    Calibration,
    SentimentLabel,
    Thresholds,
    combined_score,
)

CUE_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0)
LABELS = (SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE)


@dataclass(frozen=True)
class Scored:
    """One labelled message as a method saw it."""

    model_score: float
    cues: int
    expected: SentimentLabel


def accuracy(pairs: Sequence[tuple[SentimentLabel, SentimentLabel]]) -> float:
    """Share of (expected, got) pairs that agree; 0 for none."""
    return sum(e is g for e, g in pairs) / len(pairs) if pairs else 0.0


def macro_f1(pairs: Sequence[tuple[SentimentLabel, SentimentLabel]]) -> float:
    """Mean F1 of NEGATIVE, NEUTRAL and POSITIVE."""
    scores = []
    for label in LABELS:
        tp = sum(e is label and g is label for e, g in pairs)
        fp = sum(e is not label and g is label for e, g in pairs)
        fn = sum(e is label and g is not label for e, g in pairs)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def _cut_points(scores: Sequence[float]) -> list[float]:
    """Midpoints between neighbouring distinct scores, and one past each end."""
    ordered = sorted({round(s, 4) for s in scores})
    if not ordered:
        return [0.0]
    middles = [round((a + b) / 2, 4) for a, b in itertools.pairwise(ordered)]
    return [ordered[0] - 0.01, *middles, ordered[-1] + 0.01]


def choose(rows: Sequence[Scored], cue_weights: Sequence[float] = CUE_WEIGHTS) -> Calibration:
    """The cue weight and thresholds with the best macro-F1 on ``rows``.

    Ties go to the better accuracy, then to the smaller cue weight and the
    thresholds nearest zero's neutral band centre (the simplest explanation).
    """
    best: tuple[tuple[float, float, float, float], Calibration] | None = None
    for weight in cue_weights:
        probe = Calibration(weight, Thresholds(0.0, 0.0))
        scores = [combined_score(r.model_score, r.cues, probe) for r in rows]
        cuts = _cut_points(scores)
        for low in cuts:
            for high in cuts:
                if high <= low:
                    continue
                thresholds = Thresholds(low, high)
                pairs = [
                    (r.expected, thresholds.label(s)) for r, s in zip(rows, scores, strict=True)
                ]
                key = (macro_f1(pairs), accuracy(pairs), -weight, -(abs(low) + abs(high)))
                if best is None or key > best[0]:
                    best = (key, Calibration(weight, thresholds))
    assert best is not None
    return best[1]
