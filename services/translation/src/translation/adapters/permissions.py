"""The permission each TranslationService RPC needs (enforced by crosstalk_common)."""

from __future__ import annotations

_USE = "translation.use"
_MANAGE = "translation.manage"

METHOD_PERMISSIONS: dict[str, str] = {
    "DetectLanguage": _USE,
    "TranslateText": _USE,
    "BatchTranslateText": _USE,
    "BackTranslate": _USE,
    "AnalyzeText": _USE,
    "ListEngines": _USE,
    "GetMemoryStats": _USE,
    **{
        f"{verb}{kind}": _USE if verb in ("Get", "List") else _MANAGE
        for kind in ("GlossaryTerm", "LanguagePreset", "IntentKeywordSet")
        for verb in ("Create", "Get", "Update", "Delete")
    },
    **{f"List{kinds}": _USE for kinds in ("GlossaryTerms", "LanguagePresets", "IntentKeywordSets")},
}
