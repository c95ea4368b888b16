"""Rule management in SQL: versions, optimistic saves, deletes and filtered lists.

Every write records the version (``rule_versions``, the rules row's columns as
JSON) and bumps the tenant's rule revision in the same transaction, so the
engine's cache of enabled rules (``app/enabled_rules.py``) reads them again.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crosstalk_common.clock import as_utc
from crosstalk_common.db.keyset import past
from crosstalk_common.db.sqlite_one_trip import in_the_loop
from rules.adapters.repository import rule_from_row, rule_row
from rules.adapters.revisions import RuleRevisions
from rules.adapters.tables import rule_versions, rules
from rules.app.ports import RuleFilter
from rules.domain.model import Rule
from rules.domain.versions import RuleVersion

_ORDER = (rules.c.priority, rules.c.created_at, rules.c.id)


def _content(rule: Rule) -> dict[str, Any]:
    row = rule_row(rule)
    row["condition"] = base64.b64encode(row["condition"]).decode()
    for key in ("created_at", "updated_at"):
        row[key] = row[key].isoformat() if row[key] else None
    return row


def _from_content(content: dict[str, Any]) -> Rule:
    row = dict(content)
    row["condition"] = base64.b64decode(row["condition"])
    for key in ("created_at", "updated_at"):
        row[key] = datetime.fromisoformat(row[key]) if row[key] else None
    return rule_from_row(_Row(row))


class _Row(dict[str, Any]):
    """A stored version's content read like a rules row (a column it predates is None)."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


class SqlRuleVersions:
    def __init__(self, session: AsyncSession, revisions: RuleRevisions | None = None) -> None:
        self._session = session
        self._revisions = revisions or RuleRevisions(session)

    async def record(self, rule: Rule, *, author: str) -> None:
        await self._session.execute(
            insert(rule_versions).values(
                tenant_id=rule.tenant_id,
                rule_id=rule.id,
                version=rule.version,
                content=_content(rule),
                author=author,
                created_at=rule.updated_at,
            )
        )

    async def save(self, rule: Rule, *, expected_version: int, author: str) -> bool:
        values = rule_row(rule)
        for key in ("id", "tenant_id", "created_at", "creator"):
            del values[key]
        values["consecutive_failures"] = 0  # a new version starts afresh
        result = await self._session.execute(
            update(rules)
            .where(
                rules.c.tenant_id == rule.tenant_id,
                rules.c.id == rule.id,
                rules.c.version == expected_version,
            )
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        await self.record(rule, author=author)
        await self._revisions.bump(rule.tenant_id)
        return True

    async def delete(self, tenant_id: str, rule_id: str, *, expected_version: int) -> bool:
        result = await self._session.execute(
            delete(rules).where(
                rules.c.tenant_id == tenant_id,
                rules.c.id == rule_id,
                rules.c.version == expected_version,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        await self._revisions.bump(tenant_id)
        return True

    async def versions(
        self, tenant_id: str, rule_id: str, *, before: int | None, limit: int
    ) -> list[RuleVersion]:
        query = select(rule_versions).where(
            rule_versions.c.tenant_id == tenant_id, rule_versions.c.rule_id == rule_id
        )
        if before is not None:
            query = query.where(rule_versions.c.version < before)
        rows = await self._session.execute(
            query.order_by(rule_versions.c.version.desc()).limit(limit)
        )
        return [_version(row) for row in rows]

    async def version(self, tenant_id: str, rule_id: str, version: int) -> RuleVersion | None:
        row = (
            await self._session.execute(
                select(rule_versions).where(
                    rule_versions.c.tenant_id == tenant_id,
                    rule_versions.c.rule_id == rule_id,
                    rule_versions.c.version == version,
                )
            )
        ).first()
        return None if row is None else _version(row)

    async def listed(
        self, tenant_id: str, where: RuleFilter, *, after: list[str], limit: int
    ) -> list[Rule]:
        query = select(rules).where(rules.c.tenant_id == tenant_id)
        if where.trigger is not None:
            query = query.where(rules.c.trigger == where.trigger.value)
        if where.enabled is not None:
            query = query.where(rules.c.enabled.is_(where.enabled))
        if where.query.strip():
            text = where.query.strip().lower()
            query = query.where(
                or_(
                    func.lower(rules.c.display_name).contains(text, autoescape=True),
                    func.lower(rules.c.description).contains(text, autoescape=True),
                )
            )
        if where.tag.strip():
            label = f"|{where.tag.strip().lower()}|"
            query = query.where(rules.c.tag_labels.contains(label, autoescape=True))
        if after:
            priority, created, last_id = int(after[0]), datetime.fromisoformat(after[1]), after[2]
            query = query.where(past(list(_ORDER), [priority, created, last_id]))
        rows = await self._session.execute(query.order_by(*_ORDER).limit(limit))
        return [rule_from_row(r) for r in rows]

    async def claim_request(self, tenant_id: str, rule_id: str, request_id: str) -> bool:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    update(rules)
                    .where(rules.c.tenant_id == tenant_id, rules.c.id == rule_id)
                    .values(request_id=request_id)
                )
        except IntegrityError:
            return False
        return True

    async def by_request(self, tenant_id: str, request_id: str) -> Rule | None:
        row = (
            await self._session.execute(
                select(rules).where(
                    rules.c.tenant_id == tenant_id, rules.c.request_id == request_id
                )
            )
        ).first()
        return None if row is None else rule_from_row(row)

    async def note_action_outcome(self, tenant_id: str, rule_id: str, *, failed: bool) -> int:
        statement = _FAILED if failed else _SUCCEEDED
        found = await self._session.scalar(statement, {"tenant": tenant_id, "rule": rule_id})
        return int(found or 0)

    async def all_enabled(self, tenant_id: str) -> list[Rule]:
        rows = await self._session.execute(
            select(rules).where(rules.c.tenant_id == tenant_id, rules.c.enabled.is_(True))
        )
        return [rule_from_row(r) for r in rows]


# An action outcome counted on its rule, per outcome of the main job (issue 14): built
# once, run in the event loop on SQLite (the consumer's transaction holds the write
# lock). A success writes only when there were failures to forget: nearly always
# the count is 0 already, and SQLite then rewrites no row.
_MINE = (rules.c.tenant_id == bindparam("tenant"), rules.c.id == bindparam("rule"))
_FAILED = in_the_loop(
    update(rules)
    .where(*_MINE)
    .values(consecutive_failures=rules.c.consecutive_failures + 1)
    .returning(rules.c.consecutive_failures)
)
_SUCCEEDED = in_the_loop(
    update(rules)
    .where(*_MINE, rules.c.consecutive_failures != 0)
    .values(consecutive_failures=0)
    .returning(rules.c.consecutive_failures)
)


def _version(row: Any) -> RuleVersion:
    return RuleVersion(
        rule=_from_content(row.content),
        author=row.author,
        created_at=as_utc(row.created_at),
    )
