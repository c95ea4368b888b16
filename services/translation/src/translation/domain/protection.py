"""Do-not-translate protection: terms become placeholders before an engine sees the text.

A placeholder is a token such as ``ZXQ3QXZ``: letters no dictionary knows around a
slot number. Rule-based engines pass unknown words through unchanged (verified with
Apertium eng-spa, spa-eng, fr-es, es-fr, es-pt, pt-es, spa-ita and ita-spa), and
neural and LLM engines copy such tokens. Restoring is forgiving: any letter case,
spaces around the number, full-width digits and backticks an LLM may add are
accepted. The letters are chosen so that the source text never contains them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum

# Word characters that are not CJK: a term that starts or ends with one must not be
# glued to another one ("Anker" is not protected inside "Ankerage"), while CJK text,
# which has no spaces, may surround a term directly.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD = rf"[^\W_{_CJK}]"
_NOT_AFTER_WORD = rf"(?<!{_WORD})"
_NOT_BEFORE_WORD = rf"(?!{_WORD})"


class SlotKind(Enum):
    TERM = "term"  # a tenant's do-not-translate term
    FORCED = "forced"  # a tenant's forced translation
    URL = "url"
    EMAIL = "email"
    VARIABLE = "variable"  # {name}, {{name}}, %(name)s
    ASIN = "asin"
    ORDER_NUMBER = "order_number"  # order, tracking and SKU-like tokens


_BUILTINS: tuple[tuple[SlotKind, re.Pattern[str]], ...] = (
    (
        SlotKind.URL,
        re.compile(rf"(?:https?://|www\.)[^\s<>\"'\u3000-\u303f\uff00-\uffef{_CJK}]+", re.I),
    ),
    (
        SlotKind.EMAIL,
        re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
    ),
    (
        SlotKind.VARIABLE,
        re.compile(
            r"\{\{[^{}\n]{1,80}\}\}|\{[^{}\s][^{}\n]{0,80}\}|%\(\w{1,40}\)[sd]|\$\{\w{1,40}\}"
        ),
    ),
    (SlotKind.ASIN, re.compile(rf"(?<!-){_NOT_AFTER_WORD}B0[A-Z0-9]{{8}}{_NOT_BEFORE_WORD}(?!-)")),
    (
        SlotKind.ORDER_NUMBER,
        re.compile(
            rf"(?<!-){_NOT_AFTER_WORD}#\d{{3,}}{_NOT_BEFORE_WORD}"
            rf"|(?<!-){_NOT_AFTER_WORD}(?=[A-Z0-9-]*\d)[A-Z0-9](?:[A-Z0-9]|-(?=[A-Z0-9])){{5,}}"
            rf"{_NOT_BEFORE_WORD}(?!-)"
        ),
    ),
)
_URL_TRAILING = ".,;:!?)]}'\""


@dataclass(frozen=True)
class ProtectionRule:
    """A tenant's glossary term as protection sees it."""

    term_id: str
    source_text: str
    case_sensitive: bool = False
    # None keeps the source text as written; a string replaces it (forced translation).
    replacement: str | None = None

    def pattern(self) -> re.Pattern[str]:
        body = re.escape(self.source_text)
        head = _NOT_AFTER_WORD if re.match(_WORD, self.source_text[:1]) else ""
        tail = _NOT_BEFORE_WORD if re.match(_WORD, self.source_text[-1:]) else ""
        return re.compile(head + body + tail, 0 if self.case_sensitive else re.IGNORECASE)


@dataclass(frozen=True)
class Slot:
    index: int
    original: str
    restore_as: str
    kind: SlotKind
    term_id: str = ""


@dataclass(frozen=True)
class Marker:
    head: str
    tail: str

    def token(self, index: int) -> str:
        return f"{self.head}{index}{self.tail}"

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(
            rf"`?{re.escape(self.head)}\s*(\d{{1,4}})\s*{re.escape(self.tail)}`?", re.IGNORECASE
        )


def _markers() -> Iterator[Marker]:
    yield Marker("ZXQ", "QXZ")
    yield Marker("QZJ", "JZQ")
    for letters in itertools.product("JKQVXZ", repeat=3):
        head = "".join(letters)
        yield Marker(head, head[::-1])


def _marker_for(text: str) -> Marker:
    folded = text.casefold()
    for marker in _markers():
        if marker.head.casefold() not in folded and marker.tail.casefold() not in folded:
            return marker
    raise ValueError("no placeholder marker is free in this text")  # pragma: no cover


@dataclass(frozen=True)
class ProtectedText:
    source: str
    text: str
    marker: Marker
    slots: tuple[Slot, ...] = field(default=())

    @property
    def applied_term_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.term_id for s in self.slots if s.term_id))

    def missing_slots(self, translated: str) -> list[int]:
        found = {int(m.group(1)) for m in self.marker.pattern.finditer(translated)}
        return [s.index for s in self.slots if s.index not in found]

    def restore(self, translated: str) -> str:
        """Put every protected term back, whatever the engine did to the placeholders."""
        by_index = {s.index: s.restore_as for s in self.slots}

        def put_back(match: re.Match[str]) -> str:
            return by_index.get(int(match.group(1)), "")

        return self.marker.pattern.sub(put_back, translated) if self.slots else translated


def protect(
    text: str, rules: Sequence[ProtectionRule] = (), *, builtins: bool = True
) -> ProtectedText:
    """Replace glossary terms and built-in patterns of ``text`` with placeholders.

    Overlaps resolve to the match that starts first, then the longest, then the
    tenant's terms before the built-in patterns.
    """
    found: list[tuple[int, int, int, SlotKind, ProtectionRule | None]] = []
    for rank, term in enumerate(rules):
        if not term.source_text:
            continue
        kind = SlotKind.TERM if term.replacement is None else SlotKind.FORCED
        for m in term.pattern().finditer(text):
            found.append((m.start(), m.end(), rank, kind, term))
    if builtins:
        for rank, (kind, pattern) in enumerate(_BUILTINS, start=len(rules)):
            for m in pattern.finditer(text):
                end = m.end()
                if kind is SlotKind.URL:
                    while end > m.start() and text[end - 1] in _URL_TRAILING:
                        end -= 1
                if end > m.start():
                    found.append((m.start(), end, rank, kind, None))
    found.sort(key=lambda f: (f[0], -(f[1] - f[0]), f[2]))
    marker = _marker_for(text)
    pieces: list[str] = []
    slots: list[Slot] = []
    position = 0
    for start, end, _rank, kind, rule in found:
        if start < position:
            continue
        original = text[start:end]
        index = len(slots)
        restore_as = rule.replacement if rule and rule.replacement is not None else original
        slots.append(Slot(index, original, restore_as, kind, rule.term_id if rule else ""))
        pieces.append(text[position:start])
        pieces.append(marker.token(index))
        position = end
    pieces.append(text[position:])
    return ProtectedText(source=text, text="".join(pieces), marker=marker, slots=tuple(slots))
