"""Rule management: create, change, version, roll back, enable, disable, delete, list.

Every change is a new version (``rules.domain.versions``), written with the
rule and the tenant's rule revision in one unit of work, so the engine's cache
(``app/enabled_rules.py``) sees it on its next event. A rule is checked before
it is saved: its shape and limits (``rules.domain.validation``), its condition
against the trigger's facts (``ConditionReader``), the reply templates it names
(messaging) and the saved segments it uses (customers, whose conditions are
copied in with their version). The conflict check then compares it with the
tenant's other enabled rules and returns warnings with the saved rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from crosstalk_common.api.etags import check_etag
from crosstalk_common.clock import utc_now
from crosstalk_common.conditions.model import Node
from crosstalk_common.errors import Aborted, FieldViolation, InvalidArgument, NotFound
from crosstalk_common.unit_of_work import UnitOfWorkFactory
from rules.app.ports import (
    ConditionReader,
    RuleFilter,
    SegmentCondition,
    SegmentDirectory,
    TemplateDirectory,
    UnitOfWork,
)
from rules.app.use_cases import RESOURCE, rule_name
from rules.domain.actions import ReplyWithTemplate
from rules.domain.conflicts import Conflict, conflicts_with
from rules.domain.model import Rule, SegmentRef
from rules.domain.segments import inline_segments, segment_id_of, segment_leaves
from rules.domain.validation import RuleLimits, rule_problems
from rules.domain.versions import RuleVersion, next_version, rolled_back

VERSION_RESOURCE = "crosstalk.io/RuleVersion"


@dataclass(frozen=True)
class SavedRule:
    """A rule as saved, with what the conflict check found."""

    rule: Rule
    warnings: tuple[Conflict, ...] = ()


@dataclass(frozen=True)
class Draft:
    """A rule as a client sent it: ``condition_blob`` is read against the trigger's
    facts by the use case (the trigger may change in the same request)."""

    rule: Rule


@dataclass
class RuleManagement:
    new_uow: UnitOfWorkFactory[UnitOfWork]
    read_condition: ConditionReader
    segments: SegmentDirectory
    templates: TemplateDirectory
    limits: RuleLimits = field(default_factory=RuleLimits)
    clock: Callable[[], datetime] = utc_now

    # --- writes ---------------------------------------------------------------------------

    async def create(self, draft: Rule, *, author: str, request_id: str = "") -> SavedRule:
        """A new rule (version 1). A repeated ``request_id`` returns the rule the
        first request made, as it is now, and writes nothing."""
        if request_id:
            async with self.new_uow() as uow:
                first = await uow.rule_versions.by_request(draft.tenant_id, request_id)
            if first is not None:
                return SavedRule(first)
        now = self.clock()
        rule = replace(
            draft,
            id=str(uuid.uuid4()),
            version=1,
            creator=author,
            created_at=now,
            updated_at=now,
        )
        rule = await self.prepare(rule)
        async with self.new_uow() as uow:
            warnings = await self._conflicts(uow, rule)
            await uow.rules.add(rule)
            await uow.rule_versions.record(rule, author=author)
            if request_id and not await uow.rule_versions.claim_request(
                rule.tenant_id, rule.id, request_id
            ):
                first = await uow.rule_versions.by_request(rule.tenant_id, request_id)
                assert first is not None  # held by a rule committed before this one
                return SavedRule(first)  # this unit is rolled back: nothing written
            await uow.commit()
        return SavedRule(rule, warnings)

    async def update(
        self,
        tenant_id: str,
        rule_id: str,
        changes: Mapping[str, Any],
        etag: str,
        *,
        author: str,
    ) -> SavedRule:
        """``changes``: Rule attributes to replace (the mapped update mask)."""
        current = await self._current(tenant_id, rule_id, etag)
        # Checked again as a whole (prepare): the condition is read against the
        # (maybe new) trigger and its saved segments are copied again.
        changed = replace(current, **changes)
        return await self._save(current, next_version(current, changed, self.clock()), author)

    async def rollback(
        self, tenant_id: str, rule_id: str, version: int, etag: str, *, author: str
    ) -> SavedRule:
        current = await self._current(tenant_id, rule_id, etag)
        if current.version == 1:
            raise InvalidArgument.field("version", "the rule has no earlier version yet")
        if version < 1 or version >= current.version:
            raise InvalidArgument.field(
                "version", f"must be an earlier version of the rule (1 to {current.version - 1})"
            )
        async with self.new_uow() as uow:
            earlier = await uow.rule_versions.version(tenant_id, rule_id, version)
        if earlier is None:
            raise NotFound(VERSION_RESOURCE, f"{rule_name(rule_id)}/versions/{version}")
        restored = rolled_back(current, earlier.rule, self.clock())
        return await self._save(current, restored, author)

    async def set_enabled(
        self, tenant_id: str, rule_id: str, enabled: bool, etag: str, *, author: str
    ) -> SavedRule:
        current = await self._current(tenant_id, rule_id, etag)
        if current.enabled == enabled:
            return SavedRule(current)
        changed = next_version(current, replace(current, enabled=enabled), self.clock())
        if not enabled:  # nothing to check: the content did not change
            return await self._write(current, changed, author, ())
        return await self._save(current, changed, author, check=False)

    async def delete(self, tenant_id: str, rule_id: str, etag: str) -> None:
        current = await self._current(tenant_id, rule_id, etag)
        async with self.new_uow() as uow:
            if not await uow.rule_versions.delete(
                tenant_id, rule_id, expected_version=current.version
            ):
                raise Aborted.etag_mismatch(rule_name(rule_id))
            await uow.commit()

    # --- reads ----------------------------------------------------------------------------

    async def get(self, tenant_id: str, rule_id: str) -> Rule:
        async with self.new_uow() as uow:
            rule = await uow.rules.get(tenant_id, rule_id)
        if rule is None:
            raise NotFound(RESOURCE, rule_name(rule_id))
        return rule

    async def page(
        self, tenant_id: str, where: RuleFilter, *, after: list[str], limit: int
    ) -> list[Rule]:
        async with self.new_uow() as uow:
            return await uow.rule_versions.listed(tenant_id, where, after=after, limit=limit)

    async def versions(
        self, tenant_id: str, rule_id: str, *, before: int | None, limit: int
    ) -> list[RuleVersion]:
        async with self.new_uow() as uow:
            if await uow.rules.get(tenant_id, rule_id) is None:
                raise NotFound(RESOURCE, rule_name(rule_id))
            return await uow.rule_versions.versions(tenant_id, rule_id, before=before, limit=limit)

    # --- checks ---------------------------------------------------------------------------

    async def prepare(self, rule: Rule) -> Rule:
        """``rule`` checked, its condition read against its trigger's facts and its
        saved segments copied in; INVALID_ARGUMENT naming every problem found."""
        problems = rule_problems(rule, self.limits)
        node: Node | None = None
        try:
            node = self.read_condition(
                rule.condition_blob,
                rule.trigger,
                field_path="rule.condition",
                max_conditions=self.limits.max_conditions,
            )
        except InvalidArgument as exc:
            problems.extend(exc.violations)
        copied: dict[str, SegmentCondition] = {}
        for path, leaf in segment_leaves(node):
            segment_id = segment_id_of(str(leaf.values[0]))
            if segment_id in copied:
                continue
            try:
                copied[segment_id] = await self.segments.condition(
                    rule.tenant_id, segment_id, field_path=f"rule.condition{path}[0]"
                )
            except NotFound:
                problems.append(
                    FieldViolation(
                        f"rule.condition{path}[0]",
                        f"no saved segment segments/{segment_id} (or the caller cannot see it)",
                    )
                )
            except InvalidArgument as exc:
                problems.extend(exc.violations)
        for i, action in enumerate(rule.actions):
            if isinstance(action, ReplyWithTemplate) and not await self.templates.exists(
                rule.tenant_id, action.template
            ):
                problems.append(
                    FieldViolation(
                        f"rule.actions[{i}].reply_with_template.template",
                        f"no reply template {action.template!r}",
                    )
                )
        if problems:
            raise InvalidArgument(problems)
        return replace(
            rule,
            condition=inline_segments(node, {k: v.condition for k, v in copied.items()}),
            segments=tuple(
                SegmentRef(c.segment_id, c.version, c.condition_blob) for c in copied.values()
            ),
        )

    async def _current(self, tenant_id: str, rule_id: str, etag: str) -> Rule:
        current = await self.get(tenant_id, rule_id)
        check_etag(etag, current.etag, rule_name(rule_id))
        return current

    async def _save(
        self, current: Rule, changed: Rule, author: str, *, check: bool = True
    ) -> SavedRule:
        if check:
            changed = await self.prepare(changed)
        async with self.new_uow() as uow:
            warnings = await self._conflicts(uow, changed)
        return await self._write(current, changed, author, warnings)

    async def _write(
        self, current: Rule, changed: Rule, author: str, warnings: tuple[Conflict, ...]
    ) -> SavedRule:
        async with self.new_uow() as uow:
            if not await uow.rule_versions.save(
                changed, expected_version=current.version, author=author
            ):
                raise Aborted.etag_mismatch(rule_name(current.id))
            await uow.commit()
        return SavedRule(changed, warnings)

    async def _conflicts(self, uow: UnitOfWork, rule: Rule) -> tuple[Conflict, ...]:
        others = await uow.rule_versions.all_enabled(rule.tenant_id)
        return tuple(conflicts_with(rule, others))
