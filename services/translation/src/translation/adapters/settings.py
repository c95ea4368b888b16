"""The translation service's own settings (TRANSLATION_*), checked at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from crosstalk_common.config import MissingSetting, load_settings
from translation.domain.languages import DEFAULT_LANGUAGES, language_problem

ENGINES = ("apertium", "argos", "libretranslate", "deepl", "openai")


@dataclass(frozen=True)
class TranslationSettings:
    # Engines tried in this order when a request names none (the first available is the default).
    engine_order: tuple[str, ...] = ENGINES
    # Languages detection picks from when a tenant has no presets.
    default_languages: tuple[str, ...] = DEFAULT_LANGUAGES
    # Languages whose detection models load at start; engines report missing pairs among them.
    languages: tuple[str, ...] = (*DEFAULT_LANGUAGES, "pt", "it")
    pivot_language: str = "en"
    max_text_characters: int = 5000
    apertium_enabled: bool = True
    apertium_modes_dir: Path = Path("/usr/share/apertium/modes")
    # Mode names to start (e.g. "eng-spa,spa-eng"); all installed ones when empty.
    apertium_modes: tuple[str, ...] = ()
    apertium_pool_size: int = 1
    apertium_timeout: timedelta = timedelta(seconds=10)
    argos_models_dir: Path | None = None
    argos_cache_dir: Path = Path("var/argos")
    argos_beam_size: int = 2
    argos_threads: int = 2
    libretranslate_url: str = ""
    libretranslate_api_key: str = ""
    deepl_url: str = ""
    deepl_api_key: str = ""
    openai_base_url: str = ""
    openai_api_key: str = ""
    openai_model: str = ""
    http_timeout: timedelta = timedelta(seconds=10)
    sentiment_enabled: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TranslationSettings:
        settings = load_settings(cls, "TRANSLATION", environ)
        problems = settings.problems()
        if problems:
            raise MissingSetting(
                f"TranslationSettings are invalid: {'; '.join(problems)}", tuple(problems)
            )
        return settings

    def problems(self) -> list[str]:
        problems = []
        unknown = [e for e in self.engine_order if e not in ENGINES]
        if unknown:
            problems.append(
                f"TRANSLATION_ENGINE_ORDER: unknown engines {', '.join(unknown)} "
                f"(known: {', '.join(ENGINES)})"
            )
        for variable, codes in (
            ("TRANSLATION_DEFAULT_LANGUAGES", self.default_languages),
            ("TRANSLATION_LANGUAGES", self.languages),
            ("TRANSLATION_PIVOT_LANGUAGE", (self.pivot_language,)),
        ):
            bad = [c for c in codes if language_problem(c, variable)]
            if bad:
                problems.append(f"{variable}: not language codes: {', '.join(bad)}")
        if len(set(self.languages)) < 2:
            problems.append("TRANSLATION_LANGUAGES: at least two languages")
        if not 1 <= self.max_text_characters <= 50_000:
            problems.append("TRANSLATION_MAX_TEXT_CHARACTERS: between 1 and 50000")
        if not 1 <= self.apertium_pool_size <= 16:
            problems.append("TRANSLATION_APERTIUM_POOL_SIZE: between 1 and 16")
        for variable, value in (
            ("TRANSLATION_APERTIUM_TIMEOUT", self.apertium_timeout),
            ("TRANSLATION_HTTP_TIMEOUT", self.http_timeout),
        ):
            if value <= timedelta(0):
                problems.append(f"{variable}: must be positive")
        for variable, url in (
            ("TRANSLATION_LIBRETRANSLATE_URL", self.libretranslate_url),
            ("TRANSLATION_DEEPL_URL", self.deepl_url),
            ("TRANSLATION_OPENAI_BASE_URL", self.openai_base_url),
        ):
            if url and not url.startswith(("http://", "https://")):
                problems.append(f"{variable}: must start with http:// or https://")
        if self.openai_base_url and not self.openai_model:
            problems.append("TRANSLATION_OPENAI_MODEL: required with TRANSLATION_OPENAI_BASE_URL")
        if self.argos_models_dir is not None and not self.argos_models_dir.is_dir():
            problems.append(
                f"TRANSLATION_ARGOS_MODELS_DIR: {self.argos_models_dir} is not a directory"
            )
        if not 1 <= self.argos_beam_size <= 8:
            problems.append("TRANSLATION_ARGOS_BEAM_SIZE: between 1 and 8")
        return problems
