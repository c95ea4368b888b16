"""Intent keyword sets and the matcher that finds intents in a text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rapidfuzz import fuzz

from crosstalk_common.errors import FieldViolation, InvalidArgument
from translation.domain.languages import UND, language_problem, primary

MAX_KEYWORDS = 200
MAX_KEYWORD_LENGTH = 100
_INTENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_TOKEN = re.compile(r"\w+(?:['\u2019-]\w+)*")


@dataclass(frozen=True)
class IntentKeywordSet:
    id: str
    tenant_id: str
    intent: str
    language: str = ""
    keywords: tuple[str, ...] = ()
    # keyword -> words that count as the same
    synonyms: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fuzzy: bool = True
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    def terms(self) -> list[tuple[str, tuple[str, ...]]]:
        """Each keyword with its synonyms (synonyms of unlisted keywords count too)."""
        by_keyword = dict(self.synonyms)
        listed = [(k, by_keyword.get(k, ())) for k in self.keywords]
        extra = [(k, s) for k, s in self.synonyms if k not in self.keywords]
        return listed + extra


EDITABLE_FIELDS = ("intent", "language", "keywords", "synonyms", "fuzzy", "enabled")


def validate_keyword_set(ks: IntentKeywordSet, *, prefix: str) -> None:
    problems: list[FieldViolation] = []
    if not _INTENT.match(ks.intent):
        problems.append(
            FieldViolation(
                f"{prefix}.intent", "lower_snake_case, 1 to 63 characters, e.g. 'refund'"
            )
        )
    if ks.language:
        bad = language_problem(ks.language, f"{prefix}.language")
        if bad:
            problems.append(bad)
    if not ks.keywords and not ks.synonyms:
        problems.append(FieldViolation(f"{prefix}.keywords", "at least one keyword is required"))
    words = list(ks.keywords) + [w for k, s in ks.synonyms for w in (k, *s)]
    if len(words) > MAX_KEYWORDS:
        problems.append(
            FieldViolation(f"{prefix}.keywords", f"at most {MAX_KEYWORDS} keywords and synonyms")
        )
    for i, word in enumerate(ks.keywords):
        if not word.strip() or len(word) > MAX_KEYWORD_LENGTH:
            problems.append(
                FieldViolation(
                    f"{prefix}.keywords[{i}]", f"1 to {MAX_KEYWORD_LENGTH} non-blank characters"
                )
            )
    for i, (keyword, synonyms) in enumerate(ks.synonyms):
        if not keyword.strip() or len(keyword) > MAX_KEYWORD_LENGTH:
            problems.append(
                FieldViolation(
                    f"{prefix}.synonyms[{i}].keyword",
                    f"1 to {MAX_KEYWORD_LENGTH} non-blank characters",
                )
            )
        for j, synonym in enumerate(synonyms):
            if not synonym.strip() or len(synonym) > MAX_KEYWORD_LENGTH:
                problems.append(
                    FieldViolation(
                        f"{prefix}.synonyms[{i}].synonyms[{j}]",
                        f"1 to {MAX_KEYWORD_LENGTH} non-blank characters",
                    )
                )
    if problems:
        raise InvalidArgument(problems)


@dataclass(frozen=True)
class IntentHit:
    intent: str
    set_id: str
    matched: tuple[str, ...]
    confidence: float


@dataclass(frozen=True)
class _Prepared:
    folded: str
    tokens: tuple[str, ...] = field(default=())
    windows: dict[int, tuple[list[str], frozenset[str]]] = field(default_factory=dict)

    def runs(self, n: int) -> tuple[list[str], frozenset[str]]:
        """The text's runs of ``n`` tokens, joined by spaces (a list and a set)."""
        found = self.windows.get(n)
        if found is None:
            tokens = self.tokens
            joined = [" ".join(tokens[i : i + n]) for i in range(max(0, len(tokens) - n + 1))]
            found = self.windows[n] = (joined, frozenset(joined))
        return found


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def _fuzzy_threshold(term: str) -> float:
    """One edit in a 6-letter word (~83) passes; short words must match exactly."""
    return 80.0 if len(term) >= 6 else 101.0


