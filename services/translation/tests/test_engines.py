"""Real Apertium, and the HTTP engines against local servers speaking each provider's API."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from crosstalk_common.errors import Unavailable
from translation.adapters.engines.apertium import ApertiumEngine, deformat, reformat
from translation.adapters.engines.http import DeepLEngine, LibreTranslateEngine, OpenAIChatEngine
from translation.app.use_cases import TranslateRequest
from translation.domain.model import GlossaryKind, GlossaryTerm

from .conftest import LANGUAGES, make_service, needs_apertium, services

TOKEN = re.compile(r"([A-Z]{3})(\d+)([A-Z]{3})")


def fake_translate(text: str) -> str:
    """What a real engine might do: translate words and mangle placeholder spacing and case."""
    words = {"Hello": "Hallo", "my": "mein", "order": "Bestellung", "is": "ist", "late": "spät"}
    out = re.sub(r"[A-Za-z]+", lambda m: words.get(m.group(0), m.group(0)), text)
    return TOKEN.sub(lambda m: f"{m.group(1).lower()} {m.group(2)} {m.group(3).lower()}", out)


class Provider(BaseHTTPRequestHandler):
    mode = "ok"  # "ok", "500" or "slow"
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        return None

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(raw)
        else:
            body = {
                k: v if len(v) > 1 or k == "text" else v[0]
                for k, v in parse_qs(raw.decode()).items()
            }
        type(self).seen.append(
            {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
        )
        if self.mode == "500":
            return self._reply(500, {"error": "internal"})
        if self.mode == "slow":
            time.sleep(1.5)
        if self.path == "/translate":  # LibreTranslate
            q = body["q"]
            translated = (
                [fake_translate(t) for t in q] if isinstance(q, list) else fake_translate(q)
            )
            return self._reply(200, {"translatedText": translated})
        if self.path == "/v2/translate":  # DeepL
            if not str(self.headers.get("Authorization", "")).startswith("DeepL-Auth-Key "):
                return self._reply(403, {"message": "Forbidden"})
            texts = body["text"] if isinstance(body["text"], list) else [body["text"]]
            return self._reply(
                200,
                {
                    "translations": [
                        {"detected_source_language": "EN", "text": fake_translate(t)} for t in texts
                    ]
                },
            )
        if self.path == "/v1/chat/completions":  # OpenAI-compatible
            user = next(m["content"] for m in body["messages"] if m["role"] == "user")
            return self._reply(
                200,
                {"choices": [{"message": {"role": "assistant", "content": fake_translate(user)}}]},
            )
        return self._reply(404, {"error": "no route"})


@pytest.fixture
def provider() -> Iterator[tuple[str, type[Provider]]]:
    handler = type("P", (Provider,), {"mode": "ok", "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def http_engines(url: str, timeout: float = 5.0) -> dict[str, Any]:
    return {
        "libretranslate": LibreTranslateEngine(
            base_url=url, api_key="k", timeout=timeout, languages=LANGUAGES
        ),
        "deepl": DeepLEngine(
            base_url=url, api_key="secret:fx", timeout=timeout, languages=LANGUAGES
        ),
        "openai": OpenAIChatEngine(
            base_url=f"{url}/v1",
            api_key="sk",
            model="gpt-test",
            timeout=timeout,
            languages=LANGUAGES,
        ),
    }


TEXT = "Hello, my order DD202405001 is late. See https://shop.example.com/o/1 or mail a@b.co {name}"


def test_stream_format_round_trip() -> None:
    text = "a [b] ^c$ @d /e <f> {g} #1 *x\\y\nline two"
    assert reformat(deformat(text)) == text


@needs_apertium
async def test_apertium_translates_english_to_spanish_warm(apertium: ApertiumEngine) -> None:
    from translation.domain.model import Formality

    out = await apertium.translate(
        ["Hello, my friend. Where is my package?"], "en", "es", Formality.UNSPECIFIED
    )
    assert out[0].startswith("Hola, mi amigo")
    pids = {p.process.pid for p in apertium._pipelines if p.process}
    started = time.perf_counter()
    for _ in range(5):
        await apertium.translate(["Thank you for your order."], "en", "es", Formality.UNSPECIFIED)
    assert (time.perf_counter() - started) / 5 < 0.1  # warm: no process start per message
    assert pids == {p.process.pid for p in apertium._pipelines if p.process}
    info = apertium.info()
    assert info.available
    assert ("en", "es") in info.pairs
    assert ("en", "de") in info.missing_pairs
    assert "no Apertium pair" in info.install_hint


@needs_apertium
async def test_glossary_placeholders_survive_real_apertium(
    new_uow, detector, apertium, tenant
) -> None:  # type: ignore[no-untyped-def]
    service = make_service(new_uow, [apertium], detector)
    glossary, _, _ = services(new_uow, service)
    await glossary.create(GlossaryTerm("", tenant, GlossaryKind.DO_NOT_TRANSLATE, "Crosstalk Pro"))
    text = (
        "Hello, your Crosstalk Pro order DD202405001 was sent to bob@example.com, {customer_name}."
    )
    result = (
        await service.translate(
            tenant, TranslateRequest((text,), source_language="en", target_language="es")
        )
    )[0]
    assert result.engine == "apertium"
    for kept in ("Crosstalk Pro", "DD202405001", "bob@example.com", "{customer_name}"):
        assert kept in result.translated_text, result.translated_text
    assert result.translated_text.startswith("Hola")
    # French to English has no Apertium pair: it goes through Spanish (fr-es, es-en)
    if ("fr", "es") in apertium.info().pairs:
        pivot = (
            await service.translate(
                tenant,
                TranslateRequest(
                    ("Je voudrais un remboursement.",), source_language="fr", target_language="en"
                ),
            )
        )[0]
        assert re.search(r"refund|repayment|reimbursement", pivot.translated_text.lower()), pivot


@needs_apertium
async def test_back_translation_scores_faithful_replies_high(
    new_uow, detector, apertium, tenant
) -> None:  # type: ignore[no-untyped-def]
    service = make_service(new_uow, [apertium], detector)
    checked = await service.back_translate(
        tenant, "Your refund has been sent today.", "en", "es", ""
    )
    assert checked.engine == "apertium"
    assert checked.translated_text
    assert checked.similarity >= 0.75, checked


@pytest.mark.parametrize("name", ["libretranslate", "deepl", "openai"])
async def test_glossary_placeholders_survive_http_engines(
    new_uow, detector, provider, tenant, name
) -> None:  # type: ignore[no-untyped-def]
    url, handler = provider
    engine = http_engines(url)[name]
    service = make_service(new_uow, [engine], detector)
    result = (
        await service.translate(
            tenant, TranslateRequest((TEXT,), source_language="en", target_language="de")
        )
    )[0]
    assert result.engine == name
    assert result.translated_text == (
        "Hallo, mein Bestellung DD202405001 ist spät. "
        "See https://shop.example.com/o/1 or mail a@b.co {name}"
    )
    request = handler.seen[-1]
    if name == "deepl":
        assert request["auth"] == "DeepL-Auth-Key secret:fx"
        assert request["body"]["target_lang"] == "DE"
    if name == "libretranslate":
        assert request["body"]["api_key"] == "k"
        assert request["body"]["source"] == "en"
    if name == "openai":
        assert request["body"]["model"] == "gpt-test"
        assert request["auth"] == "Bearer sk"
    await engine.close()


@pytest.mark.parametrize("failure", ["500", "slow"])
async def test_a_failing_engine_falls_back_to_the_next(
    new_uow, detector, provider, tenant, failure
) -> None:  # type: ignore[no-untyped-def]
    url, handler = provider
    handler.mode = failure
    broken = LibreTranslateEngine(base_url=url, api_key="", timeout=0.5, languages=LANGUAGES)
    good_handler_url = url  # the same server answers OpenAI requests normally once the mode resets

    class Switch(OpenAIChatEngine):
        async def translate(self, texts, source, target, formality):  # type: ignore[no-untyped-def]
            handler.mode = "ok"
            return await super().translate(texts, source, target, formality)

    good = Switch(
        base_url=f"{good_handler_url}/v1", api_key="", model="m", timeout=5, languages=LANGUAGES
    )
    service = make_service(new_uow, [broken, good], detector)
    result = (
        await service.translate(
            tenant, TranslateRequest(("Hello",), source_language="en", target_language="de")
        )
    )[0]
    assert (result.engine, result.translated_text) == ("openai", "Hallo")
    await broken.close()
    await good.close()


async def test_all_http_engines_failing_is_unavailable(new_uow, detector, provider, tenant) -> None:  # type: ignore[no-untyped-def]
    url, handler = provider
    handler.mode = "500"
    engines = list(http_engines(url, timeout=1).values())
    service = make_service(new_uow, engines, detector)
    with pytest.raises(Unavailable) as caught:
        await service.translate(
            tenant, TranslateRequest(("Hello",), source_language="en", target_language="de")
        )
    for name in ("libretranslate", "deepl", "openai"):
        assert name in caught.value.message
    assert "HTTP 500" in caught.value.message
    for engine in engines:
        await engine.close()


def test_unconfigured_engines_say_why() -> None:
    infos = {
        e.name: e.info()
        for e in (
            LibreTranslateEngine(base_url="", api_key="", timeout=1, languages=LANGUAGES),
            DeepLEngine(base_url="", api_key="", timeout=1, languages=LANGUAGES),
            OpenAIChatEngine(base_url="", api_key="", model="", timeout=1, languages=LANGUAGES),
        )
    }
    assert not any(i.available for i in infos.values())
    assert "TRANSLATION_LIBRETRANSLATE_URL" in infos["libretranslate"].unavailable_reason
    assert "TRANSLATION_DEEPL_API_KEY" in infos["deepl"].unavailable_reason
    assert "TRANSLATION_OPENAI_MODEL" in infos["openai"].unavailable_reason


async def test_apertium_missing_says_how_to_install(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = ApertiumEngine(modes_dir=tmp_path, languages=LANGUAGES)
    await engine.start()
    info = engine.info()
    assert not info.available
    assert "install_apertium.sh" in info.unavailable_reason
