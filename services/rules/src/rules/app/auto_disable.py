"""Auto-disable (core_loop §5): a rule whose actions fail N times in a row is
disabled, as a new version, and its owners are told (``rule.disabled``, which
messaging's notification helper turns into notifications).

Every action outcome the services report back (``rule.action.completed``,
``customer.rule_action_completed``, rules' own webhooks) is counted on the
rule: a failure adds one, a success resets the count, a skip changes
nothing, and so does a new version of the rule (it starts afresh).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from rules.app.ports import UnitOfWork
from rules.domain.events import RuleAutoDisabled
from rules.domain.versions import next_version

DEFAULT_FAILURES = 5
SYSTEM_AUTHOR = ""  # versions made by rules itself name no member


@dataclass
class AutoDisable:
    """How many failed outcomes in a row disable a rule (0: never)."""

    failures: int = DEFAULT_FAILURES


# The service's policy, set once at start (bootstrap, RULES_AUTO_DISABLE_FAILURES).
POLICY = AutoDisable()


async def count_action_outcome(
    uow: UnitOfWork,
    tenant_id: str,
    rule_id: str,
    *,
    failed: bool,
    error: str,
    run_id: str,
    now: datetime,
    policy: AutoDisable | None = None,
) -> RuleAutoDisabled | None:
    """Count one outcome (in ``uow``, not committed); disable the rule and stage
    ``rule.disabled`` when it reaches the policy's failures in a row."""
    limit = (policy or POLICY).failures
    failures = await uow.rule_versions.note_action_outcome(tenant_id, rule_id, failed=failed)
    if not failed or limit <= 0 or failures < limit:
        return None
    rule = await uow.rules.get(tenant_id, rule_id)
    if rule is None or not rule.enabled:
        return None
    disabled = next_version(rule, replace(rule, enabled=False), now)
    if not await uow.rule_versions.save(
        disabled, expected_version=rule.version, author=SYSTEM_AUTHOR
    ):
        return None
    event = RuleAutoDisabled(
        rule_id=rule.id,
        rule_version=disabled.version,
        display_name=rule.display_name,
        failures=failures,
        last_error=error,
        run_id=run_id,
        owners=(rule.creator,) if rule.creator else (),
    )
    await uow.emit(tenant_id, event)
    return event
