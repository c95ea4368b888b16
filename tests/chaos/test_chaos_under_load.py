"""Chaos under load (issue 19): faults while the main job runs, and nothing lost or doubled.

While messages are ingested through Envoy at a steady rate (``harness.open_loop``),
each test does one thing to the platform:

- kill -9 NATS, and start it again on the same store;
- kill -9 rules, customers and messaging (one test each), and start it again;
- restart PostgreSQL (the PostgreSQL run, on a cluster of the tests' own);
- fill JetStream's file store to its limit (``max_file_store``), then free it.

Then, for that fault's messages: every one Envoy accepted (200) is stored once, its
rule fired once (one run, one tag, one ``customer.tagged`` event, one score change,
one note), every timer fired once (each web chat conversation's "no agent reply"
timer: one run, one score change, one note; none for the e-mail ones:
tests/chaos/timers.py), every consumer's lag is back to 0, and the gateway answered
every request with 200, 429 or 503 in time (a client timeout is a failure, never a
hang). The figures go into the table printed at the end of the run
(``conftest.chaos_table``).

``make chaos`` runs the long profile (``CROSSTALK_CHAOS_PROFILE=long``); the suite
(CI) runs the short one.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import httpx
import nats
import pytest

from tests.chaos.conftest import VERDICTS, Chaos
from tests.chaos.harness import (
    LoadRun,
    NatsStoreFiller,
    Verdict,
    lag_left,
    lag_of,
    missing_and_doubled,
    new_prefix,
    open_loop,
    watch_recovery,
)
from tests.chaos.timers import timers_missing_and_doubled
from tests.e2e.rest import login

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

Step = Callable[[], Awaitable[object]]
# Longer than a consumer's ack wait (30 s), so a delivery lost in the fault is redelivered.
LAG_SETTLES_WITHIN = 40.0
_ADDRESS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}:\d+|\[[0-9a-f:]+\]:\d+", re.IGNORECASE)
# After the heal (a restarted service answers its health check), its callers reach it
# within a second (the kit's reconnect backoff); the rest is slack for a busy machine.
BACK_WITHIN = 3.0


async def _under_load(chaos: Chaos, fault: str, inject: Step, heal: Step) -> Verdict:
    """Load for the profile's time; the fault a quarter in, healed after its down time."""
    profile, stack = chaos.profile, chaos.stack
    with httpx.Client(base_url=stack.config.gateway_url, timeout=30) as http:
        token = login(http, chaos.tenant.email)["accessToken"]  # a fresh 15 min token
    run = LoadRun(fault, new_prefix(fault))
    loop = asyncio.get_running_loop()
    nc = await nats.connect(
        stack.config.nats_url, name="chaos-lag", max_reconnect_attempts=-1, reconnect_time_wait=0.5
    )
    async with httpx.AsyncClient(
        base_url=stack.config.gateway_url,
        headers={"authorization": f"Bearer {token}"},
        timeout=profile.timeout,
        limits=httpx.Limits(max_connections=400, max_keepalive_connections=100),
    ) as client:
        load = asyncio.create_task(
            open_loop(
                client,
                run,
                rate=profile.rate,
                seconds=profile.load_seconds,
                timeout=profile.timeout,
            )
        )
        try:
            await asyncio.sleep(profile.load_seconds / 4)
            faulted = loop.time()
            await inject()
            await asyncio.sleep(max(0.0, profile.down_seconds - (loop.time() - faulted)))
            await heal()
            healed = loop.time()
            recovered = await watch_recovery(
                chaos.audit, run, nc, healed, load.done, profile.recovery_limit
            )
            await load
        finally:
            if not load.done():
                load.cancel()
    # Everything accepted has had its chance: the whole run must now be in place, and
    # every timer due (the last ones a few seconds after the load) must have fired.
    deadline = loop.time() + profile.recovery_limit
    while True:
        effects = await asyncio.to_thread(chaos.audit.effects, run.prefix)
        lost, doubled = missing_and_doubled(run, effects, run.accepted)
        timer_effects = await asyncio.to_thread(chaos.audit.timer_effects)
        timers_missing, _ = timers_missing_and_doubled(run.accepted, timer_effects)
        lag = await lag_of(nc)
        settled = not lost and not timers_missing and all(v == 0 for v in lag.values())
        if settled or loop.time() > deadline:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(2)  # late redeliveries (and second firings) would show now
    effects = await asyncio.to_thread(chaos.audit.effects, run.prefix)
    lost, doubled = missing_and_doubled(run, effects, run.accepted)
    timer_effects = await asyncio.to_thread(chaos.audit.timer_effects)
    timers_missing, timers_doubled = timers_missing_and_doubled(run.accepted, timer_effects)
    # A message that is never applied stays pending for good; an event just published
    # (a counter report, say) is taken within a few seconds.
    lag = await lag_left(nc, within=LAG_SETTLES_WITHIN)
    await nc.close()
    timed = [s for s in run.accepted if s.timer]
    wrong = {m for ids in (*timers_missing.values(), *timers_doubled.values()) for m in ids}
    after_heal = [s for s in run.accepted if s.scheduled >= healed]
    verdict = Verdict(
        fault=fault,
        accepted=len(run.accepted),
        refused=run.refusals(),
        failures=run.failures(),
        lost=lost,
        duplicated=doubled,
        back_after=(min(s.scheduled for s in after_heal) - healed) if after_heal else None,
        sent_well_after_heal=len([s for s in run.sent if s.scheduled >= healed + BACK_WITHIN]),
        recovered_after=recovered,
        lag=lag,
        samples=run.samples,
        timers=len(timed),
        timers_fired_once=len([s for s in timed if s.external_id not in wrong]),
        timers_missing=timers_missing,
        timers_doubled=timers_doubled,
    )
    VERDICTS.append(verdict)
    return verdict


