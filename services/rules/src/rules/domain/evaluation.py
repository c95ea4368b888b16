"""Evaluating rules over namespaced facts, with a trace (core_loop §2).

One pass over a tenant's enabled rules of a trigger, in evaluation order
(priority, lower first, then creation):

- the loop guard first: an event 3 or more rule actions down a chain is
  ignored, and a rule never triggers on the effects of its own run;
- then the condition tree, leaf by leaf, into a ``Trace`` (which leaf held,
  with which fact values, and why);
- a rule whose condition held is then stopped (an earlier rule fired with
  ``stop_processing``), out of its rollout cohort, cooling down for this
  customer, or in shadow mode, or else it fires;
- only a rule that **fired** with ``stop_processing`` ends the pass: a rule
  suppressed by cooldown, rollout or the loop guard stops nothing.

Keyword leaves (``matches_keywords``) read text normalised the same way
everywhere (``normalise``: Unicode width folded, case folded, diacritics
dropped). A leaf on ``message.text`` searches the original and the
translated text; a keyword also hits when it names one of the message's
intents, or one of the keywords translation matched for them (its synonyms);
with ``fuzzy``, a keyword of at least ``FUZZY_MIN_LENGTH`` characters hits
words of the text within one edit. ``NaiveKeywords`` does that by scanning;
the compiled matcher (``app/matcher.py``) gives the same answers from one
Aho-Corasick automaton per tenant and field.

Pure: the standard library and crosstalk_common's pure condition model only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from crosstalk_common.clock import as_utc
from crosstalk_common.conditions.evaluate import is_empty, leaf_matches, levenshtein, render
from crosstalk_common.conditions.model import FieldType, Leaf, Node, Op
from rules.domain.facts import WEEKDAYS, fact
from rules.domain.model import Rule, in_rollout

LOOP_GUARD_DEPTH = 3
"""Events this many rule actions (or more) down a chain are ignored."""

FUZZY_MIN_LENGTH = 5
"""Keywords at least this long (normalised) tolerate one edit."""

SYNONYMS_FACT = "message.intent_keywords"
"""Not a condition's fact: the keywords translation matched for the message's
intents (with the intents' names, ``message.intents``), read as synonyms."""

# Which texts a keyword leaf on a field searches.
KEYWORD_SOURCES: Mapping[str, tuple[str, ...]] = {
    "message.text": ("message.text", "message.translated_text"),
    "message.translated_text": ("message.translated_text",),
}


class Outcome(StrEnum):
    """What came of one rule for one event (``crosstalk.rules.v1.RuleRunOutcome``)."""

    MATCHED = "matched"  # fired: actions requested
    NOT_MATCHED = "not_matched"
    SKIPPED_COOLDOWN = "skipped_cooldown"
    SKIPPED_ROLLOUT = "skipped_rollout"
    SKIPPED_STOPPED = "skipped_stopped"
    SKIPPED_BLACKLISTED = "skipped_blacklisted"
    SKIPPED_LOOP_GUARD = "skipped_loop_guard"
    SHADOW_MATCHED = "shadow_matched"
    FAILED = "failed"


# --- text ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Width folded (NFKC), case folded, diacritics dropped, spaces collapsed:
    full-width "REFUND", "Réfund" and "refund" read alike."""
    if text.isascii():  # nothing to fold but case
        return _SPACES.sub(" ", text.lower()).strip()
    folded = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", stripped).strip()


def tokens(text: str) -> list[str]:
    """The words of normalised text."""
    return _TOKEN.findall(text)


def keyword_phrase(keyword: str) -> str:
    """A keyword as fuzzy matching compares it: its normalised words, one space apart."""
    return " ".join(tokens(normalise(keyword)))


def within_one_edit(a: str, b: str) -> bool:
    return levenshtein(a, b, limit=1) <= 1


def synonyms_of(facts: Mapping[str, Any]) -> frozenset[str]:
    """The normalised names of the message's intents (``_`` read as a space too)
    and the keywords translation matched for them."""
    found: set[str] = set()
    for intent in facts.get("message.intents") or ():
        name = normalise(str(intent))
        found.update({name, name.replace("_", " ")})
    for keyword in facts.get(SYNONYMS_FACT) or ():
        found.add(normalise(str(keyword)))
    found.discard("")
    return frozenset(found)


def keyword_texts(leaf_field: str, facts: Mapping[str, Any]) -> list[str]:
    """The normalised texts a keyword leaf on ``leaf_field`` searches."""
    sources = KEYWORD_SOURCES.get(leaf_field, (leaf_field,))
    return [normalise(str(facts[s])) for s in sources if facts.get(s)]


def uses_synonyms(leaf_field: str) -> bool:
    return leaf_field.startswith("message.")


class KeywordHits(Protocol):
    """Which keyword of a ``matches_keywords`` leaf occurs in the facts, if any."""

    def keyword_of(self, leaf: Leaf, facts: Mapping[str, Any]) -> str | None: ...


class NaiveKeywords:
    """Scans the texts for each keyword in turn (the baseline, and the reference
    the compiled matcher must agree with)."""

    def keyword_of(self, leaf: Leaf, facts: Mapping[str, Any]) -> str | None:
        texts = keyword_texts(leaf.field, facts)
        synonyms = synonyms_of(facts) if uses_synonyms(leaf.field) else frozenset()
        for keyword in leaf.values:
            wanted = normalise(str(keyword))
            if wanted and (any(wanted in text for text in texts) or wanted in synonyms):
                return str(keyword)
        if not leaf.fuzzy:
            return None
        words = [tokens(text) for text in texts]
        for keyword in leaf.values:
            phrase = keyword_phrase(str(keyword))
            if len(phrase) < FUZZY_MIN_LENGTH:
                continue
            width = len(phrase.split(" "))
            for text_words in words:
                for start in range(len(text_words) - width + 1):
                    if within_one_edit(" ".join(text_words[start : start + width]), phrase):
                        return str(keyword)
        return None


@dataclass(frozen=True)
class KnownHits:
    """Keyword hits worked out beforehand (by the compiled matcher) for some
    leaves; any other leaf has none."""

    hits: Mapping[Leaf, str]

    def keyword_of(self, leaf: Leaf, facts: Mapping[str, Any]) -> str | None:
        return self.hits.get(leaf)


# --- conditions with a trace ---------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """How one node of a condition evaluated: a group (``op``, ``children``) or a
    leaf (``leaf``, the fact's values as text, a note)."""

    result: bool
    op: str = ""  # "and", "or", "not" for groups
    children: tuple[Trace, ...] = ()
    leaf: Leaf | None = None
    actual: tuple[str, ...] = ()
    detail: str = ""

    def lines(self, negated: bool = False) -> list[str]:
        """One line per leaf, for people."""
        if self.leaf is None:
            inner = negated != (self.op == "not")
            return [line for child in self.children for line in child.lines(inner)]
        values = ", ".join(_value_text(v) for v in self.leaf.values)
        line = f"{self.leaf.field} {self.leaf.operator.value} {values}".rstrip()
        line += f": {'matched' if self.result else 'not matched'} ({self.detail})"
        return [f"{line} [inside NOT]" if negated else line]


_new = object.__new__


def group_trace(result: bool, op: str, children: tuple[Trace, ...]) -> Trace:
    """``Trace(result, op=op, children=children)``, made without the frozen
    dataclass's ``__init__``, which sets each field through ``object.__setattr__``
    and took a third of the evaluation of an event that many rules match: one
    trace is made per leaf and per group of every rule whose condition holds."""
    trace = _new(Trace)
    fields = trace.__dict__
    fields["result"] = result
    fields["op"] = op
    fields["children"] = children
    fields["leaf"] = None
    fields["actual"] = ()
    fields["detail"] = ""
    return trace


def leaf_trace(result: bool, leaf: Leaf, actual: tuple[str, ...], detail: str) -> Trace:
    """``Trace(result, leaf=leaf, actual=actual, detail=detail)``, made as
    ``group_trace`` makes one."""
    trace = _new(Trace)
    fields = trace.__dict__
    fields["result"] = result
    fields["op"] = ""
    fields["children"] = ()
    fields["leaf"] = leaf
    fields["actual"] = actual
    fields["detail"] = detail
    return trace


def requires_keyword(node: Node) -> bool:
    """Whether the condition can only hold when one of its keyword leaves hits
    (so a rule none of whose keywords occur need not be evaluated)."""
    if isinstance(node, Leaf):
        return node.operator is Op.MATCHES_KEYWORDS
    if node.op == "and":
        return any(requires_keyword(child) for child in node.children)
    if node.op == "or":
        return all(requires_keyword(child) for child in node.children)
    return False  # NOT: holds precisely when its keywords do not occur


RANGE_OPERATORS = (Op.LT, Op.LTE, Op.GT, Op.GTE)


def is_range_gate(leaf: Leaf) -> bool:
    """A comparison of a number with a number (not NaN, which does not sort):
    indexable by threshold."""
    if leaf.operator not in RANGE_OPERATORS:
        return False
    threshold = leaf.values[0]
    return (
        isinstance(threshold, int | float)
        and not isinstance(threshold, bool)
        and threshold == threshold  # false for NaN only
    )


def _is_gate(leaf: Leaf) -> bool:
    if leaf.operator is Op.MATCHES_KEYWORDS:
        return True
    if leaf.operator in (Op.EQUALS, Op.IN):
        return all(isinstance(v, str) for v in leaf.values)
    return is_range_gate(leaf)


def gate_leaves(node: Node) -> list[Leaf] | None:
    """Leaves one of which must hold whenever ``node`` holds, each a keyword leaf
    or an equality on text (indexable); None when there are none such. A rule
    with gates is evaluated only when one of them holds."""
    if isinstance(node, Leaf):
        return [node] if _is_gate(node) else None
    if node.op == "and":
        options = [g for g in (gate_leaves(child) for child in node.children) if g is not None]
        if not options:
            return None
        # Fewest alternatives, keywords first (they are the most selective).
        return min(
            options,
            key=lambda g: (len(g), not all(x.operator is Op.MATCHES_KEYWORDS for x in g)),
        )
    if node.op == "or":
        gates: list[Leaf] = []
        for child in node.children:
            alternatives = gate_leaves(child)
            if alternatives is None:
                return None
            gates.extend(alternatives)
        return gates
    return None  # NOT


def required_gates(node: Node) -> list[Leaf]:
    """Gate leaves that must ALL hold whenever ``node`` holds (those of its
    top-level conjunction), the most selective kind only: its keywords, else its
    text equalities, else its number comparisons (which hold for many values)."""
    found = conjunct_gates(node)
    keywords = [leaf for leaf in found if leaf.operator is Op.MATCHES_KEYWORDS]
    equalities = [leaf for leaf in found if leaf.operator in (Op.EQUALS, Op.IN)]
    return keywords or equalities or found


def conjunct_gates(node: Node) -> list[Leaf]:
    """Every gate leaf of ``node``'s top-level conjunction, of any kind: all must
    hold whenever ``node`` holds."""
    if isinstance(node, Leaf):
        return [node] if _is_gate(node) else []
    if node.op != "and":
        return []
    found: list[Leaf] = []
    for child in node.children:
        for leaf in conjunct_gates(child):
            if leaf not in found:
                found.append(leaf)
    return found


def keyword_leaves(node: Node) -> Iterable[Leaf]:
    if isinstance(node, Leaf):
        if node.operator is Op.MATCHES_KEYWORDS:
            yield node
        return
    for child in node.children:
        yield from keyword_leaves(child)


def trace_condition(
    node: Node, facts: Mapping[str, Any], *, now: datetime, keywords: KeywordHits
) -> Trace:
    """Evaluate ``node`` against ``facts``; every node says what it saw (no
    short cut, so the trace is whole)."""
    if isinstance(node, Leaf):
        return _trace_leaf(node, facts, now, keywords)
    children = tuple(trace_condition(c, facts, now=now, keywords=keywords) for c in node.children)
    if node.op == "and":
        result = all(c.result for c in children)
    elif node.op == "or":
        result = any(c.result for c in children)
    else:
        result = not children[0].result
    return group_trace(result, node.op, children)


def _actual(value: Any) -> tuple[str, ...]:
    if is_empty(value):
        return ()
    if isinstance(value, set | frozenset | list | tuple):
        return tuple(sorted(str(v) for v in value))
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, datetime):
        return (as_utc(value).isoformat().replace("+00:00", "Z"),)
    return (str(value),)


def _trace_leaf(
    leaf: Leaf, facts: Mapping[str, Any], now: datetime, keywords: KeywordHits
) -> Trace:
    if leaf.operator is Op.MATCHES_KEYWORDS:
        found = keyword_of_leaf(leaf, facts, keywords)
        return keyword_trace(leaf, found, keyword_shown(leaf.field, facts))
    value = facts.get(leaf.field)
    return fact_trace(leaf, leaf_matches(leaf, value, now), fact_view(leaf.field, value))


def keyword_shown(leaf_field: str, facts: Mapping[str, Any]) -> tuple[str, ...]:
    """The texts a keyword leaf on ``leaf_field`` searched, as its trace shows them."""
    texts = KEYWORD_SOURCES.get(leaf_field, (leaf_field,))
    return tuple(str(facts[s])[:200] for s in texts if facts.get(s))


def keyword_trace(leaf: Leaf, found: str | None, shown: tuple[str, ...]) -> Trace:
    """A keyword leaf's trace: ``found``, the keyword that hit (None: none did)."""
    if found is not None:
        return leaf_trace(True, leaf, shown, f"found {render(found)}")
    what = "no keyword found" + (" (fuzzy)" if leaf.fuzzy else "")
    return leaf_trace(False, leaf, shown, what)


def fact_view(leaf_field: str, value: Any) -> tuple[tuple[str, ...], str]:
    """How a leaf's trace shows the fact's value: as text, and in its note."""
    detail = f"{leaf_field} is empty" if is_empty(value) else f"{leaf_field} is {render(value)}"
    return _actual(value), detail


def fact_trace(leaf: Leaf, result: bool, view: tuple[tuple[str, ...], str]) -> Trace:
    """Any other leaf's trace, given whether it held and ``fact_view`` of its fact."""
    return leaf_trace(result, leaf, view[0], view[1])


def keyword_of_leaf(leaf: Leaf, facts: Mapping[str, Any], keywords: KeywordHits) -> str | None:
    return keywords.keyword_of(leaf, facts)


# --- one pass over a tenant's rules ---------------------------------------------------------


@dataclass(frozen=True)
class LoopContext:
    """Where the triggering event stands in a chain of rule actions: the run that
    caused it ("rules/{rule}/runs/{run}", empty for none) and its depth."""

    causing_run: str = ""
    depth: int = 0

    @property
    def causing_rule_id(self) -> str:
        parts = self.causing_run.split("/")
        return parts[1] if len(parts) >= 2 and parts[0] == "rules" else ""

    @property
    def ignored(self) -> bool:
        return self.depth >= LOOP_GUARD_DEPTH


@dataclass(frozen=True)
class Evaluation:
    """One rule's condition on one event: whether it held, and the trace."""

    rule: Rule
    matched: bool
    trace: Trace | None  # None: the rule has no condition, or was not evaluated
    note: str = ""


@dataclass(frozen=True)
class Verdict:
    """What came of one rule in a pass."""

    rule: Rule
    outcome: Outcome
    trace: Trace | None
    summary: str

    @property
    def fired(self) -> bool:
        return self.outcome is Outcome.MATCHED

    @property
    def condition_held(self) -> bool:
        return self.outcome not in (Outcome.NOT_MATCHED, Outcome.SKIPPED_LOOP_GUARD, Outcome.FAILED)


def made_evaluation(rule: Rule, matched: bool, trace: Trace | None, note: str = "") -> Evaluation:
    """``Evaluation(rule, matched, trace, note)``, made as ``group_trace`` makes a
    trace: one per candidate rule on every event."""
    made = _new(Evaluation)
    made.__dict__.update({"rule": rule, "matched": matched, "trace": trace, "note": note})
    return made


def made_verdict(rule: Rule, outcome: Outcome, trace: Trace | None, summary: str) -> Verdict:
    """``Verdict(rule, outcome, trace, summary)``, made as ``group_trace`` makes a trace."""
    made = _new(Verdict)
    made.__dict__.update({"rule": rule, "outcome": outcome, "trace": trace, "summary": summary})
    return made


def holds(node: Node, facts: Mapping[str, Any], *, now: datetime, keywords: KeywordHits) -> bool:
    """Whether ``node`` holds (short cut, no trace): what the trace's result would be."""
    if isinstance(node, Leaf):
        if node.operator is Op.MATCHES_KEYWORDS:
            return keywords.keyword_of(node, facts) is not None
        return leaf_matches(node, facts.get(node.field), now)
    if node.op == "and":
        return all(holds(c, facts, now=now, keywords=keywords) for c in node.children)
    if node.op == "or":
        return any(holds(c, facts, now=now, keywords=keywords) for c in node.children)
    return not holds(node.children[0], facts, now=now, keywords=keywords)


def evaluate_rule(
    rule: Rule,
    facts: Mapping[str, Any],
    *,
    now: datetime,
    keywords: KeywordHits,
    trace_misses: bool = True,
) -> Evaluation:
    """The rule's condition on the facts, with its trace (without one when it did
    not hold and ``trace_misses`` is false: a miss records no run)."""
    if rule.condition is None:
        return Evaluation(rule, True, None, "no condition")
    if not trace_misses and not holds(rule.condition, facts, now=now, keywords=keywords):
        return Evaluation(rule, False, None)
    trace = trace_condition(rule.condition, facts, now=now, keywords=keywords)
    return Evaluation(rule, trace.result, trace)


def decide(
    evaluations: Sequence[Evaluation],
    *,
    subject: str,
    loop: LoopContext,
    cooling: Callable[[Rule], bool],
    blacklisted: bool = False,
) -> list[Verdict]:
    """The outcome of each evaluated rule, in the order given (evaluation order).

    ``cooling(rule)``: whether the rule fired for this customer within its
    cooldown. Only a rule that fired with ``stop_processing`` stops the rules
    after it; those then come out SKIPPED_STOPPED if their condition held.
    """
    verdicts = []
    stopped_by: Rule | None = None
    causing_rule = loop.causing_rule_id
    for ev in evaluations:
        rule = ev.rule
        if loop.ignored:
            verdicts.append(
                Verdict(rule, Outcome.SKIPPED_LOOP_GUARD, None, f"event at depth {loop.depth}")
            )
            continue
        if causing_rule and rule.id == causing_rule:
            verdicts.append(
                Verdict(
                    rule,
                    Outcome.SKIPPED_LOOP_GUARD,
                    None,
                    f"the event is an effect of this rule's own run {loop.causing_run}",
                )
            )
            continue
        if not ev.matched:
            verdicts.append(
                made_verdict(
                    rule, Outcome.NOT_MATCHED, ev.trace, ev.note or "condition did not hold"
                )
            )
            continue
        if stopped_by is not None:
            outcome, why = Outcome.SKIPPED_STOPPED, f"stopped by rules/{stopped_by.id}"
        elif blacklisted:
            outcome, why = Outcome.SKIPPED_BLACKLISTED, "the customer is blacklisted"
        elif not in_rollout(rule.id, subject, rule.rollout_percent):
            outcome, why = (
                Outcome.SKIPPED_ROLLOUT,
                f"the customer is outside the {rule.rollout_percent}% rollout",
            )
        elif rule.cooldown_seconds and cooling(rule):
            outcome, why = (
                Outcome.SKIPPED_COOLDOWN,
                f"fired for the customer within its {rule.cooldown_seconds}s cooldown",
            )
        elif rule.shadow:
            outcome, why = Outcome.SHADOW_MATCHED, "shadow mode: recorded, nothing requested"
        else:
            outcome, why = Outcome.MATCHED, "condition held" if ev.trace else "no condition"
            if rule.stop_processing:
                stopped_by = rule
        verdicts.append(made_verdict(rule, outcome, ev.trace, why))
    return verdicts


def evaluate_pass(
    rules: Sequence[Rule],
    facts: Mapping[str, Any],
    *,
    subject: str,
    now: datetime,
    loop: LoopContext = LoopContext(),
    cooling: Callable[[Rule], bool] = lambda rule: False,
    keywords: KeywordHits | None = None,
) -> list[Verdict]:
    """Every rule evaluated (naively, unless ``keywords`` is given) and decided."""
    hits = keywords or NaiveKeywords()
    evaluations = [
        Evaluation(r, False, None, "not evaluated (loop guard)")
        if loop.ignored
        else evaluate_rule(r, facts, now=now, keywords=hits)
        for r in rules
    ]
    return decide(
        evaluations,
        subject=subject,
        loop=loop,
        cooling=cooling,
        blacklisted=bool(facts.get("customer.blacklisted")),
    )


# --- time facts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessCalendar:
    """A tenant's working hours: per ISO weekday (1 = Monday) a list of
    (start, end) times, in ``time_zone``; holidays have none."""

    time_zone: str = "UTC"
    hours: Mapping[int, tuple[tuple[time, time], ...]] = field(
        default_factory=lambda: {d: ((time(9), time(18)),) for d in range(1, 6)}
    )
    holidays: frozenset[date] = frozenset()

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone or "UTC")

    def open_at(self, moment: datetime) -> bool:
        local = as_utc(moment).astimezone(self.zone())
        if local.date() in self.holidays:
            return False
        now = local.time().replace(tzinfo=None)
        return any(start <= now < end for start, end in self.hours.get(local.isoweekday(), ()))


