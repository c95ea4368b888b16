"""Rules engine figures (issue 16).

`python -m bench.rules_bench` — prints figures, asserts nothing.

Evaluation: 10,000 enabled rules in one tenant (keyword and attribute
conditions mixed), per-message evaluation p50/p99/max of the compiled rules
the service runs (app/matcher.py: one Aho-Corasick automaton per field, gate
indexes, only gated-in rules evaluated, by their compiled conditions,
domain/compiled.py; then decide, domain/evaluation.py), compiled and frozen
out of the garbage collector as the service does (EnabledRules), against the
naive loop (every rule's condition tree walked, keywords scanned;
domain/evaluation.py) in the same run, on the same messages, with the
verdicts compared. Target: p99 <= 1 ms and >= 50x faster than the naive loop.

Timers (`--part timers`, bench/rules_timers.py): 100,000 pending "no agent
reply" timers claimed and fired by the real poller, one batch per transaction.
Target: >= 2,000 per second.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import time
from datetime import UTC, datetime
from typing import Any

from bench.rules_timers import timers_part
from bench.stats import percentile, summary_ms
from crosstalk_common.conditions.model import Group, Leaf, Node, Op
from rules.app.matcher import CompiledRules, keep_out_of_collections
from rules.domain.actions import AddTag
from rules.domain.evaluation import LoopContext, NaiveKeywords, decide, evaluate_pass
from rules.domain.model import Rule, Trigger

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
TIERS = [f"tier-{i}" for i in range(20)]
LANGUAGES = ["en", "de", "es", "fr", "zh", "vi", "it", "pt", "ja", "ko"]
CHANNELS = ["email", "web_chat", "whatsapp", "amazon"]
COMMON = [
    "the",
    "a",
    "my",
    "is",
    "was",
    "and",
    "to",
    "of",
    "i",
    "you",
    "it",
    "for",
    "on",
    "with",
    "please",
    "order",
    "hello",
    "thanks",
]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(5, 10))))
    return sorted(words)


def make_rules(
    rng: random.Random, count: int, words: list[str]
) -> tuple[list[Rule], dict[str, int]]:
    """``count`` rules: keyword-only, keyword with attributes, attribute equalities,
    and a few ungated (a number comparison only)."""
    rules, mix = [], {"keyword": 0, "keyword+attribute": 0, "attribute": 0, "numbers only": 0}

    def keywords() -> Leaf:
        field = "message.text" if rng.random() < 0.8 else "message.translated_text"
        chosen = rng.sample(words, rng.randint(1, 3))
        if rng.random() < 0.1:  # a two-word phrase
            chosen[0] = f"{chosen[0]} {rng.choice(words)}"
        return Leaf(field, Op.MATCHES_KEYWORDS, tuple(chosen), rng.random() < 0.2)

    def attribute() -> Leaf:
        kind = rng.random()
        if kind < 0.4:
            return Leaf("customer.tier", Op.EQUALS, (rng.choice(TIERS),))
        if kind < 0.7:
            return Leaf("message.language", Op.IN, tuple(rng.sample(LANGUAGES, 2)))
        return Leaf("message.channel", Op.EQUALS, (rng.choice(CHANNELS),))

    for i in range(count):
        roll = rng.random()
        condition: Node
        if roll < 0.50:
            condition, kind = keywords(), "keyword"
        elif roll < 0.80:
            extra = Leaf("message.sentiment.score", Op.LT, (round(rng.uniform(-1, 0), 2),))
            condition = Group("and", (keywords(), attribute(), extra))
            kind = "keyword+attribute"
        elif roll < 0.995:
            condition = Group(
                "and",
                (
                    attribute(),
                    attribute(),
                    Leaf("message.sentiment.label", Op.EQUALS, ("negative",)),
                    Leaf("customer.score", Op.GTE, (rng.randint(0, 500),)),
                ),
            )
            kind = "attribute"
        else:
            # Number comparisons only: gated by the threshold index.
            condition = Group(
                "and",
                (
                    Leaf("message.sentiment.score", Op.LT, (round(rng.uniform(-1, -0.8), 2),)),
                    Leaf("conversation.follow_ups", Op.GT, (rng.randint(6, 9),)),
                ),
            )
            kind = "numbers only"
        mix[kind] += 1
        rules.append(
            Rule(
                id=f"rule-{i:05}",
                tenant_id="bench",
                display_name=f"rule {i}",
                trigger=Trigger.MESSAGE_RECEIVED,
                condition=condition,
                actions=(AddTag(("x",)),),
                priority=rng.randint(0, 100),
                created_at=NOW,
            )
        )
    rules.sort(key=lambda r: (r.priority, r.id))
    return rules, mix


def make_message(rng: random.Random, words: list[str]) -> dict[str, Any]:
    text = " ".join(
        rng.choice(words) if rng.random() < 0.15 else rng.choice(COMMON) for _ in range(25)
    )
    if rng.random() < 0.3:  # a typo in one word
        text += " " + rng.choice(words)[1:]
    return {
        "message.text": text,
        "message.translated_text": " ".join(rng.choice(words) for _ in range(4)),
        "message.language": rng.choice(LANGUAGES),
        "message.channel": rng.choice(CHANNELS),
        "message.sentiment.score": rng.uniform(-1, 1),
        "message.sentiment.label": rng.choice(["negative", "neutral", "positive"]),
        "message.intents": frozenset(),
        "customer.tier": rng.choice(TIERS),
        "customer.score": rng.randint(0, 600),
        "conversation.follow_ups": rng.randint(0, 10),
    }


def evaluation(rules_count: int, messages: int, naive_messages: int, seed: int) -> None:
    rng = random.Random(seed)
    words = vocabulary(rng, 20_000)
    rules, mix = make_rules(rng, rules_count, words)
    sample = [make_message(rng, words) for _ in range(messages)]
    print(f"Evaluation: {len(rules):,} enabled rules in one tenant ({mix})")

    started = time.perf_counter()
    compiled = CompiledRules(rules)
    compiled_at = time.perf_counter()
    keep_out_of_collections(compiled)  # as EnabledRules does after compiling
    print(
        f"  compile (automata, indexes, conditions): {(compiled_at - started) * 1000:.0f} ms, "
        f"then out of the collector's reach: {(time.perf_counter() - compiled_at) * 1000:.0f} ms"
    )

    pauses: list[tuple[int, float]] = []  # (generation, seconds) of each collection
    collecting = [0.0]

    def collector(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], time.perf_counter() - collecting[0]))

    def no_cooling(rule: Rule) -> bool:
        return False

    fast: list[float] = []
    fast_cpu: list[float] = []
    fired_fast: list[list[str]] = []
    evaluated: list[int] = []  # rules evaluated per message, after the gates
    gc.callbacks.append(collector)
    for facts in sample:
        t0, c0 = time.perf_counter(), time.thread_time()
        evaluations = compiled.evaluate(facts, now=NOW)
        verdicts = decide(
            evaluations, subject="customers/c1", loop=LoopContext(), cooling=no_cooling
        )
        fast_cpu.append(time.thread_time() - c0)
        fast.append(time.perf_counter() - t0)
        evaluated.append(len(evaluations))
        fired_fast.append([v.rule.id for v in verdicts if v.fired])
    gc.callbacks.remove(collector)

    naive: list[float] = []
    naive_cpu: list[float] = []
    agree = 0
    keywords = NaiveKeywords()
    for index, facts in enumerate(sample[:naive_messages]):
        t0, c0 = time.perf_counter(), time.thread_time()
        verdicts = evaluate_pass(rules, facts, subject="customers/c1", now=NOW, keywords=keywords)
        naive_cpu.append(time.thread_time() - c0)
        naive.append(time.perf_counter() - t0)
        agree += [v.rule.id for v in verdicts if v.fired] == fired_fast[index]

    # Wall time suffers from whatever else the machine runs; thread CPU time is
    # the evaluation's own cost.
    print("  " + summary_ms("compiled matcher, wall", fast, target="p99 <= 1 ms"))
    print("  " + summary_ms("compiled matcher, thread CPU", fast_cpu, target="p99 <= 1 ms"))
    print(
        f"  compiled, max: wall {max(fast) * 1000:.3f} ms, "
        f"thread CPU {max(fast_cpu) * 1000:.3f} ms; "
        f"collections while measuring: {len(pauses)} (generation 2: "
        f"{sum(1 for g, _ in pauses if g == 2)}), longest "
        f"{max((d for _, d in pauses), default=0) * 1000:.2f} ms"
    )
    print("  " + summary_ms("naive loop, wall", naive))
    print("  " + summary_ms("naive loop, thread CPU", naive_cpu))
    print(
        f"  rules evaluated per message after the gates: {sum(evaluated) / len(sample):.1f} "
        f"of {len(rules):,}; rules fired per message: "
        f"{sum(map(len, fired_fast)) / len(sample):.1f}"
    )
    slowest = sorted(range(len(sample)), key=lambda i: fast_cpu[i])[-max(1, len(sample) // 100) :]
    print(
        f"  the slowest 1% (thread CPU): {sum(evaluated[i] for i in slowest) / len(slowest):.1f} "
        f"rules evaluated, {sum(len(fired_fast[i]) for i in slowest) / len(slowest):.1f} fired "
        "per message (each that held is traced)"
    )
    for p in (50, 99):
        wall = percentile(naive, p) / percentile(fast, p)
        cpu = percentile(naive_cpu, p) / percentile(fast_cpu, p)
        print(f"  naive / compiled at p{p}: wall {wall:,.0f}x, CPU {cpu:,.0f}x  [target >= 50x]")
    ratios = sorted(n / f for n, f in zip(naive_cpu, fast_cpu, strict=False))
    print(
        f"  naive / compiled on each of the same {len(ratios)} messages, thread CPU: "
        f"least {ratios[0]:,.0f}x, median {percentile(ratios, 50):,.0f}x  [target >= 50x]"
    )
    print(f"  load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  same verdicts as the naive loop on {agree} of {len(naive)} messages")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--naive-messages", type=int, default=40)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument(
        "--part", choices=("all", "evaluation", "timers"), default="all", help="which figures"
    )
    # Timers (bench/rules_timers.py): pending timers fired by the poller.
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--timers-db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--timers-batch", type=int, default=1_000)
    args = parser.parse_args()
    if args.part in ("all", "evaluation"):
        evaluation(args.rules, args.messages, args.naive_messages, args.seed)
    if args.part in ("all", "timers"):
        timers_part(args.timers, args.timers_db, args.timers_batch)


if __name__ == "__main__":
    main()
