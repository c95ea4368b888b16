"""Rule management's settings, from the environment.

``RULES_MAX_CONDITIONS``: leaves a rule's condition may hold (default 50).
``RULES_WEBHOOK_LOOPBACK_HTTP``: webhooks to http://localhost or a loopback
address are accepted; true by default in dev (``CROSSTALK_ENV=dev``), false
otherwise, and refused outside dev.
``RULES_AUTO_DISABLE_FAILURES``: failed action outcomes in a row that disable a
rule (default 5; 0 never disables).
``CROSSTALK_EGRESS_ALLOW``: addresses a webhook may reach besides public ones
(``crosstalk_common.egress``; empty by default). A loopback webhook in dev needs
both this and ``RULES_WEBHOOK_LOOPBACK_HTTP``.
"""

from __future__ import annotations

from collections.abc import Mapping

from crosstalk_common.config import MissingSetting, parse_bool
from crosstalk_common.egress import EgressPolicy
from rules.domain.validation import RuleLimits

DEFAULT_MAX_CONDITIONS = 50


def rule_limits_from_env(env: Mapping[str, str]) -> RuleLimits:
    dev = env.get("CROSSTALK_ENV", "dev") == "dev"
    problems = []
    text = env.get("RULES_MAX_CONDITIONS", "") or str(DEFAULT_MAX_CONDITIONS)
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        problems.append(f"RULES_MAX_CONDITIONS must be a number from 1 to 1000, got {text!r}")
        text = str(DEFAULT_MAX_CONDITIONS)
    loopback_text = env.get("RULES_WEBHOOK_LOOPBACK_HTTP", "") or ("true" if dev else "false")
    try:
        loopback = parse_bool(loopback_text)
    except ValueError:
        problems.append(f"RULES_WEBHOOK_LOOPBACK_HTTP must be true or false, got {loopback_text!r}")
        loopback = False
    if loopback and not dev:
        problems.append("RULES_WEBHOOK_LOOPBACK_HTTP may only be true in dev")
    if problems:
        raise MissingSetting("; ".join(problems))
    return RuleLimits(
        max_conditions=int(text), allow_loopback_http=loopback, egress=EgressPolicy.from_env(env)
    )


def auto_disable_failures_from_env(env: Mapping[str, str]) -> int:
    text = env.get("RULES_AUTO_DISABLE_FAILURES", "") or "5"
    if not text.isdigit() or int(text) > 10_000:
        raise MissingSetting(
            f"RULES_AUTO_DISABLE_FAILURES must be a number from 0 to 10000, got {text!r}"
        )
    return int(text)
