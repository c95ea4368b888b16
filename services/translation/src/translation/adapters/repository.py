"""Glossary, presets, keyword sets and memory in SQL, always filtered by tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from crosstalk_common.clock import as_utc, utc_now
from crosstalk_common.db.keyset import past
from crosstalk_common.db.revisions import TenantRevisions
from translation.adapters.tables import (
    glossary_terms,
    intent_keyword_sets,
    intent_revisions,
    language_presets,
    memory_usage,
    tenant_seeds,
    translation_memory,
)
from translation.app.ports import DuplicateKey, MemoryEntry, MemoryUsage, PairUsage
from translation.domain.intents import IntentKeywordSet
from translation.domain.model import Formality, GlossaryKind, GlossaryTerm, LanguagePreset

# A tenant's glossary is loaded whole for every translation; this caps it.
MAX_GLOSSARY_TERMS = 5000


def _after(table: Any, after: list[str]) -> ColumnElement[bool] | None:
    if len(after) != 2:
        return None
    return past([table.c.created_at, table.c.id], [datetime.fromisoformat(after[0]), after[1]])


async def _insert(session: AsyncSession, statement: Any) -> None:
    try:
        async with session.begin_nested():
            await session.execute(statement)
    except IntegrityError as exc:
        raise DuplicateKey(str(exc.orig)) from exc


def _ts(value: Any) -> datetime | None:
    return as_utc(value) if value is not None else None


# --- glossary -----------------------------------------------------------------------------


def _term_row(term: GlossaryTerm) -> dict[str, Any]:
    return {
        "id": term.id,
        "tenant_id": term.tenant_id,
        "kind": term.kind.name,
        "source_text": term.source_text,
        "source_key": term.source_key,
        "target_text": term.target_text,
        "source_language": term.source_language,
        "target_language": term.target_language,
        "case_sensitive": term.case_sensitive,
        "note": term.note,
        "version": term.version,
        "created_at": term.created_at,
        "updated_at": term.updated_at,
    }


def _term(row: Any) -> GlossaryTerm:
    return GlossaryTerm(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=GlossaryKind[row.kind],
        source_text=row.source_text,
        target_text=row.target_text,
        source_language=row.source_language,
        target_language=row.target_language,
        case_sensitive=row.case_sensitive,
        note=row.note,
        created_at=_ts(row.created_at),
        updated_at=_ts(row.updated_at),
        version=row.version,
    )


class SqlGlossaryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, term: GlossaryTerm) -> None:
        await _insert(self._session, insert(glossary_terms).values(**_term_row(term)))

    async def get(self, tenant_id: str, term_id: str) -> GlossaryTerm | None:
        row = (
            await self._session.execute(
                select(glossary_terms).where(
                    glossary_terms.c.tenant_id == tenant_id, glossary_terms.c.id == term_id
                )
            )
        ).first()
        return _term(row) if row else None

    async def save(self, term: GlossaryTerm, *, expected_version: int) -> bool:
        values = _term_row(term)
        del values["id"], values["tenant_id"], values["created_at"]
        statement = (
            update(glossary_terms)
            .where(
                glossary_terms.c.tenant_id == term.tenant_id,
                glossary_terms.c.id == term.id,
                glossary_terms.c.version == expected_version,
            )
            .values(**values)
        )
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(statement)
        except IntegrityError as exc:
            raise DuplicateKey(str(exc.orig)) from exc
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, tenant_id: str, term_id: str) -> bool:
        result = await self._session.execute(
            delete(glossary_terms).where(
                glossary_terms.c.tenant_id == tenant_id, glossary_terms.c.id == term_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

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
        query = select(glossary_terms).where(glossary_terms.c.tenant_id == tenant_id)
        if kind is not GlossaryKind.UNSPECIFIED:
            query = query.where(glossary_terms.c.kind == kind.name)
        if source_language:
            query = query.where(glossary_terms.c.source_language.in_(("", source_language)))
        if target_language:
            query = query.where(glossary_terms.c.target_language.in_(("", target_language)))
        position = _after(glossary_terms, after)
        if position is not None:
            query = query.where(position)
        query = query.order_by(glossary_terms.c.created_at, glossary_terms.c.id).limit(limit)
        return [_term(r) for r in (await self._session.execute(query)).all()]

    async def all_for(self, tenant_id: str) -> list[GlossaryTerm]:
        query = (
            select(glossary_terms)
            .where(glossary_terms.c.tenant_id == tenant_id)
            .order_by(glossary_terms.c.created_at, glossary_terms.c.id)
            .limit(MAX_GLOSSARY_TERMS)
        )
        return [_term(r) for r in (await self._session.execute(query)).all()]


# --- presets ------------------------------------------------------------------------------


def _preset_row(preset: LanguagePreset) -> dict[str, Any]:
    return {
        "id": preset.id,
        "tenant_id": preset.tenant_id,
        "market": preset.market,
        "market_key": preset.market_key,
        "language": preset.language,
        "formality": preset.formality.name,
        "time_zone": preset.time_zone,
        "display_name": preset.display_name,
        "version": preset.version,
        "created_at": preset.created_at,
        "updated_at": preset.updated_at,
    }


def _preset(row: Any) -> LanguagePreset:
    return LanguagePreset(
        id=row.id,
        tenant_id=row.tenant_id,
        market=row.market,
        language=row.language,
        formality=Formality[row.formality],
        time_zone=row.time_zone,
        display_name=row.display_name,
        created_at=_ts(row.created_at),
        updated_at=_ts(row.updated_at),
        version=row.version,
    )


class SqlPresetRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, preset: LanguagePreset) -> None:
        await _insert(self._session, insert(language_presets).values(**_preset_row(preset)))

    async def get(self, tenant_id: str, preset_id: str) -> LanguagePreset | None:
        row = (
            await self._session.execute(
                select(language_presets).where(
                    language_presets.c.tenant_id == tenant_id, language_presets.c.id == preset_id
                )
            )
        ).first()
        return _preset(row) if row else None

    async def by_market(self, tenant_id: str, market: str) -> LanguagePreset | None:
        row = (
            await self._session.execute(
                select(language_presets).where(
                    language_presets.c.tenant_id == tenant_id,
                    language_presets.c.market_key == market.strip().casefold(),
                )
            )
        ).first()
        return _preset(row) if row else None

    async def save(self, preset: LanguagePreset, *, expected_version: int) -> bool:
        values = _preset_row(preset)
        del values["id"], values["tenant_id"], values["created_at"]
        statement = (
            update(language_presets)
            .where(
                language_presets.c.tenant_id == preset.tenant_id,
                language_presets.c.id == preset.id,
                language_presets.c.version == expected_version,
            )
            .values(**values)
        )
        try:
            async with self._session.begin_nested():
                result = await self._session.execute(statement)
        except IntegrityError as exc:
            raise DuplicateKey(str(exc.orig)) from exc
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete(self, tenant_id: str, preset_id: str) -> bool:
        result = await self._session.execute(
            delete(language_presets).where(
                language_presets.c.tenant_id == tenant_id, language_presets.c.id == preset_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def page(self, tenant_id: str, *, after: list[str], limit: int) -> list[LanguagePreset]:
        query = select(language_presets).where(language_presets.c.tenant_id == tenant_id)
        position = _after(language_presets, after)
        if position is not None:
            query = query.where(position)
        query = query.order_by(language_presets.c.created_at, language_presets.c.id).limit(limit)
        return [_preset(r) for r in (await self._session.execute(query)).all()]

    async def languages(self, tenant_id: str) -> list[str]:
        rows = await self._session.execute(
            select(language_presets.c.language)
            .where(language_presets.c.tenant_id == tenant_id)
            .distinct()
        )
        return [r[0] for r in rows.all()]


# --- intent keyword sets ------------------------------------------------------------------


def _set_row(ks: IntentKeywordSet) -> dict[str, Any]:
    return {
        "id": ks.id,
        "tenant_id": ks.tenant_id,
        "intent": ks.intent,
        "language": ks.language,
        "keywords": list(ks.keywords),
        "synonyms": [[k, list(s)] for k, s in ks.synonyms],
        "fuzzy": ks.fuzzy,
        "enabled": ks.enabled,
        "version": ks.version,
        "created_at": ks.created_at,
        "updated_at": ks.updated_at,
    }


def _set(row: Any) -> IntentKeywordSet:
    return IntentKeywordSet(
        id=row.id,
        tenant_id=row.tenant_id,
        intent=row.intent,
        language=row.language,
        keywords=tuple(row.keywords),
        synonyms=tuple((k, tuple(s)) for k, s in row.synonyms),
        fuzzy=row.fuzzy,
        enabled=row.enabled,
        created_at=_ts(row.created_at),
        updated_at=_ts(row.updated_at),
        version=row.version,
    )


# Read on every AnalyzeText: built once, run by key in the event loop on SQLite.
_REVISIONS = TenantRevisions(intent_revisions)


class SqlIntentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, keyword_set: IntentKeywordSet) -> None:
        await _insert(self._session, insert(intent_keyword_sets).values(**_set_row(keyword_set)))
        await self._bump(keyword_set.tenant_id)

    async def _bump(self, tenant_id: str) -> None:
        """A new revision of the tenant's sets, committed with the change that makes it."""
        await _REVISIONS.bump(self._session, tenant_id)

    async def revision(self, tenant_id: str) -> int:
        return await _REVISIONS.read(self._session, tenant_id)

    async def get(self, tenant_id: str, set_id: str) -> IntentKeywordSet | None:
        row = (
            await self._session.execute(
                select(intent_keyword_sets).where(
                    intent_keyword_sets.c.tenant_id == tenant_id,
                    intent_keyword_sets.c.id == set_id,
                )
            )
        ).first()
        return _set(row) if row else None

    async def save(self, keyword_set: IntentKeywordSet, *, expected_version: int) -> bool:
        values = _set_row(keyword_set)
        del values["id"], values["tenant_id"], values["created_at"]
        result = await self._session.execute(
            update(intent_keyword_sets)
            .where(
                intent_keyword_sets.c.tenant_id == keyword_set.tenant_id,
                intent_keyword_sets.c.id == keyword_set.id,
                intent_keyword_sets.c.version == expected_version,
            )
            .values(**values)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        await self._bump(keyword_set.tenant_id)
        return True

    async def delete(self, tenant_id: str, set_id: str) -> bool:
        result = await self._session.execute(
            delete(intent_keyword_sets).where(
                intent_keyword_sets.c.tenant_id == tenant_id, intent_keyword_sets.c.id == set_id
            )
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        await self._bump(tenant_id)
        return True

    async def page(
        self, tenant_id: str, *, intent: str, after: list[str], limit: int
    ) -> list[IntentKeywordSet]:
        query = select(intent_keyword_sets).where(intent_keyword_sets.c.tenant_id == tenant_id)
        if intent:
            query = query.where(intent_keyword_sets.c.intent == intent)
        position = _after(intent_keyword_sets, after)
        if position is not None:
            query = query.where(position)
        query = query.order_by(intent_keyword_sets.c.created_at, intent_keyword_sets.c.id).limit(
            limit
        )
        return [_set(r) for r in (await self._session.execute(query)).all()]

    async def enabled(self, tenant_id: str) -> list[IntentKeywordSet]:
        rows = await self._session.execute(
            select(intent_keyword_sets)
            .where(
                intent_keyword_sets.c.tenant_id == tenant_id,
                intent_keyword_sets.c.enabled.is_(True),
            )
            .order_by(intent_keyword_sets.c.created_at, intent_keyword_sets.c.id)
        )
        return [_set(r) for r in rows.all()]

    async def seed_applied(self, tenant_id: str, seed: str) -> bool:
        found = await self._session.scalar(
            select(tenant_seeds.c.seed).where(
                tenant_seeds.c.tenant_id == tenant_id, tenant_seeds.c.seed == seed
            )
        )
        return found is not None

    async def claim_seed(self, tenant_id: str, seed: str) -> bool:
        try:
            await _insert(
                self._session,
                insert(tenant_seeds).values(tenant_id=tenant_id, seed=seed, applied_at=utc_now()),
            )
        except DuplicateKey:
            return False
        return True


# --- translation memory -------------------------------------------------------------------


def _entry(row: Any) -> MemoryEntry:
    return MemoryEntry(
        tenant_id=row.tenant_id,
        engine=row.engine,
        source_language=row.source_language,
        target_language=row.target_language,
        source_hash=row.source_hash,
        source_text=row.source_text,
        translated_text=row.translated_text,
        hit_count=row.hit_count,
    )


def _entry_key(entry: MemoryEntry) -> ColumnElement[bool]:
    m = translation_memory.c
    return and_(
        m.tenant_id == entry.tenant_id,
        m.source_language == entry.source_language,
        m.target_language == entry.target_language,
        m.source_hash == entry.source_hash,
        m.engine == entry.engine,
    )


class SqlMemoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def find(
        self, tenant_id: str, source: str, target: str, source_hash: str, engines: Sequence[str]
    ) -> list[MemoryEntry]:
        m = translation_memory.c
        query = select(translation_memory).where(
            m.tenant_id == tenant_id,
            m.source_language == source,
            m.target_language == target,
            m.source_hash == source_hash,
        )
        if engines:
            query = query.where(m.engine.in_(list(engines)))
        return [_entry(r) for r in (await self._session.execute(query)).all()]

    async def put(self, entry: MemoryEntry) -> None:
        now = utc_now()
        try:
            await _insert(
                self._session,
                insert(translation_memory).values(
                    tenant_id=entry.tenant_id,
                    engine=entry.engine,
                    source_language=entry.source_language,
                    target_language=entry.target_language,
                    source_hash=entry.source_hash,
                    source_text=entry.source_text,
                    translated_text=entry.translated_text,
                    hit_count=0,
                    created_at=now,
                    last_used_at=now,
                ),
            )
        except DuplicateKey:  # written concurrently: keep the newest answer
            await self._session.execute(
                update(translation_memory)
                .where(_entry_key(entry))
                .values(translated_text=entry.translated_text, last_used_at=now)
            )

    async def record_hit(self, entry: MemoryEntry) -> None:
        await self._session.execute(
            update(translation_memory)
            .where(_entry_key(entry))
            .values(hit_count=translation_memory.c.hit_count + 1, last_used_at=utc_now())
        )

    async def count(
        self, tenant_id: str, source: str, target: str, *, hit: bool, characters_saved: int
    ) -> None:
        u = memory_usage.c
        where = and_(
            u.tenant_id == tenant_id, u.source_language == source, u.target_language == target
        )
        changes = (
            {
                "hit_count": u.hit_count + 1,
                "characters_saved": u.characters_saved + characters_saved,
            }
            if hit
            else {"miss_count": u.miss_count + 1}
        )
        for _attempt in range(2):
            result = await self._session.execute(
                update(memory_usage).where(where).values(**changes)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                return
            try:
                await _insert(
                    self._session,
                    insert(memory_usage).values(
                        tenant_id=tenant_id,
                        source_language=source,
                        target_language=target,
                        hit_count=1 if hit else 0,
                        miss_count=0 if hit else 1,
                        characters_saved=characters_saved if hit else 0,
                        start_time=utc_now(),
                    ),
                )
                return
            except DuplicateKey:
                continue  # created concurrently: update it

    async def usage(self, tenant_id: str) -> MemoryUsage:
        m, u = translation_memory.c, memory_usage.c
        entries = {
            (r.source_language, r.target_language): int(r.n)
            for r in (
                await self._session.execute(
                    select(m.source_language, m.target_language, func.count().label("n"))
                    .where(m.tenant_id == tenant_id)
                    .group_by(m.source_language, m.target_language)
                )
            ).all()
        }
        rows = (
            await self._session.execute(
                select(memory_usage)
                .where(u.tenant_id == tenant_id)
                .order_by(u.source_language, u.target_language)
            )
        ).all()
        pairs: list[PairUsage] = []
        seen: set[tuple[str, str]] = set()
        start: datetime | None = None
        for r in rows:
            key = (r.source_language, r.target_language)
            seen.add(key)
            stamp = as_utc(r.start_time)
            start = stamp if start is None or stamp < start else start
            pairs.append(
                PairUsage(
                    r.source_language,
                    r.target_language,
                    entries.get(key, 0),
                    int(r.hit_count),
                    int(r.miss_count),
                    int(r.characters_saved),
                )
            )
        pairs += [PairUsage(s, t, n) for (s, t), n in sorted(entries.items()) if (s, t) not in seen]
        return MemoryUsage(tuple(pairs), start)
