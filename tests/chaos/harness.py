"""The chaos tests' machinery: the main job under open-loop load, faults, and the audit.

The load is the main job of ``bench/main_job_load.py``: ``POST /v1/messages:ingest``
through Envoy, each from a new sender, with "refund" in its text, at a fixed rate
whether or not earlier requests have answered. One rule of the tenant matches it and
has three actions, each landing in another service: tag the customer (customers),
add 5 to its score (customers) and add an internal note to the conversation
(messaging). So every accepted message must end as exactly one stored message, one
rule run, one tag, one ``customer.tagged`` event, one score change and one note.

Each request has a client timeout (the whole call); a timeout, a connection error or
any status other than 200, 429 or 503 is a failure: the gateway must answer, and when
it cannot serve it must refuse cleanly.

Every fifth message comes over web chat and starts a durable "no agent reply" timer
that must fire exactly once (tests/chaos/timers.py).

The audit reads the services' databases directly (SQLite files or PostgreSQL), so it
sees duplicates an API might hide.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import psycopg
from nats.aio.client import Client

from bench.main_job_load import _error_kind, consumer_lag
from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.envelope import read_event
from crosstalk_devstack.ports import free_port, wait_for_port
from crosstalk_devstack.stack import Stack
from tests.chaos.timers import (
    TIMER_CHANNEL,
    TimerEffects,
    has_timer,
    read_timer_effects,
)

TAG = "after-sales"
SCORE_DELTA = 5
NOTE = "Refund asked: check the order."
CLEAN_REFUSALS = frozenset({429, 503})


@dataclass(frozen=True)
class Profile:
    rate: float  # msg/s
    load_seconds: float  # per fault
    down_seconds: float  # how long a killed component stays down
    recovery_limit: float  # seconds after the load for everything to be in place
    timeout: float  # per request, the whole call

    @classmethod
    def from_env(cls) -> Profile:
        name = os.environ.get("CROSSTALK_CHAOS_PROFILE", "short")
        if name == "long":
            return cls(rate=15, load_seconds=45, down_seconds=5, recovery_limit=120, timeout=20)
        if name != "short":
            raise ValueError(f"CROSSTALK_CHAOS_PROFILE must be short or long, got {name!r}")
        return cls(rate=10, load_seconds=15, down_seconds=3, recovery_limit=90, timeout=20)


def rule_body() -> dict[str, Any]:
    return {
        "displayName": "chaos: refund -> tag, score, note",
        "trigger": "TRIGGER_MESSAGE_RECEIVED",
        "enabled": True,
        "condition": {
            "leaf": {"field": "text", "operator": "OPERATOR_MATCHES_KEYWORDS", "values": ["refund"]}
        },
        "actions": [
            {"addTag": {"tags": [TAG]}},
            {"adjustScore": {"delta": str(SCORE_DELTA), "reason": "asked for a refund"}},
            {"addNote": {"text": NOTE}},
        ],
    }


# -- the load ------------------------------------------------------------------------------
@dataclass
class Sent:
    external_id: str
    scheduled: float  # loop time
    status: int | None = None  # HTTP status; None: no answer (timeout, connection)
    kind: str = ""  # what went wrong, for the report
    customer: str = ""  # customer id, when accepted
    answered_in: float = 0.0
    timer: bool = False  # a web chat message: its no-reply timer must fire once


@dataclass
class LoadRun:
    fault: str
    prefix: str
    sent: list[Sent] = field(default_factory=list)
    samples: dict[str, str] = field(default_factory=dict)  # kind -> first answer

    @property
    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.status == 200]

    def failures(self) -> Counter[str]:
        """What the gateway must never do: hang, drop the connection, 5xx other than 503."""
        return Counter(
            s.kind for s in self.sent if s.status is None or s.status not in {200, *CLEAN_REFUSALS}
        )

    def refusals(self) -> Counter[str]:
        return Counter(s.kind for s in self.sent if s.status in CLEAN_REFUSALS)


async def open_loop(
    client: httpx.AsyncClient,
    run: LoadRun,
    *,
    rate: float,
    seconds: float,
    timeout: float,  # noqa: ASYNC109 - per request, not for this whole coroutine
    max_in_flight: int = 300,
) -> None:
    """Ingest at ``rate`` for ``seconds`` on schedule, then wait for every answer."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks: set[asyncio.Task[None]] = set()

    async def one(entry: Sent, n: int) -> None:
        sender = (
            {"channel": TIMER_CHANNEL, "externalId": f"visitor-{run.prefix}-{n}"}
            if entry.timer
            else {"channel": "CHANNEL_EMAIL", "externalId": f"buyer-{run.prefix}-{n}@shop.test"}
        )
        body = {
            "sender": sender,
            "senderDisplayName": f"Buyer {n}",
            "text": f"Hello, parcel {n} arrived broken. I would like a refund, please.",
            "externalId": entry.external_id,
        }
        try:
            async with asyncio.timeout(timeout):
                response = await client.post("/v1/messages:ingest", json=body)
        except TimeoutError:
            entry.kind = f"client timeout ({timeout:g} s)"
            return
        except httpx.HTTPError as exc:
            entry.kind = f"client: {type(exc).__name__}"
            return
        finally:
            entry.answered_in = loop.time() - entry.scheduled
        entry.status = response.status_code
        if response.status_code == 200:
            entry.customer = str(response.json()["customer"]).rsplit("/", 1)[-1]
        else:
            entry.kind = _error_kind(response)
            run.samples.setdefault(entry.kind, response.text[:300])

    for n in range(int(rate * seconds)):
        at = start + n / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        entry = Sent(f"{run.prefix}-{n}", at, timer=has_timer(n))
        run.sent.append(entry)
        if len(tasks) >= max_in_flight:
            entry.kind = "client: in-flight cap"
            continue
        task = asyncio.create_task(one(entry, n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.wait(set(tasks))


# -- the audit -----------------------------------------------------------------------------
class Database:
    """Read-only queries on one service's database, SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite"):
            path = self.url.split("///", 1)[1]
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
                return list(conn.execute(query.replace("%s", "?"), params).fetchall())
        with psycopg.connect(self.url, connect_timeout=5) as conn:
            return list(conn.execute(query, params).fetchall())  # type: ignore[arg-type]


@dataclass
class Effects:
    """Per message (external id) and per customer id: how often each effect happened."""

    stored: Counter[str]
    runs: Counter[str]
    tags: Counter[str]
    tagged_events: Counter[str]
    scores: Counter[str]
    notes: Counter[str]

    def per_customer(self) -> dict[str, Counter[str]]:
        return {
            "rule run": self.runs,
            "tag": self.tags,
            "customer.tagged": self.tagged_events,
            "score change": self.scores,
            "note": self.notes,
        }


def _tail(name: str) -> str:
    return name.rsplit("/", 1)[-1]


class Audit:
    def __init__(self, stack: Stack, tenant_id: str, rule_id: str, timer_rule_id: str) -> None:
        self.tenant = tenant_id
        self.rule_id = rule_id  # the refund rule's
        self.timer_rule_id = timer_rule_id
        self.db = {s: Database(stack.config.database_url(s)) for s in ("messaging", "rules")}
        self.db["customers"] = Database(stack.config.database_url("customers"))
        self._tagged_seen: dict[str, int] = {}  # outbox id -> 0/1 (is ours)
        self._tagged: Counter[str] = Counter()

    def effects(self, prefix: str) -> Effects:
        t = self.tenant
        messaging, rules, customers = self.db["messaging"], self.db["rules"], self.db["customers"]
        stored = Counter(
            dict(
                messaging.rows(
                    "SELECT external_id, count(*) FROM messages WHERE tenant_id = %s"
                    " AND direction = 'inbound' AND external_id LIKE %s GROUP BY external_id",
                    t,
                    f"{prefix}-%",
                )
            )
        )
        notes = Counter(
            {
                _tail(c): n
                for c, n in messaging.rows(
                    "SELECT customer, count(*) FROM messages WHERE tenant_id = %s"
                    " AND internal_note = TRUE AND text = %s GROUP BY customer",
                    t,
                    NOTE,
                )
            }
        )
        runs = Counter(
            {
                _tail(c): n
                for c, n in rules.rows(
                    "SELECT customer, count(*) FROM rule_runs WHERE tenant_id = %s"
                    " AND rule_id = %s AND outcome = 'matched' GROUP BY customer",
                    t,
                    self.rule_id,
                )
            }
        )
        tags = Counter(
            dict(
                customers.rows(
                    "SELECT ct.customer_id, count(*) FROM customer_tags ct JOIN tags"
                    " ON tags.id = ct.tag WHERE ct.tenant_id = %s AND tags.display_name = %s"
                    " GROUP BY ct.customer_id",
                    t,
                    TAG,
                )
            )
        )
        scores = Counter(
            dict(
                customers.rows(
                    "SELECT customer_id, count(*) FROM customer_score_changes"
                    " WHERE tenant_id = %s AND delta = %s GROUP BY customer_id",
                    t,
                    SCORE_DELTA,
                )
            )
        )
        self._read_tagged_events()
        return Effects(stored, runs, tags, Counter(self._tagged), scores, notes)

    def timer_effects(self) -> TimerEffects:
        return read_timer_effects(
            self.tenant,
            self.timer_rule_id,
            rules=self.db["rules"],
            customers=self.db["customers"],
            messaging=self.db["messaging"],
        )

    def _read_tagged_events(self) -> None:
        """customer.tagged rows of customers' outbox (each staged event once, published
        or not), decoded once each."""
        for event_id, payload in self.db["customers"].rows(
            "SELECT id, payload FROM outbox WHERE subject = %s",
            "crosstalk.customers.customer.tagged",
        ):
            if event_id in self._tagged_seen:
                continue
            event = read_event(bytes(payload))
            ours = event.envelope.tenant_id == self.tenant
            self._tagged_seen[event_id] = int(ours)
            body = event.payload
            if ours and isinstance(body, customer_events_pb2.CustomerTagged):
                self._tagged[_tail(body.customer)] += 1


@dataclass
class Verdict:
    fault: str
    accepted: int
    refused: Counter[str]
    failures: Counter[str]
    lost: dict[str, list[str]]  # effect -> external ids of accepted messages without it
    duplicated: dict[str, list[str]]  # effect -> keys with more than one
    back_after: float | None  # heal -> first 200 scheduled after the heal
    # Messages scheduled BACK_WITHIN seconds or more after the heal: the platform has
    # had time to take them, so one at least must have been accepted.
    sent_well_after_heal: int
    recovered_after: float | None  # heal -> every message accepted so far fully in place
    lag: dict[str, int]
    samples: dict[str, str] = field(default_factory=dict)
    timers: int = 0  # accepted web chat messages: timers that had to fire
    timers_fired_once: int = 0  # of those, the ones with each effect exactly once
    timers_missing: dict[str, list[str]] = field(default_factory=dict)  # effect -> messages
    timers_doubled: dict[str, list[str]] = field(default_factory=dict)  # effect -> messages

    @property
    def lost_count(self) -> int:
        return len({m for ids in self.lost.values() for m in ids})

    @property
    def duplicated_count(self) -> int:
        return sum(len(keys) for keys in self.duplicated.values())


def missing_and_doubled(
    run: LoadRun, effects: Effects, accepted: Iterable[Sent]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    lost: dict[str, list[str]] = {}
    for entry in accepted:
        if effects.stored[entry.external_id] == 0:
            lost.setdefault("stored message", []).append(entry.external_id)
        for effect, counts in effects.per_customer().items():
            if counts[entry.customer] == 0:
                lost.setdefault(effect, []).append(entry.external_id)
    doubled: dict[str, list[str]] = {}
    ours = {s.external_id for s in run.sent}
    for external_id, n in effects.stored.items():
        if n > 1 and external_id in ours:
            doubled.setdefault("stored message", []).append(external_id)
    for effect, counts in effects.per_customer().items():
        for customer, n in counts.items():
            if n > 1:
                doubled.setdefault(effect, []).append(customer)
    return lost, doubled


async def lag_of(nc: Client) -> dict[str, int]:
    try:
        return await consumer_lag(nc)
    except Exception as exc:  # NATS down or restarting: unknown, not zero
        return {f"unknown ({type(exc).__name__})": -1}


async def lag_left(nc: Client, within: float) -> dict[str, int]:
    """The consumers still behind after waiting up to ``within`` seconds for all to
    reach 0. One reading is not enough: events keep coming after the load (the rules
    service reports its counters every few seconds, timers fire), and a consumer that
    lingers and folds a batch is one behind for a moment each time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        lag = {k: v for k, v in (await lag_of(nc)).items() if v}
        if not lag or loop.time() > deadline:
            return lag
        await asyncio.sleep(0.5)


async def watch_recovery(
    audit: Audit,
    run: LoadRun,
    nc: Client,
    healed: float,
    until: Callable[[], bool],
    limit: float,
) -> float | None:
    """Seconds from ``healed`` (loop time) until every message accepted by then has all
    its effects and no consumer lags; None if not within ``limit`` after the load."""
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    while True:
        due = [s for s in run.accepted if s.scheduled + s.answered_in <= healed]
        effects = await asyncio.to_thread(audit.effects, run.prefix)
        lost, _ = missing_and_doubled(run, effects, due)
        if not lost and all(v == 0 for v in (await lag_of(nc)).values()):
            return loop.time() - healed
        if until():
            deadline = deadline or loop.time() + limit
            if loop.time() > deadline:
                return None
        await asyncio.sleep(0.5)


# -- faults --------------------------------------------------------------------------------
class NatsStoreFiller:
    """Fills JetStream's file store to its limit with a stream of its own, then frees it."""

    STREAM = "CHAOSFILL"

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self.published = 0

    async def fill(self) -> str:
        nc = await nats.connect(self.nats_url, name="chaos-filler")
        try:
            js = nc.jetstream()
            await js.add_stream(name=self.STREAM, subjects=["chaos.fill.>"])
            chunk = os.urandom(256 * 1024)
            while True:
                try:
                    await js.publish("chaos.fill.x", chunk, timeout=5)
                except Exception as exc:  # insufficient resources: full
                    return f"{type(exc).__name__}: {exc}"
                self.published += 1
        finally:
            await nc.close()

    async def free(self) -> None:
        nc = await nats.connect(self.nats_url, name="chaos-filler")
        try:
            await nc.jetstream().delete_stream(self.STREAM)
        finally:
            await nc.close()


class PrivatePostgres:
    """A PostgreSQL cluster of the chaos tests' own (initdb in a temporary directory, on a
    free port), so that restarting it disturbs nobody else's databases."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.bindir = self._bindir()
        self.user = "postgres" if os.geteuid() == 0 else None

    @staticmethod
    def _bindir() -> Path:
        pg_config = shutil.which("pg_config")
        if pg_config:
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=False
            ).stdout.strip()
            if found and (Path(found) / "initdb").exists():
                return Path(found)
        initdb = shutil.which("initdb")
        if initdb:
            return Path(initdb).resolve().parent
        raise FileNotFoundError("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode:
            raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()[-500:]}")

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            shutil.chown(self.root, self.user, self.user)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        self._pg_ctl("start")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-w", "-t", "60",
            "-l", str(self.root / "postgres.log"), "-o", options, *extra,
        )  # fmt: skip
        if action != "stop":
            wait_for_port(self.port, 30)

    def restart(self) -> None:
        """Stop fast (every connection cut, nothing lost that was committed), start."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        try:
            self._pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root.parent, ignore_errors=True)


def new_prefix(fault: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", fault.lower()).strip("-")
    return f"chaos-{uuid.uuid4().hex[:6]}-{slug}"


def now() -> float:
    return time.monotonic()
