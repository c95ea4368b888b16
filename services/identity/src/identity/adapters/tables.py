"""The identity service's own database schema."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
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

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("industry", String(100), nullable=False),
    Column("team_size", Integer, nullable=False),
    Column("working_language", String(35), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

tenant_settings = Table(
    "tenant_settings",
    metadata,
    Column("tenant_id", String(36), ForeignKey("tenants.id"), primary_key=True),
    Column("max_filter_conditions", Integer, nullable=False),
    Column("include_sub_departments", Boolean, nullable=False),
    Column("default_time_zone", String(64), nullable=False),
    Column("access_token_ttl_seconds", Integer, nullable=False),
    Column("refresh_token_ttl_seconds", Integer, nullable=False),
    Column("min_password_length", Integer, nullable=False),
    Column("dormancy_period_seconds", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)

# Built-in roles have the template's id ("admin", ...) in every tenant, so a
# role is keyed by (tenant_id, id).
roles = Table(
    "roles",
    metadata,
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("id", String(36), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("description", String(500), nullable=False),
    Column("permissions", JSON, nullable=False),
    Column("data_scope", String(20), nullable=False),
    Column("include_sub_departments", Boolean, nullable=False),
    Column("built_in", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id", name="pk_roles"),
    UniqueConstraint("tenant_id", "display_name", name="uq_roles_tenant_display_name"),
)

departments = Table(
    "departments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("parent_id", String(36), ForeignKey("departments.id"), nullable=True),
    Column("display_name", String(100), nullable=False),
    Column("manager_id", String(36), nullable=True),
    Column("sort_order", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)
Index("ix_departments_tenant_parent", departments.c.tenant_id, departments.c.parent_id)

members = Table(
    "members",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False, index=True),
    # Sign-in is by email, so an email belongs to one member across tenants.
    Column("email", String(320), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role_id", String(36), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("phone", String(40), nullable=False, server_default=""),
    Column(
        "department_id",
        String(36),
        ForeignKey("departments.id", name="fk_members_department"),
        nullable=True,
    ),
    Column("languages", JSON, nullable=False),
    Column("state", String(20), nullable=False, server_default="active"),
    Column("time_zone", String(64), nullable=False, server_default=""),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_login_at", DateTime(timezone=True), nullable=True),
    Column("version", Integer, nullable=False, server_default="1"),
    # Most open conversations assigned at once, 0: no limit (migration 0004).
    Column("capacity", Integer, nullable=False, server_default="0"),
    # available | away | offline
    Column("availability", String(10), nullable=False, server_default="available"),
    ForeignKeyConstraint(
        ["tenant_id", "role_id"], ["roles.tenant_id", "roles.id"], name="fk_members_role"
    ),
)
Index("ix_members_tenant_created", members.c.tenant_id, members.c.created_at, members.c.id)
Index("ix_members_department", members.c.department_id)

groups = Table(
    "groups",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), ForeignKey("tenants.id"), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("leader_id", String(36), nullable=True),
    Column("permissions", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)
Index("ix_groups_tenant_created", groups.c.tenant_id, groups.c.created_at, groups.c.id)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(36), ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
    Column("member_id", String(36), ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    PrimaryKeyConstraint("group_id", "member_id", name="pk_group_members"),
)
Index("ix_group_members_member", group_members.c.member_id)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("member_id", String(36), ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("user_agent", String(500), nullable=False),
    Column("ip_address", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_refresh_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("revoke_reason", String(100), nullable=False),
)
Index("ix_sessions_member", sessions.c.tenant_id, sessions.c.member_id, sessions.c.created_at)

# One row per refresh token ever issued: its SHA-256, never the token.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(36), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False),
    Column("tenant_id", String(36), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
)
Index("ix_refresh_tokens_session", refresh_tokens.c.session_id)

# Failed sign-ins per email, keyed by the email's SHA-256 (unknown emails too).
login_attempts = Table(
    "login_attempts",
    metadata,
    Column("email_key", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("last_failure_at", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("display_name", String(100), nullable=False),
    Column("role_id", String(36), nullable=False),
    Column("key_prefix", String(20), nullable=False),
    # SHA-256 of the secret, never the secret.
    Column("secret_hash", String(64), nullable=False),
    Column("creator", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    ForeignKeyConstraint(
        ["tenant_id", "role_id"], ["roles.tenant_id", "roles.id"], name="fk_api_keys_role"
    ),
)
Index("ix_api_keys_tenant_created", api_keys.c.tenant_id, api_keys.c.created_at, api_keys.c.id)

# Ed25519 keys that sign access tokens (platform-wide, not per tenant). The
# private key is sealed with the KEK (crosstalk_common.secrets, ADR 0015).
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_key", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("activate_at", DateTime(timezone=True), nullable=False),
    Column("retired_at", DateTime(timezone=True), nullable=True),
)

# Append-only: no RPC updates or deletes a row.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target", String(300), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("ip_address", String(100), nullable=False),
    Column("trace_id", String(32), nullable=False),
)
Index(
    "ix_audit_events_tenant_time",
    audit_events.c.tenant_id,
    audit_events.c.event_time,
    audit_events.c.id,
)

# Results of requests carrying a request_id, so that a retry gets the first result.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(36), nullable=False),
    Column("operation", String(50), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "operation", "request_id", name="pk_idempotency_keys"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
