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

The answers are those of ``domain.evaluation.NaiveKeywords`` (a test holds
the two together); ``bench/rules_bench.py`` measures both.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import ahocorasick  # type: ignore[import-not-found]

from crosstalk_common.conditions.model import Leaf, Op
from rules.domain.evaluation import (
    FUZZY_MIN_LENGTH,
    KEYWORD_SOURCES,
    Evaluation,
    KnownHits,
    evaluate_rule,
    gate_leaves,
    is_range_gate,
    keyword_leaves,
    keyword_phrase,
    keyword_texts,
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


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@dataclass(frozen=True)
class _Entry:
    leaf: Leaf
    keyword: str


class _FieldIndex:
    """Every keyword leaf on one field."""

    def __init__(self) -> None:
        self.exact: dict[str, list[_Entry]] = defaultdict(list)
        # width (words) -> variant -> (phrase, entry)
        self.fuzzy: dict[int, dict[str, list[tuple[str, _Entry]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.fuzzy_lengths: dict[int, set[int]] = defaultdict(set)
        self.automaton: Any = None

    def add(self, leaf: Leaf) -> None:
        for keyword in leaf.values:
            entry = _Entry(leaf, str(keyword))
            wanted = normalise(str(keyword))
            if wanted:
                self.exact[wanted].append(entry)
            if not leaf.fuzzy:
                continue
            phrase = keyword_phrase(str(keyword))
            if len(phrase) < FUZZY_MIN_LENGTH:
                continue
            width = len(phrase.split(" "))
            table = self.fuzzy[width]
            # A window within one edit of the phrase is within one character of its length.
            self.fuzzy_lengths[width].update(range(len(phrase) - 1, len(phrase) + 2))
            for variant in {phrase, *_deletions(phrase)}:
                table[variant].append((phrase, entry))

    def build(self) -> None:
        automaton = ahocorasick.Automaton()
        for keyword, entries in self.exact.items():
            automaton.add_word(keyword, tuple(entries))
        if len(automaton):
            automaton.make_automaton()
            self.automaton = automaton

    def find(
        self,
        field: str,
        facts: Mapping[str, Any],
        hits: dict[Leaf, str],
        texts: list[str] | None = None,
    ) -> None:
        """Add the field's keyword leaves that hit (``texts``: the field's texts
        already normalised)."""
        if texts is None:
            texts = keyword_texts(field, facts)
        if self.automaton is not None and texts:
            for _, entries in self.automaton.iter(_SEPARATOR.join(texts)):
                for entry in entries:
                    hits.setdefault(entry.leaf, entry.keyword)
        if uses_synonyms(field):
            for synonym in synonyms_of(facts):
                for entry in self.exact.get(synonym, ()):
                    hits.setdefault(entry.leaf, entry.keyword)
        if not self.fuzzy:
            return
        for text in texts:
            words = tokens(text)
            for width, table in self.fuzzy.items():
                lengths = self.fuzzy_lengths[width]
                for start in range(len(words) - width + 1):
                    window = " ".join(words[start : start + width])
                    if len(window) not in lengths:
                        continue
                    for variant in (window, *_deletions(window)):
                        for phrase, entry in table.get(variant, ()):
                            if entry.leaf not in hits and within_one_edit(window, phrase):
                                hits[entry.leaf] = entry.keyword


class CompiledRules:
    """Rules in evaluation order, with their keyword automata and gate indexes.

    A gate is a leaf that must hold for a rule's condition to hold, and that can
    be found without evaluating the rule: a keyword (the automata), a text
    equality (a per-field index of values) or a number comparison (thresholds,
    bisected). A rule whose top-level conjunction requires gates is posted under
    the rarest of them, and becomes a candidate when that one and all its other
    required gates hold; a rule without such gates but whose disjunction has a
    gate in every branch is posted under each; any other rule is evaluated for
    every event. Gates are numbered (a Leaf hashes its whole content each time).
    """

    def __init__(self, rules: Sequence[Rule]) -> None:
        # Legacy bare fact names ("text") read as their namespaced facts.
        self.rules = tuple(
            replace(r, condition=with_canonical_names(r.condition))
            if r.condition is not None
            else r
            for r in rules
        )
        self._always: list[int] = []
        self._gate_ids: dict[Leaf, int] = {}
        self._posted: dict[int, list[int]] = defaultdict(list)
        # rule index -> the other gates its conjunction requires (besides its posting)
        self._also: dict[int, tuple[int, ...]] = {}
        self._fields: dict[str, _FieldIndex] = {}
        # field -> value -> equality gates (EQUALS / IN on text) that hold for it
        self._equalities: dict[str, dict[str, list[int]]] = {}
        # field -> operator -> number comparisons; then (thresholds ascending, gates)
        self._range_leaves: dict[str, dict[Op, list[Leaf]]] = {}
        self._ranges: dict[str, dict[Op, tuple[list[Any], list[int]]]] = {}

        required: list[list[Leaf]] = []
        frequency: dict[Leaf, int] = defaultdict(int)
        for rule in self.rules:
            condition = rule.condition
            for leaf in keyword_leaves(condition) if condition is not None else ():
                field_index = self._fields.get(leaf.field)
                if field_index is None:
                    field_index = self._fields[leaf.field] = _FieldIndex()
                field_index.add(leaf)
            must = required_gates(condition) if condition is not None else []
            required.append(must)
            for leaf in must:
                frequency[leaf] += 1
        for index, rule in enumerate(self.rules):
            must = required[index]
            if must:
                rarest = min(must, key=lambda leaf: frequency[leaf])
                posted: list[Leaf] = [rarest]
                others = tuple(self._index_gate(leaf) for leaf in must if leaf != rarest)
                if others:
                    self._also[index] = others
            else:
                alternatives = gate_leaves(rule.condition) if rule.condition is not None else None
                if not alternatives:
                    self._always.append(index)
                    continue
                posted = alternatives
            for leaf in dict.fromkeys(posted):
                self._posted[self._index_gate(leaf)].append(index)
        for field, by_operator in self._range_leaves.items():
            for op, leaves in by_operator.items():
                leaves.sort(key=lambda leaf: leaf.values[0])
                self._ranges.setdefault(field, {})[op] = (
                    [leaf.values[0] for leaf in leaves],
                    [self._gate_ids[leaf] for leaf in leaves],
                )
        for field_index in self._fields.values():
            field_index.build()

    def _index_gate(self, gate: Leaf) -> int:
        """The gate's number, indexing it the first time."""
        found = self._gate_ids.get(gate)
        if found is not None:
            return found
        number = self._gate_ids[gate] = len(self._gate_ids)
        if gate.operator is Op.MATCHES_KEYWORDS:
            pass  # in its field's automaton
        elif is_range_gate(gate):
            by_operator = self._range_leaves.setdefault(gate.field, {})
            by_operator.setdefault(gate.operator, []).append(gate)
        else:
            by_value = self._equalities.setdefault(gate.field, {})
            for value in gate.values:
                by_value.setdefault(str(value), []).append(number)
        return number

    def keyword_hits(self, facts: Mapping[str, Any]) -> dict[Leaf, str]:
        """Each keyword leaf (of any rule) that hits, with a keyword found."""
        hits: dict[Leaf, str] = {}
        normalised: dict[str, str] = {}  # each source text normalised once
        for field, index in self._fields.items():
            texts = []
            for source in KEYWORD_SOURCES.get(field, (field,)):
                if facts.get(source):
                    if source not in normalised:
                        normalised[source] = normalise(str(facts[source]))
                    texts.append(normalised[source])
            index.find(field, facts, hits, texts)
        return hits

    def held_gates(self, facts: Mapping[str, Any], hits: Iterable[Leaf] = ()) -> set[int]:
        """The numbers of the gates that hold: the keyword leaves that hit, and the
        indexed equalities and number comparisons the facts satisfy."""
        ids = self._gate_ids
        held: list[int] = [n for n in (ids.get(leaf) for leaf in hits) if n is not None]
        for field, by_value in self._equalities.items():
            value = facts.get(field)
            if isinstance(value, str):
                held.extend(by_value.get(value, ()))
        for field, ranges in self._ranges.items():
            number = facts.get(field)
            if not isinstance(number, int | float) or isinstance(number, bool):
                continue
            for op, (thresholds, gates) in ranges.items():
                if op is Op.LT:  # number < threshold
                    held.extend(gates[bisect_right(thresholds, number) :])
                elif op is Op.LTE:
                    held.extend(gates[bisect_left(thresholds, number) :])
                elif op is Op.GT:  # number > threshold
                    held.extend(gates[: bisect_left(thresholds, number)])
                else:
                    held.extend(gates[: bisect_right(thresholds, number)])
        return set(held)

    def candidates(self, holding: set[int]) -> list[Rule]:
        """The rules to evaluate, in evaluation order, given the gates that hold."""
        posted, also = self._posted, self._also
        chosen = set(self._always)
        for gate in holding:
            for index in posted.get(gate, ()):
                others = also.get(index)
                if others is None or holding.issuperset(others):
                    chosen.add(index)
        return [self.rules[i] for i in sorted(chosen)]

    def evaluate(self, facts: Mapping[str, Any], *, now: datetime) -> list[Evaluation]:
        """The evaluations of the candidate rules, in order: no other rule's
        condition can hold. A condition that does not hold gets no trace."""
        hits = self.keyword_hits(facts)
        known = KnownHits(hits)
        return [
            evaluate_rule(rule, facts, now=now, keywords=known, trace_misses=False)
            for rule in self.candidates(self.held_gates(facts, hits))
        ]
