"""The translation service's own database schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from crosstalk_common.db.event_tables import inbox_table, outbox_table

metadata = MetaData()

glossary_terms = Table(
    "glossary_terms",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("source_text", String(200), nullable=False),
    # source_text case-folded unless the term is case sensitive: what makes two terms one
    Column("source_key", String(200), nullable=False),
    Column("target_text", String(200), nullable=False, default=""),
    Column("source_language", String(35), nullable=False, default=""),
    Column("target_language", String(35), nullable=False, default=""),
    Column("case_sensitive", Boolean, nullable=False, default=False),
    Column("note", Text, nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint(
        "tenant_id", "source_key", "source_language", "target_language", name="uq_glossary_term"
    ),
)
Index(
    "ix_glossary_terms_tenant_created",
    glossary_terms.c.tenant_id,
    glossary_terms.c.created_at,
    glossary_terms.c.id,
)

language_presets = Table(
    "language_presets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("market", String(64), nullable=False),
    Column("market_key", String(64), nullable=False),
    Column("language", String(35), nullable=False),
    Column("formality", String(20), nullable=False, default="UNSPECIFIED"),
    Column("time_zone", String(64), nullable=False, default=""),
    Column("display_name", String(200), nullable=False, default=""),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant_id", "market_key", name="uq_language_preset_market"),
)
Index(
    "ix_language_presets_tenant_created",
    language_presets.c.tenant_id,
    language_presets.c.created_at,
    language_presets.c.id,
)

intent_keyword_sets = Table(
    "intent_keyword_sets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("intent", String(63), nullable=False),
    Column("language", String(35), nullable=False, default=""),
    Column("keywords", JSON, nullable=False),
    # [[keyword, [synonym, ...]], ...]
    Column("synonyms", JSON, nullable=False),
    Column("fuzzy", Boolean, nullable=False, default=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index(
    "ix_intent_keyword_sets_tenant_created",
    intent_keyword_sets.c.tenant_id,
    intent_keyword_sets.c.created_at,
    intent_keyword_sets.c.id,
)

# A tenant's intent keyword sets change only with a new revision (bumped in the same
# transaction), so a replica keeps its compiled matcher until the revision moves.
intent_revisions = Table(
    "intent_revisions",
    metadata,
    Column("tenant_id", String(36), primary_key=True),
    Column("revision", BigInteger, nullable=False),
)

# Seeds applied to a tenant once (default intent keyword sets), so deleting them sticks.
tenant_seeds = Table(
    "tenant_seeds",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("seed", String(100), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "seed", name="pk_tenant_seeds"),
)

# One engine output per tenant, engine, pair and (placeholder-protected) source text.
translation_memory = Table(
    "translation_memory",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("engine", String(100), nullable=False),
    Column("source_language", String(35), nullable=False),
    Column("target_language", String(35), nullable=False),
    Column("source_hash", String(64), nullable=False),
    Column("source_text", Text, nullable=False),
    Column("translated_text", Text, nullable=False),
    Column("hit_count", BigInteger, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint(
        "tenant_id",
        "source_language",
        "target_language",
        "source_hash",
        "engine",
        name="pk_translation_memory",
    ),
)

# Hits and misses of the memory per tenant and pair (what GetMemoryStats reports).
memory_usage = Table(
    "memory_usage",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("source_language", String(35), nullable=False),
    Column("target_language", String(35), nullable=False),
    Column("hit_count", BigInteger, nullable=False, default=0),
    Column("miss_count", BigInteger, nullable=False, default=0),
    Column("characters_saved", BigInteger, nullable=False, default=0),
    Column("start_time", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "source_language", "target_language", name="pk_memory_usage"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
