"""A tenant's enabled rules of one trigger, compiled for evaluation (core_loop §2).

The keywords of all the rules' ``matches_keywords`` leaves go into one
Aho-Corasick automaton (pyahocorasick) per field: one scan of the message's
normalised texts finds every keyword of every rule at once. A keyword that
names one of the message's intents or the keywords translation matched for
them (synonyms) is found by one lookup per synonym; fuzzy keywords by their
one-deletion variants (a word within one edit of a keyword shares one with
it), checked with the edit distance. A rule is gated when its condition cannot
hold unless one of some keyword or text-equality leaves holds
(``gate_leaves``): it is evaluated only when one of those holds (a keyword hit,
or the fact's value looked up in a per-field index); every other rule always
is.

A keyword leaf that hits records the keyword the naive scan would name (the
first of its keywords found exactly or as a synonym, else the first found
fuzzily). What a window of words is within one edit of is kept (bounded):
most words of most messages are the same few.

The candidates are evaluated by their compiled conditions
(``domain.compiled``): each distinct leaf is worked out once per event, however
many rules share it. The answers and traces are those of the naive loop
(``domain.evaluation.evaluate_pass`` with ``NaiveKeywords``; property tests hold
the two together); ``bench/rules_bench.py`` measures both.

``keep_out_of_collections`` moves what the process holds (the compiled rules
above all) out of the cyclic garbage collector's reach: a full collection of a
heap holding 10,000 compiled rules took ~120 ms, one event's evaluation then.
"""

from __future__ import annotations

import gc
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import pairwise
from typing import Any

import ahocorasick  # type: ignore[import-not-found]

from crosstalk_common.conditions.model import Leaf, Op
from rules.domain.compiled import (
    CompiledCondition,
    EventLeaves,
    LeafNumbers,
    compile_condition,
    evaluate_compiled,
)
from rules.domain.evaluation import (
    FUZZY_MIN_LENGTH,
    KEYWORD_SOURCES,
    Evaluation,
    conjunct_gates,
    gate_leaves,
    is_range_gate,
    keyword_leaves,
    keyword_phrase,
    normalise,
    required_gates,
    synonyms_of,
    tokens,
    uses_synonyms,
    within_one_edit,
)
from rules.domain.facts import with_canonical_names
from rules.domain.model import Rule

_SEPARATOR = "\x1f"  # between the texts scanned together; no keyword holds it
_WINDOWS_KEPT = 50_000  # fuzzy answers kept per field, then forgotten all at once

# A keyword leaf's number, the rank of the keyword (its position among the
# leaf's keywords; fuzzy ones after all exact ones) and the keyword.
_Entry = tuple[int, int, str]
# leaf number -> (rank, keyword) of the best-ranked keyword found
Hits = dict[int, tuple[int, str]]


FREEZE_FROM_RULES = 1_000
"""Rule sets this large are frozen out of the collector once compiled."""


