"""Offline sentiment models: VADER for English, SnowNLP for Chinese."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

from translation.domain.sentiment import Sentiment, from_snownlp, from_vader


class VaderModel:
    languages = frozenset({"en"})

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import (  # type: ignore[import-untyped]
            SentimentIntensityAnalyzer,
        )

        self._analyzer: Any = SentimentIntensityAnalyzer()

    def score_now(self, text: str) -> Sentiment:
        return from_vader(float(self._analyzer.polarity_scores(text)["compound"]))

    async def polarity(self, text: str, language: str) -> Sentiment:
        if len(text) <= 500:
            return self.score_now(text)
        return await asyncio.to_thread(self.score_now, text)


class SnowNlpModel:
    languages = frozenset({"zh"})

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from snownlp import SnowNLP  # type: ignore[import-untyped]

            self._snow: Any = SnowNLP
            _ = self._snow("加载模型").sentiments  # loads the classifier now, not on a request

    def score_now(self, text: str) -> Sentiment:
        return from_snownlp(float(self._snow(text).sentiments))

    async def polarity(self, text: str, language: str) -> Sentiment:
        return await asyncio.to_thread(self.score_now, text)
