"""EnabledRules: a tenant's rules are compiled once per revision; a large set is
compiled in a worker thread, off the event loop, and gives the same verdicts."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from crosstalk_common.conditions.model import Leaf, Op
from rules.app import enabled_rules
from rules.app.enabled_rules import EnabledRules
from rules.app.matcher import CompiledRules
from rules.domain.actions import AddTag
from rules.domain.model import Rule, Trigger
from services.rules.tests.fakes import FakeRules

TENANT = "t1"
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def _rule(n: int) -> Rule:
    return Rule(
        id=f"r{n:03d}",
        tenant_id=TENANT,
        display_name=f"rule {n}",
        trigger=Trigger.MESSAGE_RECEIVED,
        condition=Leaf("message.text", Op.MATCHES_KEYWORDS, (f"word{n}",)),
        actions=(AddTag((f"tag{n}",)),),
        priority=n,
        created_at=NOW,
    )


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of the thread each compiled rule set was built in."""
    built: list[str] = []

    class Recorded(CompiledRules):
        def __init__(self, rules: Any) -> None:
            built.append(threading.current_thread().name)
            super().__init__(rules)

    monkeypatch.setattr(enabled_rules, "CompiledRules", Recorded)
    monkeypatch.setattr(enabled_rules, "COMPILE_IN_A_THREAD_FROM", 5)
    return built


async def test_a_large_rule_set_is_compiled_in_a_worker_thread(threads: list[str]) -> None:
    repository = FakeRules(*(_rule(n) for n in range(8)))
    cache = EnabledRules()
    compiled = await cache.of(repository, TENANT, Trigger.MESSAGE_RECEIVED)
    assert threads
    assert threads[0] != threading.main_thread().name
    assert [r.id for r in compiled.rules] == [f"r{n:03d}" for n in range(8)]
    [hit] = [e for e in compiled.evaluate({"message.text": "about word3"}, now=NOW) if e.matched]
    assert hit.rule.id == "r003"
    again = await cache.of(repository, TENANT, Trigger.MESSAGE_RECEIVED)
    assert again is compiled
    assert len(threads) == 1
    await repository.add(_rule(9))
    newer = await cache.of(repository, TENANT, Trigger.MESSAGE_RECEIVED)
    assert len(newer.rules) == 9
    assert len(threads) == 2


async def test_a_small_rule_set_is_compiled_in_the_loop(threads: list[str]) -> None:
    repository = FakeRules(*(_rule(n) for n in range(4)))
    await EnabledRules().of(repository, TENANT, Trigger.MESSAGE_RECEIVED)
    assert threads == [threading.main_thread().name]
