"""When messaging asks translation to translate, and how it does without it.

An inbound message is always stored: when translation is down the message is
stored without a language, when only the translation fails it keeps its
language, sentiment and intents. A message is translated into the tenant's
working language, unless it is already written in it (``en-GB`` is English
enough for ``en``) or its language is unknown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from messaging.app.ports import ServiceUnavailable, TranslationPort, WorkingLanguagePort
from messaging.domain.model import UNDETERMINED_LANGUAGE, Understanding

log = logging.getLogger(__name__)

# A tenant's working language rarely changes; a changed one applies within this long.
WORKING_LANGUAGE_TTL_SECONDS = 300.0


def primary_language(tag: str) -> str:
    """``"zh-Hant-TW"`` -> ``"zh"``."""
    return tag.split("-", 1)[0].lower()


class TextUnderstanding:
    """Language, translation into the working language, sentiment and intents of a text.

    Remembers each tenant's working language for WORKING_LANGUAGE_TTL_SECONDS
    (per process); a failed look-up is not remembered.
    """

    def __init__(
        self,
        translation: TranslationPort,
        working_languages: WorkingLanguagePort,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._translation = translation
        self._working_languages = working_languages
        self._clock = clock
        self._working: dict[str, tuple[str, float]] = {}

    async def understand(self, tenant_id: str, text: str) -> Understanding:
        """Never fails: when translation cannot help it answers an empty Understanding."""
        try:
            understood = await self._translation.analyse(text)
        except ServiceUnavailable as exc:
            log.warning("message not analysed (%s): stored without language", exc)
            return Understanding()
        if understood.language == UNDETERMINED_LANGUAGE:
            return understood
        working = await self._working_language(tenant_id)
        if not working or primary_language(working) == primary_language(understood.language):
            return understood
        try:
            translated = await self._translation.translate(text, understood.language, working)
        except ServiceUnavailable as exc:
            log.warning("message not translated %s->%s (%s)", understood.language, working, exc)
            return understood
        return replace(understood, translated_text=translated, translated_language=working)

    async def working_language(self, tenant_id: str) -> str:
        """The tenant's working language ("" when it has none or identity cannot say)."""
        return await self._working_language(tenant_id)

    async def _working_language(self, tenant_id: str) -> str:
        cached = self._working.get(tenant_id)
        if cached is not None and self._clock() - cached[1] < WORKING_LANGUAGE_TTL_SECONDS:
            return cached[0]
        try:
            working = await self._working_languages.working_language(tenant_id)
        except ServiceUnavailable as exc:
            log.warning("working language unknown (%s): not translating", exc)
            return ""
        self._working[tenant_id] = (working, self._clock())
        return working
