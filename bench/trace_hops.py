"""Where a message's time goes, hop by hop, from its trace.

The load bench starts each ingest with its own W3C ``traceparent`` (a fresh
trace id per message), Envoy and the services export their spans to an
in-memory OTLP collector (``crosstalk_devstack.otlp_collector``), and this
module cuts each message's trace into consecutive hops on the way from the
request to the rule's action being applied:

    client -> Envoy              Envoy's span starts (the request's scheduled time before)
    Envoy -> messaging           IngestMessage's server span starts
    ResolveIdentity              customers' server span (inside the ingest)
    AnalyzeText                  translation's server span (inside the ingest)
    rest of ingest               IngestMessage's span, less the time either peer call ran
                                 (they run side by side, so the p50s no longer add up)
    relay + bus -> rules         from the ingest span's end to the start of rules'
                                 span for message.received
    rules handles it             that span's duration
    relay + bus -> customers     from the end of rules' span to the start of customers'
                                 span for the rule's action
    customers applies it         that span's duration

Every figure comes from span timestamps stamped by the processes themselves
(all on this machine's clock). Spans of one hop that appear more than once in a
trace (a retried event) count by their first start. A message whose trace lacks
a hop is counted as "incomplete" for that hop, not guessed.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from bench.stats import percentile
from crosstalk_devstack.otlp_collector import CollectedSpan

INGEST = "/crosstalk.messaging.v1.MessagingService/IngestMessage"
RESOLVE = "/crosstalk.customers.v1.CustomersService/ResolveIdentity"
ANALYZE = "/crosstalk.translation.v1.TranslationService/AnalyzeText"
RECEIVED = "process crosstalk.messaging.message.received"
RULE_ACTION_PREFIX = "process crosstalk.rules."

HOPS = (
    "client -> Envoy",
    "Envoy -> messaging",
    "ResolveIdentity",
    "AnalyzeText",
    "rest of ingest",
    "relay + bus -> rules",
    "rules handles it",
    "relay + bus -> customers",
    "customers applies it",
)


def new_traceparent() -> tuple[str, str]:
    """(trace id hex, traceparent header) for one sampled request."""
    trace_id = os.urandom(16).hex()
    return trace_id, f"00-{trace_id}-{os.urandom(8).hex()}-01"


@dataclass
class HopTable:
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    incomplete: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    traces: int = 0


def _first(spans: Iterable[CollectedSpan]) -> CollectedSpan | None:
    return min(spans, key=lambda s: s.start_ns, default=None)


def cut(scheduled: dict[str, float], spans: Iterable[CollectedSpan]) -> HopTable:
    """Hops of every trace in ``scheduled`` (trace id -> scheduled wall time, s)."""
    by_trace: dict[str, list[CollectedSpan]] = defaultdict(list)
    for span in spans:
        if span.trace_id in scheduled:
            by_trace[span.trace_id].append(span)
    table = HopTable()
    for trace_id, at in scheduled.items():
        table.traces += 1
        found = by_trace.get(trace_id, [])
        envoy = _first(s for s in found if s.service not in _SERVICES and s.kind == _SERVER)
        ingest = _first(s for s in found if s.name == INGEST and s.service == "messaging")
        resolve = _first(s for s in found if s.name == RESOLVE and s.service == "customers")
        analyze = _first(s for s in found if s.name == ANALYZE and s.service == "translation")
        rules = _first(s for s in found if s.name == RECEIVED and s.service == "rules")
        applied = _first(
            s for s in found if s.service == "customers" and s.name.startswith(RULE_ACTION_PREFIX)
        )
        at_ns = at * 1e9
        hops: dict[str, float | None] = dict.fromkeys(HOPS)
        if envoy is not None:
            hops["client -> Envoy"] = envoy.start_ns - at_ns
        if envoy is not None and ingest is not None:
            hops["Envoy -> messaging"] = ingest.start_ns - envoy.start_ns
        if resolve is not None:
            hops["ResolveIdentity"] = resolve.end_ns - resolve.start_ns
        if analyze is not None:
            hops["AnalyzeText"] = analyze.end_ns - analyze.start_ns
        if ingest is not None and resolve is not None and analyze is not None:
            # The two peer calls run side by side: take away the time either ran.
            together = max(resolve.end_ns, analyze.end_ns) - min(resolve.start_ns, analyze.start_ns)
            gap = max(
                0, max(resolve.start_ns, analyze.start_ns) - min(resolve.end_ns, analyze.end_ns)
            )
            hops["rest of ingest"] = ingest.end_ns - ingest.start_ns - (together - gap)
        if ingest is not None and rules is not None:
            hops["relay + bus -> rules"] = rules.start_ns - ingest.end_ns
        if rules is not None:
            hops["rules handles it"] = rules.end_ns - rules.start_ns
        if rules is not None and applied is not None:
            hops["relay + bus -> customers"] = applied.start_ns - rules.end_ns
        if applied is not None:
            hops["customers applies it"] = applied.end_ns - applied.start_ns
        for hop, ns in hops.items():
            if ns is None:
                table.incomplete[hop] += 1
            else:
                table.samples[hop].append(ns / 1e9)
    return table


_SERVICES = {"identity", "customers", "rules", "translation", "messaging", "reporting"}
_SERVER = 2  # OTLP Span.SpanKind SPAN_KIND_SERVER


def print_hops(table: HopTable) -> None:
    print(f"  hops (from {table.traces} traces; p50 / p99 ms, missing)")
    total50 = 0.0
    for hop in HOPS:
        samples = table.samples.get(hop, [])
        missing = table.incomplete.get(hop, 0)
        if samples:
            p50 = percentile(samples, 50) * 1000
            total50 += p50
            figure = f"{p50:8.1f} / {percentile(samples, 99) * 1000:8.1f}"
        else:
            figure = f"{'-':>8} / {'-':>8}"
        print(f"    {hop:<26} {figure}" + (f"   missing {missing}" if missing else ""))
    print(f"    {'sum of the p50s':<26} {total50:8.1f}")