def keep_out_of_collections(compiled: CompiledRules) -> bool:
    """Freeze what the process holds now (``compiled`` above all: a large rule set
    is most of the heap) out of later collections, when ``compiled`` has at least
    ``FREEZE_FROM_RULES`` rules; whether it did. Frozen objects live until
    replaced, and compiled rules hold no reference cycle, so reference counting
    frees them then. What was frozen before is thawed and collected first:
    whatever died since in a cycle is not kept for good. That costs one full
    collection (~0.3 s beside 10,000 rules, compiled in ~1.3 s), paid when a
    large rule set was compiled rather than at random events; a small one does
    not make the pauses worth it."""
    if len(compiled.rules) < FREEZE_FROM_RULES:
        return False
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return True


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _phrase_keys(words: list[str]) -> list[str]:
    """For each word of a phrase, its position and the phrase's other words."""
    return [f"{i}{_SEPARATOR}" + " ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]


def _hit(hits: Hits, number: int, rank: int, keyword: str) -> None:
    found = hits.get(number)
    if found is None or rank < found[0]:
        hits[number] = (rank, keyword)


class _FieldIndex:
    """Every keyword leaf on one field."""

    def __init__(self, field: str) -> None:
        self.synonyms = uses_synonyms(field)  # a keyword naming an intent hits
        self.exact: dict[str, list[_Entry]] = {}
        # One-word phrases: variant (the word or one of its one-deletions) -> (phrase, entry).
        self.fuzzy: dict[str, list[tuple[str, _Entry]]] = {}
        # Longer phrases: a window of as many words within one edit of one has all its
        # words but one the same, and the edit within that word. Keyed by the position
        # of the word that may differ and the other words.
        self.phrases: dict[str, list[tuple[str, _Entry]]] = {}
        self.phrase_words: set[str] = set()  # the words of those longer phrases
        self.fuzzy_lengths: dict[int, set[int]] = {}  # width (words) -> window lengths
        self.windows: dict[str, tuple[_Entry, ...]] = {}  # window -> fuzzy entries it hits
        self.automaton: Any = None

    def add(self, leaf: Leaf, number: int) -> None:
        count = len(leaf.values)
        for position, keyword in enumerate(leaf.values):
            wanted = normalise(str(keyword))
            if wanted:
                self.exact.setdefault(wanted, []).append((number, position, str(keyword)))
            if not leaf.fuzzy:
                continue
            phrase = keyword_phrase(str(keyword))
            if len(phrase) < FUZZY_MIN_LENGTH:
                continue
            width = len(phrase.split(" "))
            # A window within one edit of the phrase is within one character of its length.
            lengths = self.fuzzy_lengths.setdefault(width, set())
            lengths.update(range(len(phrase) - 1, len(phrase) + 2))
            entry = (number, count + position, str(keyword))
            if width == 1:
                for variant in {phrase, *_deletions(phrase)}:
                    self.fuzzy.setdefault(variant, []).append((phrase, entry))
            else:
                self.phrase_words.update(phrase.split(" "))
                for key in _phrase_keys(phrase.split(" ")):
                    self.phrases.setdefault(key, []).append((phrase, entry))

    def build(self) -> None:
        automaton = ahocorasick.Automaton()
        for keyword, entries in self.exact.items():
            automaton.add_word(keyword, tuple(entries))
        if len(automaton):
            automaton.make_automaton()
            self.automaton = automaton

    def find(
        self, facts: Mapping[str, Any], hits: Hits, texts: list[tuple[str, list[str]]]
    ) -> None:
        """Add the field's keyword leaves that hit (``texts``: the field's texts
        normalised, each with its words; ``facts``: for the synonyms)."""
        if self.automaton is not None and texts:
            for _, entries in self.automaton.iter(_SEPARATOR.join(text for text, _ in texts)):
                for number, rank, keyword in entries:
                    _hit(hits, number, rank, keyword)
        if self.synonyms:
            for synonym in synonyms_of(facts):
                for number, rank, keyword in self.exact.get(synonym, ()):
                    _hit(hits, number, rank, keyword)
        if not self.fuzzy_lengths:
            return
        known = self.windows
        for _, words in texts:
            for width, lengths in self.fuzzy_lengths.items():
                # Of longer windows, those all of whose words but one are a phrase's.
                windows = words if width == 1 else self._windows(words, width)
                for window in windows:
                    if len(window) not in lengths:
                        continue
                    found = known.get(window)
                    if found is None:
                        found = self._fuzzy_hits(window)
                    for number, rank, keyword in found:
                        _hit(hits, number, rank, keyword)

    def _windows(self, words: list[str], width: int) -> list[str]:
        """The windows of ``width`` words that may be within one edit of a phrase."""
        known = self.phrase_words
        if width == 2:
            return [f"{a} {b}" for a, b in pairwise(words) if a in known or b in known]
        windows = []
        for start in range(len(words) - width + 1):
            window = words[start : start + width]
            if sum(word not in known for word in window) <= 1:
                windows.append(" ".join(window))
        return windows

    def _fuzzy_hits(self, window: str) -> tuple[_Entry, ...]:
        if " " in window:
            table, keys = self.phrases, _phrase_keys(window.split(" "))
        else:
            table, keys = self.fuzzy, [window, *_deletions(window)]
        found: dict[_Entry, None] = {}
        for key in keys:
            for phrase, entry in table.get(key, ()):
                if entry not in found and within_one_edit(window, phrase):
                    found[entry] = None
        if len(self.windows) >= _WINDOWS_KEPT:
            self.windows.clear()
        answer = self.windows[window] = tuple(found)
        return answer


class CompiledRules:
    """Rules in evaluation order, with their keyword automata, gate indexes and
    compiled conditions.

    A gate is a leaf that must hold for a rule's condition to hold, and that can
    be found without evaluating the rule: a keyword (the automata), a text
    equality (a per-field index of values) or a number comparison (thresholds,
    bisected). A rule whose top-level conjunction requires gates is posted under
    the most selective of them (a keyword; else the text equality naming the
    smallest share of the values rules compare the field with; then the rarest
    among rules), and becomes a candidate when that one and all the other gates
    of its conjunction (number comparisons too) hold; a rule without such gates
    but whose disjunction has a gate in every branch is posted under each; any
    other rule is evaluated for every event. Gates are leaves, numbered (a Leaf
    hashes its whole content each time).
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        # Legacy bare fact names ("text") read as their namespaced facts.
        self.rules = tuple(
            replace(r, condition=with_canonical_names(r.condition))
            if r.condition is not None
            else r
            for r in rules
        )
        self._numbers = LeafNumbers()
        self._conditions: tuple[CompiledCondition | None, ...] = tuple(
            compile_condition(r.condition, self._numbers) if r.condition is not None else None
            for r in self.rules
        )
        self._always: list[int] = []
        self._indexed: set[int] = set()  # gates (leaf numbers) in an index
        # gate -> (rule index, the other gates the rule's conjunction requires)
        self._posted: dict[int, list[tuple[int, frozenset[int]]]] = defaultdict(list)
        self._fields: dict[str, _FieldIndex] = {}
        # field -> value -> equality gates (EQUALS / IN on text) that hold for it
        self._equalities: dict[str, dict[str, list[int]]] = {}
        # field -> operator -> number comparisons; then (thresholds ascending, gates)
        self._range_leaves: dict[str, dict[Op, list[Leaf]]] = {}
        self._ranges: dict[str, dict[Op, tuple[list[Any], list[int]]]] = {}

        numbers = self._numbers
        keyword_numbers: set[int] = set()
        for rule in self.rules:
            for leaf in keyword_leaves(rule.condition) if rule.condition is not None else ():
                number = numbers.number(leaf)
                if number in keyword_numbers:
                    continue
                keyword_numbers.add(number)
                field_index = self._fields.get(leaf.field)
                if field_index is None:
                    field_index = self._fields[leaf.field] = _FieldIndex(leaf.field)
                field_index.add(leaf, number)
        required = [
            required_gates(r.condition) if r.condition is not None else [] for r in self.rules
        ]
        frequency: dict[Leaf, int] = defaultdict(int)
        compared: dict[str, set[str]] = defaultdict(set)  # field -> text values compared with
        for must in required:
            for leaf in must:
                frequency[leaf] += 1
        for leaf in numbers.leaves:
            if leaf.operator in (Op.EQUALS, Op.IN):
                compared[leaf.field].update(str(v) for v in leaf.values)

        def selectivity(leaf: Leaf) -> tuple[float, int]:
            share = 0.0
            if leaf.operator in (Op.EQUALS, Op.IN):  # holds for a share of the values
                share = len(set(leaf.values)) / (len(compared[leaf.field]) + 1)
            return share, frequency[leaf]

        for index, rule in enumerate(self.rules):
            must = required[index]
            others: frozenset[int] = frozenset()
            if must:
                best = min(must, key=selectivity)
                posted: list[Leaf] = [best]
                # Checked against every gate the conjunction requires, of any kind.
                every = conjunct_gates(rule.condition) if rule.condition is not None else must
                others = frozenset(self._index_gate(leaf) for leaf in every if leaf != best)
            else:
                alternatives = gate_leaves(rule.condition) if rule.condition is not None else None
                if not alternatives:
                    self._always.append(index)
                    continue
                posted = alternatives
            for leaf in dict.fromkeys(posted):
                self._posted[self._index_gate(leaf)].append((index, others))
        for field, by_operator in self._range_leaves.items():
            for op, leaves in by_operator.items():
                leaves.sort(key=lambda leaf: leaf.values[0])
                self._ranges.setdefault(field, {})[op] = (
                    [leaf.values[0] for leaf in leaves],
                    [numbers.number(leaf) for leaf in leaves],
                )
        self._posting = frozenset(self._posted)  # gates a rule is posted under
        for field_index in self._fields.values():
            field_index.build()

    def _index_gate(self, gate: Leaf) -> int:
        """The gate's number, indexing it the first time."""
        number = self._numbers.number(gate)
        if number in self._indexed:
            return number
        self._indexed.add(number)
        if gate.operator is Op.MATCHES_KEYWORDS:
            pass  # in its field's automaton
        elif is_range_gate(gate):
            by_operator = self._range_leaves.setdefault(gate.field, {})
            by_operator.setdefault(gate.operator, []).append(gate)
        else:
            by_value = self._equalities.setdefault(gate.field, {})
            for value in dict.fromkeys(gate.values):
                by_value.setdefault(str(value), []).append(number)
        return number

    def _hits(self, facts: Mapping[str, Any]) -> Hits:
        hits: Hits = {}
        # each source text normalised and split into words once
        normalised: dict[str, tuple[str, list[str]]] = {}
        for field, index in self._fields.items():
            texts = []
            for source in KEYWORD_SOURCES.get(field, (field,)):
                if facts.get(source):
                    if source not in normalised:
                        text = normalise(str(facts[source]))
                        normalised[source] = (text, tokens(text))
                    texts.append(normalised[source])
            index.find(facts, hits, texts)
        return hits

    def keyword_hits(self, facts: Mapping[str, Any]) -> dict[Leaf, str]:
        """Each keyword leaf (of any rule) that hits, with the keyword found."""
        leaves = self._numbers.leaves
        return {leaves[number]: keyword for number, (_, keyword) in self._hits(facts).items()}

    def held_gates(self, facts: Mapping[str, Any], hits: Mapping[int, Any]) -> set[int]:
        """The numbers of the gates that hold: the keyword leaves that hit, and the
        indexed equalities and number comparisons the facts satisfy."""
        held = set(hits)
        for field, by_value in self._equalities.items():
            value = facts.get(field)
            if isinstance(value, str):
                held.update(by_value.get(value, ()))
        for field, ranges in self._ranges.items():
            number = facts.get(field)
            if not isinstance(number, int | float):  # a bool compares as 0 or 1, as in leaves
                continue
            if number != number:  # NaN: no comparison holds, and it does not bisect
                continue
            for op, (thresholds, gates) in ranges.items():
                if op is Op.LT:  # number < threshold
                    held.update(gates[bisect_right(thresholds, number) :])
                elif op is Op.LTE:
                    held.update(gates[bisect_left(thresholds, number) :])
                elif op is Op.GT:  # number > threshold
                    held.update(gates[: bisect_left(thresholds, number)])
                else:
                    held.update(gates[: bisect_right(thresholds, number)])
        return held

    def candidates(self, holding: set[int]) -> list[int]:
        """The indexes of the rules to evaluate, in evaluation order, given the
        gates that hold."""
        posted = self._posted
        chosen = set(self._always)
        for gate in holding & self._posting:  # many held gates post no rule
            for index, others in posted[gate]:
                if others <= holding:
                    chosen.add(index)
        return sorted(chosen)

    def evaluate(self, facts: Mapping[str, Any], *, now: datetime) -> list[Evaluation]:
        """The evaluations of the candidate rules, in order: no other rule's
        condition can hold. A condition that does not hold gets no trace."""
        hits = self._hits(facts)
        found = {number: keyword for number, (_, keyword) in hits.items()}
        held = self.held_gates(facts, found)
        # A gate found to hold is a leaf that holds: not worked out again.
        leaves = EventLeaves(self._numbers.leaves, facts, now, found, held=held)
        rules, conditions = self.rules, self._conditions
        return [evaluate_compiled(rules[i], conditions[i], leaves) for i in self.candidates(held)]