def time_facts(now: datetime, calendar: BusinessCalendar) -> dict[str, Any]:
    local = as_utc(now).astimezone(calendar.zone())
    return {
        "time.now": as_utc(now),
        "time.weekday": WEEKDAYS[local.weekday()],
        "time.hour": local.hour,
        "time.in_business_hours": calendar.open_at(now),
    }


# --- facts and traces as JSON (runs, the evaluation log) ---------------------------------


def facts_to_json(facts: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe facts: sets as sorted lists, times as RFC 3339 text."""
    out: dict[str, Any] = {}
    for name, value in facts.items():
        if isinstance(value, set | frozenset):
            out[name] = sorted(str(v) for v in value)
        elif isinstance(value, list | tuple):
            out[name] = [str(v) for v in value]
        elif isinstance(value, datetime):
            out[name] = as_utc(value).isoformat()
        else:
            out[name] = value
    return out


def facts_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """The facts ``facts_to_json`` wrote, typed again by the catalogue."""
    out: dict[str, Any] = {}
    for name, value in data.items():
        known = fact(name)
        if isinstance(value, list):
            out[name] = frozenset(value)
        elif known is not None and known.type is FieldType.TIMESTAMP and isinstance(value, str):
            out[name] = datetime.fromisoformat(value)
        else:
            out[name] = value
    return out


def trace_to_json(trace: Trace) -> dict[str, Any]:
    if trace.leaf is None:
        return {
            "op": trace.op,
            "result": trace.result,
            "children": [trace_to_json(c) for c in trace.children],
        }
    leaf = trace.leaf
    return {
        "field": leaf.field,
        "operator": leaf.operator.value,
        "values": [_value_text(v) for v in leaf.values],
        "fuzzy": leaf.fuzzy,
        "actual": list(trace.actual),
        "result": trace.result,
        "detail": trace.detail,
    }


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return as_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, timedelta):
        return render(value)
    return str(value)


def trace_from_json(data: Mapping[str, Any]) -> Trace:
    if "op" in data:
        return Trace(
            result=bool(data["result"]),
            op=str(data["op"]),
            children=tuple(trace_from_json(c) for c in data["children"]),
        )
    leaf = Leaf(str(data["field"]), Op(data["operator"]), tuple(data["values"]), data["fuzzy"])
    return Trace(
        result=bool(data["result"]),
        leaf=leaf,
        actual=tuple(data["actual"]),
        detail=str(data["detail"]),
    )