@dataclass(frozen=True)
class _Term:
    """A keyword or synonym worked out once: folded, split into words, its threshold."""

    word: str
    folded: str
    cjk: bool
    joined: str  # the folded words joined by single spaces ("" for CJK terms)
    n: int
    threshold: float

    @classmethod
    def of(cls, word: str) -> _Term | None:
        folded = _fold(word)
        if not folded:
            return None
        if _CJK.search(folded):
            return cls(word, folded, True, "", 0, 0.0)
        words = _TOKEN.findall(folded)
        if not words:
            return None
        joined = " ".join(words)
        return cls(word, folded, False, joined, len(words), _fuzzy_threshold(joined))

    def score(self, text: _Prepared, fuzzy: bool) -> float:
        if self.cjk:
            if self.folded in text.folded:
                return 1.0
            if fuzzy and len(self.folded) >= 3:
                score = fuzz.partial_ratio(self.folded, text.folded)
                return score / 100.0 if score >= 75 else 0.0
            return 0.0
        windows, exact = text.runs(self.n)
        if self.joined in exact:
            return 1.0
        if not fuzzy or not windows or self.threshold > 100.0:
            return 0.0  # a ratio never passes a threshold above 100
        best = max(fuzz.ratio(self.joined, w, score_cutoff=self.threshold) for w in windows)
        return best / 100.0 if best >= self.threshold else 0.0


@dataclass(frozen=True)
class _CompiledSet:
    intent: str
    set_id: str
    language: str  # primary subtag, "" for any
    fuzzy: bool
    terms: tuple[_Term, ...]


class IntentMatcher:
    """Keyword sets compiled once (folded, tokenized), then matched against many texts."""

    def __init__(self, sets: Iterable[IntentKeywordSet]) -> None:
        compiled: list[_CompiledSet] = []
        for ks in sets:
            if not ks.enabled:
                continue
            terms = [
                _Term.of(word) for keyword, synonyms in ks.terms() for word in (keyword, *synonyms)
            ]
            compiled.append(
                _CompiledSet(
                    ks.intent,
                    ks.id,
                    primary(ks.language) if ks.language else "",
                    ks.fuzzy,
                    tuple(t for t in terms if t is not None),
                )
            )
        self._sets = tuple(compiled)

    def hits(self, text: str, language: str) -> list[IntentHit]:
        """Intents of ``text`` (in ``language``, or ``und``), one hit per matching set."""
        folded = _fold(text)
        prepared = _Prepared(folded, tuple(_TOKEN.findall(folded)))
        lang = primary(language) if language and language != UND else ""
        hits: list[IntentHit] = []
        for ks in self._sets:
            if ks.language and lang and ks.language != lang:
                continue
            matched: list[str] = []
            best = 0.0
            for term in ks.terms:
                score = term.score(prepared, ks.fuzzy)
                if score > 0:
                    matched.append(term.word)
                    best = max(best, score)
            if matched:
                hits.append(
                    IntentHit(ks.intent, ks.set_id, tuple(dict.fromkeys(matched)), round(best, 4))
                )
        return hits

    def match(self, text: str, language: str) -> list[IntentHit]:
        """Intents of ``text`` (in ``language``, or ``und``), most confident first."""
        return merge_hits(self.hits(text, language))


def match_intents(text: str, language: str, sets: Iterable[IntentKeywordSet]) -> list[IntentHit]:
    """Intents of ``text`` (in ``language``, or ``und``), most confident first."""
    return IntentMatcher(sets).match(text, language)


