"""What a rule must satisfy to be saved, beyond its shape (``Rule.validate``).

Every problem is a field violation on the path a client sent
(``rule.time_trigger.cron``, ``rule.actions[2].call_webhook.url``), all of
them in one INVALID_ARGUMENT. Conditions are checked against the fact
catalogue where they are read (``rules.domain.facts.allowed_fields``, with the
tenant's limit on conditions); reply templates and segments are checked by the
use case, which asks their owners.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crosstalk_common.api.resource_names import names_one
from crosstalk_common.cron import cron_problem as kit_cron_problem
from crosstalk_common.egress import PUBLIC_ONLY, EgressPolicy, is_local_name, literal_address
from crosstalk_common.errors import FieldViolation, InvalidArgument
from rules.domain.actions import Action, Assign, CallWebhook, Escalate, Notify
from rules.domain.model import Rule, Trigger

MAX_DESCRIPTION_LENGTH = 2000
MAX_DELAY_SECONDS = 400 * 24 * 3600
_DELAYED = (Trigger.NO_REPLY_TIMEOUT, Trigger.CASE_OPEN_TIMEOUT)
# The id in "members/{id}" or "groups/{id}": no blank (and, as any id, no "/").
_NO_BLANK = re.compile(r"\S+")


@dataclass(frozen=True)
class RuleLimits:
    """Settings that bound what a rule may hold."""

    # Leaves a rule's condition may hold (RULES_MAX_CONDITIONS).
    max_conditions: int = 50
    # Webhooks to http://localhost or a loopback address (dev only).
    allow_loopback_http: bool = False
    # Where a webhook may point: public addresses, plus the operator's exceptions.
    egress: EgressPolicy = PUBLIC_ONLY


def rule_problems(rule: Rule, limits: RuleLimits) -> list[FieldViolation]:
    problems: list[FieldViolation] = []
    try:
        rule.validate()
    except InvalidArgument as exc:
        problems.extend(exc.violations)
    if len(rule.description) > MAX_DESCRIPTION_LENGTH:
        problems.append(
            FieldViolation(
                "rule.description", f"must be at most {MAX_DESCRIPTION_LENGTH:,} characters"
            )
        )
    problems.extend(time_trigger_problems(rule))
    for i, action in enumerate(rule.actions):
        problems.extend(assignee_problems(action, f"rule.actions[{i}]"))
        if isinstance(action, CallWebhook):
            problem = webhook_url_problem(
                action.url, allow_loopback_http=limits.allow_loopback_http, egress=limits.egress
            )
            if problem:
                problems.append(FieldViolation(f"rule.actions[{i}].call_webhook.url", problem))
    return problems


def check_rule(rule: Rule, limits: RuleLimits) -> None:
    """INVALID_ARGUMENT naming every problem of ``rule``, if it has any."""
    problems = rule_problems(rule, limits)
    if problems:
        raise InvalidArgument(problems)


def time_trigger_problems(rule: Rule) -> list[FieldViolation]:
    timer = rule.time_trigger
    path = "rule.time_trigger"
    if rule.trigger in _DELAYED:
        if timer is None or timer.delay_seconds <= 0:
            return [FieldViolation(f"{path}.delay", "a timer trigger needs a positive delay")]
        if timer.delay_seconds > MAX_DELAY_SECONDS:
            return [FieldViolation(f"{path}.delay", "must be at most 400 days")]
        if timer.cron:
            return [FieldViolation(f"{path}.cron", "only TRIGGER_SCHEDULE takes a cron expression")]
        return []
    if rule.trigger is Trigger.SCHEDULE:
        problems = []
        cron = timer.cron if timer else ""
        problem = cron_problem(cron)
        if problem:
            problems.append(FieldViolation(f"{path}.cron", problem))
        if timer and timer.time_zone and not _is_time_zone(timer.time_zone):
            problems.append(
                FieldViolation(
                    f"{path}.time_zone",
                    f"unknown IANA time zone {timer.time_zone!r}, e.g. Europe/Berlin",
                )
            )
        if timer and timer.delay_seconds:
            problems.append(FieldViolation(f"{path}.delay", "TRIGGER_SCHEDULE takes no delay"))
        return problems
    if timer is not None and (timer.delay_seconds or timer.cron or timer.time_zone):
        return [
            FieldViolation(
                path,
                "only the timer triggers (NO_REPLY_TIMEOUT, CASE_OPEN_TIMEOUT, SCHEDULE) take one",
            )
        ]
    return []


def assignee_problems(action: Action, path: str) -> list[FieldViolation]:
    """The members and groups an action names are "members/{id}" and "groups/{id}",
    and an assign names one of them: messaging cannot act on anything else (an assign
    or escalation fails, a notification skips the name), so a rule saved with one
    would fail every time it fires."""
    named: list[tuple[str, str, str]] = []  # (field, name, collection); "" names none
    if isinstance(action, Assign):
        if not action.member and not action.group:
            return [FieldViolation(f"{path}.assign", "name a member or a group to assign to")]
        named = [
            (f"{path}.assign.member", action.member, "members"),
            (f"{path}.assign.group", action.group, "groups"),
        ]
    elif isinstance(action, Escalate):
        named = [
            (f"{path}.escalate.member", action.member, "members"),
            (f"{path}.escalate.group", action.group, "groups"),
        ]
    elif isinstance(action, Notify):
        named = [
            (f"{path}.notify.members[{j}]", member or " ", "members")
            for j, member in enumerate(action.members)
        ]
    return [
        FieldViolation(field, f"must look like '{collection}/{{id}}'")
        for field, name, collection in named
        if name and not names_one(name, collection, id_pattern=_NO_BLANK)
    ]


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a five-field cron expression that fires, or None."""
    if not expression.split():
        return 'TRIGGER_SCHEDULE needs a cron expression, e.g. "0 9 * * MON"'
    return kit_cron_problem(expression)


def webhook_url_problem(
    url: str, *, allow_loopback_http: bool, egress: EgressPolicy = PUBLIC_ONLY
) -> str | None:
    """Why a webhook may not call ``url``, or None: https only, plain http to a
    loopback host only when allowed (dev); a host written as an address (or
    ``localhost``) must be one ``egress`` allows (names are checked when called)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return f"{url!r} is not a URL"
    if not host:
        return "must be an absolute https URL, e.g. https://example.com/hook"
    if parts.username or parts.password:
        return "must not carry credentials; sign requests with the tenant's webhook secret"
    if parts.scheme in ("http", "https") and (problem := egress.url_problem(parts)):
        return problem
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and allow_loopback_http and _is_loopback(host):
        return None
    if parts.scheme == "http" and _is_loopback(host):
        return "must be https (plain http to loopback is allowed in dev only)"
    return "must be https"


def _is_loopback(host: str) -> bool:
    """A loopback address, or ``localhost`` (and names under it), as egress reads them."""
    address = literal_address(host)
    return address.is_loopback if address is not None else is_local_name(host)


def _is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True
