"""Glossary terms, language presets and intent keyword sets: create, read, update, delete."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
from crosstalk_common.errors import (
    Aborted,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
)
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from translation.app.ports import DuplicateKey, UnitOfWork
from translation.domain.intents import (
    DEFAULT_KEYWORD_SETS,
    IntentKeywordSet,
    validate_keyword_set,
)
from translation.domain.languages import normalize_language
from translation.domain.model import (
    GlossaryKind,
    GlossaryTerm,
    LanguagePreset,
    normalized_preset,
    normalized_term,
    validate_preset,
    validate_term,
)

GLOSSARY_TERM = "crosstalk.io/GlossaryTerm"
LANGUAGE_PRESET = "crosstalk.io/LanguagePreset"
INTENT_KEYWORD_SET = "crosstalk.io/IntentKeywordSet"


@dataclass(frozen=True)
class GlossaryService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def create(self, draft: GlossaryTerm) -> GlossaryTerm:
        now = utc_now()
        term = replace(
            normalized_term(draft), id=str(uuid.uuid4()), created_at=now, updated_at=now, version=1
        )
        validate_term(term)
        async with self.new_uow() as uow:
            try:
                await uow.glossary.add(term)
            except DuplicateKey:
                raise AlreadyExists(
                    GLOSSARY_TERM,
                    term.source_text,
                    "a glossary term with this source text and these languages already exists",
                ) from None
            await uow.commit()
        return term

    async def get(self, tenant_id: str, term_id: str) -> GlossaryTerm:
        async with self.new_uow() as uow:
            term = await uow.glossary.get(tenant_id, term_id)
        if term is None:
            raise NotFound(GLOSSARY_TERM, f"glossaryTerms/{term_id}")
        return term

    async def update(
        self, tenant_id: str, term_id: str, changes: dict[str, object], etag: str
    ) -> GlossaryTerm:
        name = f"glossaryTerms/{term_id}"
        async with self.new_uow() as uow:
            current = await uow.glossary.get(tenant_id, term_id)
            if current is None:
                raise NotFound(GLOSSARY_TERM, name)
            check_etag(etag, current.etag, name)
            updated = normalized_term(
                replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            )
            validate_term(updated)
            try:
                saved = await uow.glossary.save(updated, expected_version=current.version)
            except DuplicateKey:
                raise AlreadyExists(GLOSSARY_TERM, updated.source_text) from None
            if not saved:
                raise Aborted.etag_mismatch(name)
            await uow.commit()
        return updated

    async def delete(self, tenant_id: str, term_id: str, etag: str) -> None:
        name = f"glossaryTerms/{term_id}"
        async with self.new_uow() as uow:
            current = await uow.glossary.get(tenant_id, term_id)
            if current is None:
                raise NotFound(GLOSSARY_TERM, name)
            check_etag(etag, current.etag, name)
            await uow.glossary.delete(tenant_id, term_id)
            await uow.commit()

    async def page(
        self,
        tenant_id: str,
        *,
        kind: GlossaryKind,
        source_language: str,
        target_language: str,
        after: list[str],
        limit: int,
    ) -> list[GlossaryTerm]:
        async with self.new_uow() as uow:
            return await uow.glossary.page(
                tenant_id,
                kind=kind,
                source_language=source_language,
                target_language=target_language,
                after=after,
                limit=limit,
            )


@dataclass(frozen=True)
class PresetService:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    # Called after a write so cached language sets are rebuilt.
    on_change: Callable[[str], None] = lambda tenant_id: None

    async def create(self, draft: LanguagePreset) -> LanguagePreset:
        now = utc_now()
        preset = replace(
            normalized_preset(draft),
            id=str(uuid.uuid4()),
            created_at=now,
            updated_at=now,
            version=1,
        )
        validate_preset(preset)
        async with self.new_uow() as uow:
            try:
                await uow.presets.add(preset)
            except DuplicateKey:
                raise AlreadyExists(
                    LANGUAGE_PRESET,
                    preset.market,
                    f"the tenant already has a language preset for market {preset.market!r}",
                ) from None
            await uow.commit()
        self.on_change(preset.tenant_id)
        return preset

    async def get(self, tenant_id: str, preset_id: str) -> LanguagePreset:
        async with self.new_uow() as uow:
            preset = await uow.presets.get(tenant_id, preset_id)
        if preset is None:
            raise NotFound(LANGUAGE_PRESET, f"languagePresets/{preset_id}")
        return preset

    async def update(
        self, tenant_id: str, preset_id: str, changes: dict[str, object], etag: str
    ) -> LanguagePreset:
        name = f"languagePresets/{preset_id}"
        async with self.new_uow() as uow:
            current = await uow.presets.get(tenant_id, preset_id)
            if current is None:
                raise NotFound(LANGUAGE_PRESET, name)
            check_etag(etag, current.etag, name)
            updated = normalized_preset(
                replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            )
            validate_preset(updated)
            try:
                saved = await uow.presets.save(updated, expected_version=current.version)
            except DuplicateKey:
                raise AlreadyExists(
                    LANGUAGE_PRESET,
                    updated.market,
                    f"the tenant already has a language preset for market {updated.market!r}",
                ) from None
            if not saved:
                raise Aborted.etag_mismatch(name)
            await uow.commit()
        self.on_change(tenant_id)
        return updated

    async def delete(self, tenant_id: str, preset_id: str, etag: str) -> None:
        name = f"languagePresets/{preset_id}"
        async with self.new_uow() as uow:
            current = await uow.presets.get(tenant_id, preset_id)
            if current is None:
                raise NotFound(LANGUAGE_PRESET, name)
            check_etag(etag, current.etag, name)
            await uow.presets.delete(tenant_id, preset_id)
            await uow.commit()
        self.on_change(tenant_id)

    async def page(self, tenant_id: str, *, after: list[str], limit: int) -> list[LanguagePreset]:
        async with self.new_uow() as uow:
            return await uow.presets.page(tenant_id, after=after, limit=limit)


DEFAULT_INTENTS_SEED = "default-intent-keyword-sets-v1"


# Tenants known to have their defaults: analysing text must not cost a write
# (and a wait for SQLite's write lock) on every call.
_SEEDED: set[str] = set()


async def ensure_default_intents(new_uow: UnitOfWorkFactory[UnitOfWork], tenant_id: str) -> None:
    """Give a tenant the default keyword sets the first time it uses intents."""
    if tenant_id in _SEEDED:
        return
    async with new_uow() as uow:
        if await uow.intents.seed_applied(tenant_id, DEFAULT_INTENTS_SEED):
            _SEEDED.add(tenant_id)
            return
    async with new_uow() as uow:
        if not await uow.intents.claim_seed(tenant_id, DEFAULT_INTENTS_SEED):
            _SEEDED.add(tenant_id)  # seeded concurrently by another request
            return
        now = utc_now()
        for intent, language, keywords, synonyms in DEFAULT_KEYWORD_SETS:
            await uow.intents.add(
                IntentKeywordSet(
                    id=str(uuid.uuid4()),
                    tenant_id=tenant_id,
                    intent=intent,
                    language=language,
                    keywords=keywords,
                    synonyms=tuple(synonyms.items()),
                    fuzzy=True,
                    enabled=True,
                    created_at=now,
                    updated_at=now,
                )
            )
        await uow.commit()
    _SEEDED.add(tenant_id)


def _normalized_set(ks: IntentKeywordSet) -> IntentKeywordSet:
    return replace(
        ks,
        intent=ks.intent.strip(),
        language=normalize_language(ks.language) if ks.language.strip() else "",
        keywords=tuple(dict.fromkeys(k.strip() for k in ks.keywords)),
        synonyms=tuple(
            (k.strip(), tuple(dict.fromkeys(s.strip() for s in syn))) for k, syn in ks.synonyms
        ),
    )


@dataclass(frozen=True)
class IntentService:
    new_uow: UnitOfWorkFactory[UnitOfWork]

    async def create(self, draft: IntentKeywordSet) -> IntentKeywordSet:
        await ensure_default_intents(self.new_uow, draft.tenant_id)
        now = utc_now()
        ks = replace(
            _normalized_set(draft), id=str(uuid.uuid4()), created_at=now, updated_at=now, version=1
        )
        validate_keyword_set(ks, prefix="intent_keyword_set")
        async with self.new_uow() as uow:
            await uow.intents.add(ks)
            await uow.commit()
        return ks

    async def get(self, tenant_id: str, set_id: str) -> IntentKeywordSet:
        async with self.new_uow() as uow:
            ks = await uow.intents.get(tenant_id, set_id)
        if ks is None:
            raise NotFound(INTENT_KEYWORD_SET, f"intentKeywordSets/{set_id}")
        return ks

    async def update(
        self, tenant_id: str, set_id: str, changes: dict[str, object], etag: str
    ) -> IntentKeywordSet:
        name = f"intentKeywordSets/{set_id}"
        async with self.new_uow() as uow:
            current = await uow.intents.get(tenant_id, set_id)
            if current is None:
                raise NotFound(INTENT_KEYWORD_SET, name)
            check_etag(etag, current.etag, name)
            updated = _normalized_set(
                replace(current, **changes, updated_at=utc_now(), version=current.version + 1)  # type: ignore[arg-type]
            )
            validate_keyword_set(updated, prefix="intent_keyword_set")
            if not await uow.intents.save(updated, expected_version=current.version):
                raise Aborted.etag_mismatch(name)
            await uow.commit()
        return updated

    async def delete(self, tenant_id: str, set_id: str, etag: str) -> None:
        name = f"intentKeywordSets/{set_id}"
        async with self.new_uow() as uow:
            current = await uow.intents.get(tenant_id, set_id)
            if current is None:
                raise NotFound(INTENT_KEYWORD_SET, name)
            check_etag(etag, current.etag, name)
            await uow.intents.delete(tenant_id, set_id)
            await uow.commit()

    async def page(
        self, tenant_id: str, *, intent: str, after: list[str], limit: int
    ) -> list[IntentKeywordSet]:
        if intent and not re.match(r"^[a-z][a-z0-9_]{0,62}$", intent):
            raise InvalidArgument(FieldViolation("intent", "lower_snake_case, e.g. 'refund'"))
        await ensure_default_intents(self.new_uow, tenant_id)
        async with self.new_uow() as uow:
            return await uow.intents.page(tenant_id, intent=intent, after=after, limit=limit)