def merge_hits(hits: Iterable[IntentHit]) -> list[IntentHit]:
    """One hit per intent, most confident first.

    Several sets may find the same intent (the original text's language and the
    English translation's, or a tenant's own set beside a default): the merged hit
    names the most confident set (the first one on a tie), keeps every matched
    keyword in order of appearance and the best confidence.
    """
    merged: dict[str, IntentHit] = {}
    for hit in hits:
        seen = merged.get(hit.intent)
        if seen is None:
            merged[hit.intent] = hit
            continue
        lead = hit if hit.confidence > seen.confidence else seen
        merged[hit.intent] = IntentHit(
            hit.intent,
            lead.set_id,
            tuple(dict.fromkeys((*seen.matched, *hit.matched))),
            lead.confidence,
        )
    return sorted(merged.values(), key=lambda h: (-h.confidence, -len(h.matched), h.intent))


# Seeded for every tenant on first use; tenants edit or delete them like their own.
DEFAULT_KEYWORD_SETS: Sequence[tuple[str, str, tuple[str, ...], dict[str, tuple[str, ...]]]] = (
    (
        "logistics",
        "en",
        ("tracking", "shipping", "delivery", "package", "where is my order"),
        {
            "shipping": ("shipment", "courier", "transit", "shipped"),
            "package": ("parcel",),
            "delivery": ("delivered", "arrive", "arrived"),
        },
    ),
    ("return", "en", ("return", "send back", "exchange"), {"return": ("returning", "returned")}),
    (
        "refund",
        "en",
        ("refund", "money back", "reimburse"),
        {"refund": ("refunded", "chargeback", "repayment")},
    ),
    (
        "complaint",
        "en",
        ("complaint", "unacceptable", "terrible", "broken", "damaged"),
        {"complaint": ("complain", "disappointed", "worst")},
    ),
    ("price", "en", ("price", "discount", "coupon", "cost"), {"price": ("cheaper", "expensive")}),
    (
        "logistics",
        "zh",
        ("物流", "物流查询", "快递到哪了", "订单跟踪", "发货"),
        {"物流": ("快递", "运输", "配送", "运单")},
    ),
    ("return", "zh", ("退货", "退换货", "换货"), {"退货": ("退回", "寄回")}),
    ("refund", "zh", ("退款", "退钱"), {"退款": ("返款", "退费")}),
    ("complaint", "zh", ("投诉", "差评", "太差", "太慢"), {"投诉": ("举报", "不满意", "没解决")}),
    ("price", "zh", ("价格", "多少钱", "优惠", "折扣"), {"优惠": ("便宜", "降价", "优惠券")}),
    (
        "logistics",
        "de",
        ("Sendung", "Lieferung", "Paket", "Sendungsverfolgung"),
        {"Paket": ("Päckchen",), "Lieferung": ("geliefert", "angekommen", "Versand")},
    ),
    ("return", "de", ("Rücksendung", "zurücksenden", "Umtausch"), {}),
    ("refund", "de", ("Erstattung", "Rückerstattung", "Geld zurück"), {}),
    ("complaint", "de", ("Beschwerde", "kaputt", "beschädigt", "unzufrieden"), {}),
    (
        "logistics",
        "es",
        ("envío", "paquete", "entrega", "seguimiento"),
        {"paquete": ("pedido",), "entrega": ("llegado", "llegó")},
    ),
    ("return", "es", ("devolución", "devolver", "cambio"), {}),
    ("refund", "es", ("reembolso", "devolver el dinero"), {}),
    ("complaint", "es", ("queja", "reclamación", "roto", "dañado"), {}),
    ("logistics", "fr", ("livraison", "colis", "suivi", "expédition"), {"colis": ("paquet",)}),
    ("return", "fr", ("retour", "renvoyer", "échange"), {}),
    ("refund", "fr", ("remboursement", "rembourser"), {}),
    ("complaint", "fr", ("plainte", "réclamation", "cassé", "endommagé"), {}),
    ("logistics", "vi", ("giao hàng", "vận chuyển", "đơn hàng", "kiện hàng"), {}),
    ("return", "vi", ("trả hàng", "đổi hàng"), {}),
    ("refund", "vi", ("hoàn tiền",), {}),
    ("complaint", "vi", ("khiếu nại", "bị hỏng", "thất vọng"), {}),
)
