"""Glossary terms and language presets: plain data and the rules that keep them valid."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from functools import cache

from crosstalk_common.errors import FieldViolation, InvalidArgument
from translation.domain.languages import language_problem, normalize_language, primary
from translation.domain.protection import ProtectionRule

MAX_TERM_LENGTH = 200
MAX_NOTE_LENGTH = 1000
MAX_MARKET_LENGTH = 64
MAX_DISPLAY_NAME_LENGTH = 200
_MARKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Formality(Enum):
    UNSPECIFIED = 0
    FORMAL = 1
    INFORMAL = 2


class GlossaryKind(Enum):
    UNSPECIFIED = 0
    DO_NOT_TRANSLATE = 1
    FORCED = 2


@dataclass(frozen=True)
class GlossaryTerm:
    id: str
    tenant_id: str
    kind: GlossaryKind
    source_text: str
    target_text: str = ""
    source_language: str = ""
    target_language: str = ""
    case_sensitive: bool = False
    note: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def source_key(self) -> str:
        """What makes two terms the same term (case folded unless case sensitive)."""
        return self.source_text if self.case_sensitive else self.source_text.casefold()

    def applies(self, source: str, target: str) -> bool:
        """Whether the term applies from ``source`` to ``target`` (BCP-47 tags)."""
        if self.source_language and primary(self.source_language) != primary(source):
            return False
        return not self.target_language or primary(self.target_language) == primary(target)

    def rule(self) -> ProtectionRule:
        return ProtectionRule(
            term_id=self.id,
            source_text=self.source_text,
            case_sensitive=self.case_sensitive,
            replacement=self.target_text if self.kind is GlossaryKind.FORCED else None,
        )


GLOSSARY_EDITABLE_FIELDS = (
    "kind",
    "source_text",
    "target_text",
    "source_language",
    "target_language",
    "case_sensitive",
    "note",
)


def normalized_term(term: GlossaryTerm) -> GlossaryTerm:
    return replace(
        term,
        source_text=term.source_text.strip(),
        target_text=term.target_text.strip(),
        source_language=normalize_language(term.source_language) if term.source_language else "",
        target_language=normalize_language(term.target_language) if term.target_language else "",
        note=term.note.strip(),
    )


def validate_term(term: GlossaryTerm, *, prefix: str = "glossary_term") -> None:
    problems: list[FieldViolation] = []
    if term.kind is GlossaryKind.UNSPECIFIED:
        problems.append(
            FieldViolation(
                f"{prefix}.kind",
                "required: GLOSSARY_TERM_KIND_DO_NOT_TRANSLATE or GLOSSARY_TERM_KIND_FORCED",
            )
        )
    if not term.source_text:
        problems.append(FieldViolation(f"{prefix}.source_text", "must not be empty"))
    elif len(term.source_text) > MAX_TERM_LENGTH:
        problems.append(
            FieldViolation(f"{prefix}.source_text", f"at most {MAX_TERM_LENGTH} characters")
        )
    for name, value in (
        ("source_language", term.source_language),
        ("target_language", term.target_language),
    ):
        if value:
            bad = language_problem(value, f"{prefix}.{name}")
            if bad:
                problems.append(bad)
    if term.kind is GlossaryKind.FORCED:
        if not term.target_text:
            problems.append(FieldViolation(f"{prefix}.target_text", "required for a FORCED term"))
        if not term.target_language:
            problems.append(
                FieldViolation(f"{prefix}.target_language", "required for a FORCED term")
            )
    if len(term.target_text) > MAX_TERM_LENGTH:
        problems.append(
            FieldViolation(f"{prefix}.target_text", f"at most {MAX_TERM_LENGTH} characters")
        )
    if len(term.note) > MAX_NOTE_LENGTH:
        problems.append(FieldViolation(f"{prefix}.note", f"at most {MAX_NOTE_LENGTH} characters"))
    if problems:
        raise InvalidArgument(problems)


@dataclass(frozen=True)
class LanguagePreset:
    id: str
    tenant_id: str
    market: str
    language: str
    formality: Formality = Formality.UNSPECIFIED
    time_zone: str = ""
    display_name: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @property
    def market_key(self) -> str:
        return self.market.casefold()


PRESET_EDITABLE_FIELDS = ("market", "language", "formality", "time_zone", "display_name")


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def normalized_preset(preset: LanguagePreset) -> LanguagePreset:
    return replace(
        preset,
        market=preset.market.strip(),
        language=normalize_language(preset.language) if preset.language.strip() else "",
        time_zone=preset.time_zone.strip(),
        display_name=preset.display_name.strip(),
    )


def validate_preset(preset: LanguagePreset, *, prefix: str = "language_preset") -> None:
    problems: list[FieldViolation] = []
    if not preset.market:
        problems.append(FieldViolation(f"{prefix}.market", "must not be empty, e.g. 'DE'"))
    elif len(preset.market) > MAX_MARKET_LENGTH or not _MARKET.match(preset.market):
        problems.append(
            FieldViolation(
                f"{prefix}.market",
                f"a country code or store id of letters, digits, '.', '_' or '-' "
                f"(at most {MAX_MARKET_LENGTH}), e.g. 'DE' or 'amazon-de'",
            )
        )
    if not preset.language:
        problems.append(FieldViolation(f"{prefix}.language", "required, e.g. 'de-DE'"))
    else:
        bad = language_problem(preset.language, f"{prefix}.language")
        if bad:
            problems.append(bad)
    if preset.time_zone and preset.time_zone not in _time_zones():
        problems.append(
            FieldViolation(
                f"{prefix}.time_zone",
                f"{preset.time_zone!r} is not an IANA time zone, e.g. 'Europe/Berlin'",
            )
        )
    if len(preset.display_name) > MAX_DISPLAY_NAME_LENGTH:
        problems.append(
            FieldViolation(
                f"{prefix}.display_name", f"at most {MAX_DISPLAY_NAME_LENGTH} characters"
            )
        )
    if problems:
        raise InvalidArgument(problems)
