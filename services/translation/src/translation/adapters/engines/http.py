"""Engines over HTTP: LibreTranslate, DeepL and OpenAI-compatible chat completions."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

from translation.app.ports import EngineFailure, EngineInfo
from translation.domain.languages import primary
from translation.domain.model import Formality
from translation.domain.routing import Pair


def _all_pairs(languages: Sequence[str]) -> frozenset[Pair]:
    codes = [primary(lang) for lang in languages]
    return frozenset((a, b) for a in codes for b in codes if a != b)


class _HttpEngine:
    name = ""
    display_name = ""

    def __init__(self, *, base_url: str, timeout: float, languages: Sequence[str]) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._pairs = _all_pairs(languages)
        self._client: httpx.AsyncClient | None = None

    def _missing_config(self) -> str:
        return "" if self._base_url else f"set TRANSLATION_{self.name.upper()}_URL"

    def info(self) -> EngineInfo:
        missing = self._missing_config()
        return EngineInfo(
            name=self.name,
            display_name=self.display_name,
            offline=False,
            available=not missing,
            unavailable_reason=f"not configured: {missing}" if missing else "",
            pairs=self._pairs if not missing else frozenset(),
        )

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 5.0))
            )
        return self._client

    async def _post(self, url: str, **kwargs: Any) -> Any:
        try:
            response = await self._http().post(url, **kwargs)
        except httpx.TimeoutException as exc:
            raise EngineFailure(f"{self.name} timed out after {self._timeout:g}s") from exc
        except httpx.HTTPError as exc:
            raise EngineFailure(f"{self.name} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise EngineFailure(
                f"{self.name} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise EngineFailure(f"{self.name} answered something that is not JSON") from exc

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class LibreTranslateEngine(_HttpEngine):
    """POST /translate {q, source, target, format, api_key} -> {translatedText}."""

    name = "libretranslate"
    display_name = "LibreTranslate"

    def __init__(
        self, *, base_url: str, api_key: str, timeout: float, languages: Sequence[str]
    ) -> None:
        super().__init__(base_url=base_url, timeout=timeout, languages=languages)
        self._api_key = api_key

    async def translate(
        self, texts: Sequence[str], source: str, target: str, formality: Formality
    ) -> list[str]:
        body: dict[str, Any] = {
            "q": list(texts),
            "source": primary(source),
            "target": primary(target),
            "format": "text",
        }
        if self._api_key:
            body["api_key"] = self._api_key
        data = await self._post(f"{self._base_url}/translate", json=body)
        translated = data.get("translatedText") if isinstance(data, dict) else None
        if isinstance(translated, str):
            translated = [translated]
        if not isinstance(translated, list) or not all(isinstance(t, str) for t in translated):
            raise EngineFailure("libretranslate answered without translatedText")
        return list(translated)


def _deepl_target(tag: str) -> str:
    code = primary(tag).upper()
    region = tag.split("-")[1].upper() if "-" in tag and len(tag.split("-")[1]) == 2 else ""
    if code == "EN":
        return f"EN-{region}" if region in ("GB", "US") else "EN-US"
    if code == "PT":
        return f"PT-{region}" if region in ("BR", "PT") else "PT-PT"
    return code


class DeepLEngine(_HttpEngine):
    """POST /v2/translate, ``Authorization: DeepL-Auth-Key``, text[] -> translations[].text."""

    name = "deepl"
    display_name = "DeepL"

    def __init__(
        self, *, base_url: str, api_key: str, timeout: float, languages: Sequence[str]
    ) -> None:
        if not base_url and api_key:
            free = api_key.endswith(":fx")
            base_url = "https://api-free.deepl.com" if free else "https://api.deepl.com"
        super().__init__(base_url=base_url, timeout=timeout, languages=languages)
        self._api_key = api_key

    def _missing_config(self) -> str:
        return "" if self._api_key else "set TRANSLATION_DEEPL_API_KEY"

    async def translate(
        self, texts: Sequence[str], source: str, target: str, formality: Formality
    ) -> list[str]:
        body: dict[str, Any] = {
            "text": list(texts),
            "source_lang": primary(source).upper(),
            "target_lang": _deepl_target(target),
        }
        if formality is Formality.FORMAL:
            body["formality"] = "prefer_more"
        elif formality is Formality.INFORMAL:
            body["formality"] = "prefer_less"
        data = await self._post(
            f"{self._base_url}/v2/translate",
            json=body,
            headers={"Authorization": f"DeepL-Auth-Key {self._api_key}"},
        )
        items = data.get("translations") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != len(texts):
            raise EngineFailure("deepl answered without one translation per text")
        out = []
        for item in items:
            text = item.get("text") if isinstance(item, dict) else None
            if not isinstance(text, str):
                raise EngineFailure("deepl answered a translation without text")
            out.append(text)
        return out


_LANGUAGE_NAMES = {
    "en": "English", "zh": "Chinese", "de": "German", "es": "Spanish", "vi": "Vietnamese",
    "fr": "French", "pt": "Portuguese", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "ru": "Russian", "nl": "Dutch", "pl": "Polish", "tr": "Turkish", "ar": "Arabic",
}  # fmt: skip


def _language_name(tag: str) -> str:
    name = _LANGUAGE_NAMES.get(primary(tag), tag)
    return f"{name} ({tag})"


class OpenAIChatEngine(_HttpEngine):
    """An OpenAI-compatible ``POST {base}/chat/completions``; one request per text."""

    name = "openai"
    display_name = "OpenAI-compatible chat model"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        timeout: float,
        languages: Sequence[str],
        concurrency: int = 4,
    ) -> None:
        super().__init__(base_url=base_url, timeout=timeout, languages=languages)
        self._api_key = api_key
        self._model = model
        self._semaphore = asyncio.Semaphore(max(1, concurrency))

    def _missing_config(self) -> str:
        missing = [
            variable
            for variable, value in (
                ("TRANSLATION_OPENAI_BASE_URL", self._base_url),
                ("TRANSLATION_OPENAI_MODEL", self._model),
            )
            if not value
        ]
        return "set " + " and ".join(missing) if missing else ""

    def _messages(
        self, text: str, source: str, target: str, formality: Formality
    ) -> list[dict[str, str]]:
        register = {
            Formality.FORMAL: " Use a formal, polite register.",
            Formality.INFORMAL: " Use an informal, friendly register.",
        }.get(formality, "")
        system = (
            "You translate customer-service messages. Translate the user's message from "
            f"{_language_name(source)} into {_language_name(target)}.{register} Copy every token "
            "that looks like ZXQ0QXZ (letters, a number, letters) exactly as written. Answer "
            "with the translation only, no quotes, no notes."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": text}]

    async def _one(self, text: str, source: str, target: str, formality: Formality) -> str:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        body = {
            "model": self._model,
            "messages": self._messages(text, source, target, formality),
            "temperature": 0,
        }
        async with self._semaphore:
            data = await self._post(
                f"{self._base_url}/chat/completions", json=body, headers=headers
            )
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise EngineFailure("openai answered without choices[0].message.content") from exc
        if not isinstance(content, str):
            raise EngineFailure("openai answered a message without text content")
        return content.strip()

    async def translate(
        self, texts: Sequence[str], source: str, target: str, formality: Formality
    ) -> list[str]:
        return list(await asyncio.gather(*(self._one(t, source, target, formality) for t in texts)))
