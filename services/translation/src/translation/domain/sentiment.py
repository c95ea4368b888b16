"""Sentiment scores in [-1, 1] and their labels.

A score is the model's own (VADER's compound, SnowNLP's P(positive) mapped to
2p-1) moved by the customer-service cues found (``service_cues``):
``model + cue_weight * cues``. Each method has its cue weight and its two
thresholds, chosen on the labelled messages the package ships
(``data/customer_service_sentiment.tsv``) by ``domain.calibration``; run
``python -m translation.calibration`` to choose them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class SentimentLabel(Enum):
    UNSPECIFIED = 0  # not computed: no model for the language and no English translation
    NEGATIVE = 1
    NEUTRAL = 2
    POSITIVE = 3


VADER = "vader"
SNOWNLP = "snownlp"
VADER_VIA_ENGLISH = "vader via en"
CUES_ONLY = "cues"  # no model and no translation: the cue words alone


@dataclass(frozen=True)
class Thresholds:
    """At most ``negative_to`` is NEGATIVE, at least ``positive_from`` POSITIVE."""

    negative_to: float
    positive_from: float

    def label(self, score: float) -> SentimentLabel:
        if score >= self.positive_from:
            return SentimentLabel.POSITIVE
        if score <= self.negative_to:
            return SentimentLabel.NEGATIVE
        return SentimentLabel.NEUTRAL


@dataclass(frozen=True)
class Calibration:
    cue_weight: float
    thresholds: Thresholds


# Chosen by `python -m translation.calibration` on the even lines of each language
# of data/customer_service_sentiment.tsv (the odd lines are held out).
CALIBRATED: dict[str, Calibration] = {
    VADER: Calibration(0.1, Thresholds(-0.0114, 0.4215)),
    SNOWNLP: Calibration(0.75, Thresholds(-0.9798, 0.7242)),
    VADER_VIA_ENGLISH: Calibration(0.1, Thresholds(-0.0114, 0.2306)),
    CUES_ONLY: Calibration(0.1, Thresholds(-0.05, 0.05)),
}

# Before calibration: VADER's authors' +-0.05, SnowNLP's P(positive) below 0.25 or
# above 0.75, no cues, and nothing at all without a model. Kept for the bench.
UNCALIBRATED: dict[str, Calibration] = {
    VADER: Calibration(0.0, Thresholds(-0.05, 0.05)),
    SNOWNLP: Calibration(0.0, Thresholds(-0.5, 0.5)),
    VADER_VIA_ENGLISH: Calibration(0.0, Thresholds(-0.05, 0.05)),
}


@dataclass(frozen=True)
class Sentiment:
    score: float
    label: SentimentLabel
    # The model and the text it read ("vader", "snownlp", "vader via en", "cues").
    method: str = ""
    # What the model alone said, and the customer-service cues found (+1 per positive).
    model_score: float = 0.0
    cues: int = 0


def clamp(score: float) -> float:
    return max(-1.0, min(1.0, score))


def combined_score(model_score: float, cues: int, calibration: Calibration) -> float:
    return clamp(model_score + calibration.cue_weight * cues)


def judge(
    method: str,
    model_score: float,
    cues: int = 0,
    calibrations: dict[str, Calibration] | None = None,
) -> Sentiment:
    """The score and label of ``method``'s model score with ``cues``."""
    calibration = (CALIBRATED if calibrations is None else calibrations).get(method)
    if calibration is None:
        return Sentiment(0.0, SentimentLabel.UNSPECIFIED, method, model_score, cues)
    score = combined_score(model_score, cues, calibration)
    return Sentiment(
        round(score, 4), calibration.thresholds.label(score), method, model_score, cues
    )


def from_vader(compound: float, cues: int = 0, *, method: str = VADER) -> Sentiment:
    """VADER's compound score in [-1, 1]."""
    return judge(method, clamp(compound), cues)


def from_snownlp(probability_positive: float, cues: int = 0) -> Sentiment:
    """SnowNLP's P(positive) in [0, 1] mapped onto [-1, 1]."""
    p = max(0.0, min(1.0, probability_positive))
    return judge(SNOWNLP, clamp(2 * p - 1), cues)


UNKNOWN = Sentiment(0.0, SentimentLabel.UNSPECIFIED, "")
