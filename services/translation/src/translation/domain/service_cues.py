"""Customer-service cue words that general sentiment models misread.

VADER reads "I want a refund" as mildly positive ("want") and SnowNLP, trained on
product reviews, reads most questions as negative. These words and phrases say how
a customer-service message feels whatever the model thinks: each negative cue
found counts -1, each positive one +1. Longer phrases are matched first and hide
the words inside them ("not working" is one negative cue, not also "working").
"""

from __future__ import annotations

import re
import unicodedata

from translation.domain.languages import primary

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")

# language -> (negative cues, positive cues), lower case
# fmt: off
CUES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        (
            "refund", "money back", "never arrived", "not arrived", "did not arrive",
            "didn't arrive", "hasn't arrived", "not received", "broken", "damaged", "cracked",
            "scratched", "stopped working", "not working", "doesn't work", "does not work",
            "defective", "faulty", "late", "delayed", "still waiting", "no reply",
            "no response", "no answer", "nobody answers", "missing", "wrong", "not what i",
            "charged twice", "cancelled", "canceled", "disappointed", "unacceptable", "worst",
            "terrible", "poor", "dangerous", "complaint", "fed up", "smaller than",
            "bigger than", "burnt", "got wet",
        ),
        (
            "thanks", "thank you", "appreciate", "great", "excellent", "perfect", "perfectly",
            "love", "happy", "delighted", "satisfied", "helpful", "recommend", "recommended",
            "wonderful", "brilliant", "lovely", "well done", "problem solved", "sorted",
        ),
    ),
    "es": (
        (
            "reembolso", "devolver el dinero", "devuelto el dinero", "no llegó",
            "no ha llegado", "no me ha llegado", "roto", "rota", "dañado", "dañada", "rayado",
            "rayada", "no funciona", "defectuoso", "defectuosa", "tarde", "retraso",
            "esperando", "sin respuesta", "no recibo respuesta", "nadie", "faltan", "falta",
            "equivocado", "equivocada", "dos veces", "cancelaron", "cancelado", "decepcionado",
            "decepcionada", "inaceptable", "pésimo", "pésima", "mala calidad", "muy mala",
            "peligroso", "queja", "harto", "harta", "se mojó", "sin avisar", "sin avisarme",
        ),
        (
            "gracias", "excelente", "perfecto", "perfecta", "perfectos", "encanta", "encantan",
            "contento", "contenta", "satisfecho", "satisfecha", "amable", "recomiendo",
            "maravillosa", "maravilloso", "genial", "precioso", "preciosa", "buena calidad",
            "resuelto", "solucionaron", "felicidades",
        ),
    ),
    "de": (
        (
            "rückerstattung", "geld zurück", "nie angekommen", "nicht angekommen", "kaputt",
            "gebrochen", "beschädigt", "zerkratzt", "funktioniert nicht", "funktionieren nicht",
            "nicht mehr", "defekt", "zu spät", "verspätet", "keine antwort", "warte", "fehlen",
            "fehlt", "falsch", "falschen", "doppelt", "storniert", "enttäuscht",
            "inakzeptabel", "schlecht", "schlechte", "schlechtester", "gefährlich",
            "beschwerde", "frechheit", "zu klein", "zu groß", "verbrannt", "ohne nachricht",
        ),
        (
            "danke", "dank", "toll", "toller", "tolles", "super", "perfekt", "liebe",
            "zufrieden", "hilfsbereit", "empfehlenswert", "wunderbar", "wunderschönes",
            "wunderschön", "prima", "hervorragend", "hervorragender", "einwandfrei",
            "einwandfreiem", "freut", "nett", "gelöst", "erledigt", "schöne",
        ),
    ),
    "zh": (
        (
            "退款", "退货", "坏了", "坏的", "裂了", "划痕", "压坏", "没到", "没收到", "没人回",
            "不回复", "晚了", "太慢", "两次", "取消", "失望", "最差", "太差", "差评", "危险",
            "烧焦", "少了", "不一样", "投诉", "淋湿", "还没", "钱呢",
        ),
        (
            "谢谢", "感谢", "满意", "很好", "喜欢", "推荐", "完好", "合脚", "耐心", "贴心",
            "开心", "漂亮", "很棒", "赞", "解决了", "搞定", "没问题", "好用",
        ),
    ),
}
# fmt: on


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _pattern(cue: str) -> re.Pattern[str]:
    if _CJK.search(cue):
        return re.compile(re.escape(cue))
    return re.compile(rf"(?<!\w){re.escape(cue)}(?!\w)")


_PATTERNS: dict[str, list[tuple[re.Pattern[str], int]]] = {
    language: [
        (_pattern(cue), sign)
        for cue, sign in sorted(
            [(c, -1) for c in negative] + [(c, 1) for c in positive],
            key=lambda pair: -len(pair[0]),
        )
    ]
    for language, (negative, positive) in CUES.items()
}


def has_cues(language: str) -> bool:
    return primary(language) in _PATTERNS


def cue_balance(text: str, language: str) -> int:
    """Positive cues minus negative cues found in ``text`` (0 for a language without cues)."""
    patterns = _PATTERNS.get(primary(language))
    if not patterns:
        return 0
    folded = _fold(text)
    balance = 0
    for pattern, sign in patterns:
        folded, found = pattern.subn(" ", folded)
        balance += sign * found
    return balance