def _check(verdict: Verdict) -> None:
    assert verdict.accepted > 0, "nothing was accepted at all"
    if verdict.sent_well_after_heal:
        assert verdict.back_after is not None, (
            f"nothing sent after the heal was accepted ({verdict.sent_well_after_heal} "
            f"sent {BACK_WITHIN:g} s or more after it); refused: {dict(verdict.refused)}, "
            f"first answers: {verdict.samples}"
        )
    leaks = {k: v for k, v in verdict.samples.items() if _ADDRESS.search(v)}
    assert not leaks, f"a refusal names an internal address: {leaks}"
    assert not verdict.failures, (
        f"the gateway hung or failed: {dict(verdict.failures)}; first answers: {verdict.samples}"
    )
    assert not verdict.duplicated, f"duplicated: {verdict.duplicated}"
    assert not verdict.lost, f"accepted but lost: { {k: len(v) for k, v in verdict.lost.items()} }"
    assert verdict.timers > 0, "no timer was armed (no web chat message accepted)"
    assert not verdict.timers_missing, f"timers that never fired: {verdict.timers_missing}"
    assert not verdict.timers_doubled, f"timers fired twice or wrongly: {verdict.timers_doubled}"
    assert not verdict.lag, f"consumer lag did not drain: {verdict.lag}"
    assert verdict.recovered_after is not None, "the backlog was not caught up in time"


def _thread(action: Callable[[], object]) -> Step:
    async def step() -> object:
        return await asyncio.to_thread(action)

    return step


async def test_nats_killed_and_restarted(chaos: Chaos) -> None:
    stack = chaos.stack
    verdict = await _under_load(
        chaos,
        "kill -9 nats",
        _thread(lambda: stack.kill_process("nats")),
        _thread(stack.start_nats),
    )
    _check(verdict)


@pytest.mark.parametrize("service", ["rules", "customers", "messaging"])
async def test_service_killed_and_restarted(chaos: Chaos, service: str) -> None:
    stack = chaos.stack
    verdict = await _under_load(
        chaos,
        f"kill -9 {service}",
        _thread(lambda: stack.kill_process(service)),
        _thread(lambda: stack.start_service(service, timeout=120)),
    )
    _check(verdict)


async def test_postgres_restarted(chaos: Chaos) -> None:
    if chaos.postgres is None:
        pytest.skip(chaos.postgres_unavailable)
    cluster = chaos.postgres

    async def nothing() -> None:
        return None

    verdict = await _under_load(chaos, "restart postgresql", _thread(cluster.restart), nothing)
    _check(verdict)


async def test_nats_store_filled_to_its_limit(chaos: Chaos) -> None:
    filler = NatsStoreFiller(chaos.stack.config.nats_url)
    outcome: list[str] = []

    async def fill() -> None:
        outcome.append(await filler.fill())

    verdict = await _under_load(chaos, "nats store full", fill, filler.free)
    assert filler.published > 0, "the store was never filled"
    assert outcome, "the filler never stopped"
    assert "insufficient resources" in outcome[0], outcome[0]
    _check(verdict)
