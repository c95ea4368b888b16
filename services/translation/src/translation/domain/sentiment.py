"""Sentiment scores in [-1, 1] and their labels."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class SentimentLabel(Enum):
    UNSPECIFIED = 0  # not computed: no model for the language and no English translation
    NEGATIVE = 1
    NEUTRAL = 2
    POSITIVE = 3


@dataclass(frozen=True)
class Sentiment:
    score: float
    label: SentimentLabel
    # The model and the text it read ("vader", "snownlp", "vader via en").
    method: str = ""


def clamp(score: float) -> float:
    return max(-1.0, min(1.0, score))


def from_vader(compound: float, *, method: str = "vader") -> Sentiment:
    """VADER's compound score; its authors' thresholds are +-0.05."""
    score = clamp(compound)
    if score >= 0.05:
        label = SentimentLabel.POSITIVE
    elif score <= -0.05:
        label = SentimentLabel.NEGATIVE
    else:
        label = SentimentLabel.NEUTRAL
    return Sentiment(round(score, 4), label, method)


def from_snownlp(probability_positive: float) -> Sentiment:
    """SnowNLP's P(positive) in [0, 1] mapped onto [-1, 1].

    SnowNLP was trained on product reviews and leans negative on neutral
    questions ("where is my parcel?" scores about 0.24), so the neutral band is
    wide: below 0.25 is negative, above 0.75 positive.
    """
    p = max(0.0, min(1.0, probability_positive))
    score = clamp(2 * p - 1)
    if p > 0.75:
        label = SentimentLabel.POSITIVE
    elif p < 0.25:
        label = SentimentLabel.NEGATIVE
    else:
        label = SentimentLabel.NEUTRAL
    return Sentiment(round(score, 4), label, "snownlp")


UNKNOWN = Sentiment(0.0, SentimentLabel.UNSPECIFIED, "")
