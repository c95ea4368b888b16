"""A tenant's enabled rules of one trigger, compiled for evaluation (core_loop §2).

The keywords of all the rules' ``matches_keywords`` leaves go into one
Aho-Corasick automaton (pyahocorasick) per field: one scan of the message's
normalised texts finds every keyword of every rule at once. A keyword that
names one of the message's intents or the keywords translation matched for
them (synonyms) is found by one lookup per synonym; fuzzy keywords by their
one-deletion variants (a word within one edit of a keyword shares one with
it), checked with the edit distance. Only rules whose condition cannot hold
without a keyword hit are gated: such a rule is evaluated only when one of
its keywords occurs; every other rule always is.

The answers are those of ``domain.evaluation.NaiveKeywords`` (a test holds
the two together); ``bench/rules_bench.py`` measures both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import ahocorasick  # type: ignore[import-not-found]

from crosstalk_common.conditions.model import Leaf
from rules.domain.evaluation import (
    FUZZY_MIN_LENGTH,
    Evaluation,
    KnownHits,
    evaluate_rule,
    keyword_leaves,
    keyword_phrase,
    keyword_texts,
    normalise,
    requires_keyword,
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
            table = self.fuzzy[len(phrase.split(" "))]
            for variant in {phrase, *_deletions(phrase)}:
                table[variant].append((phrase, entry))

    def build(self) -> None:
        automaton = ahocorasick.Automaton()
        for keyword, entries in self.exact.items():
            automaton.add_word(keyword, tuple(entries))
        if len(automaton):
            automaton.make_automaton()
            self.automaton = automaton

    def find(self, field: str, facts: Mapping[str, Any], hits: dict[Leaf, str]) -> None:
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
                for start in range(len(words) - width + 1):
                    window = " ".join(words[start : start + width])
                    for variant in (window, *_deletions(window)):
                        for phrase, entry in table.get(variant, ()):
                            if entry.leaf not in hits and within_one_edit(window, phrase):
                                hits[entry.leaf] = entry.keyword


class CompiledRules:
    """Rules in evaluation order, with their keyword automata."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        # Legacy bare fact names ("text") read as their namespaced facts.
        self.rules = tuple(
            replace(r, condition=with_canonical_names(r.condition))
            if r.condition is not None
            else r
            for r in rules
        )
        self._always: list[int] = []
        self._gated: dict[Leaf, list[int]] = defaultdict(list)
        self._fields: dict[str, _FieldIndex] = {}
        for index, rule in enumerate(self.rules):
            condition = rule.condition
            leaves = list(keyword_leaves(condition)) if condition is not None else []
            for leaf in leaves:
                field_index = self._fields.get(leaf.field)
                if field_index is None:
                    field_index = self._fields[leaf.field] = _FieldIndex()
                field_index.add(leaf)
            if condition is not None and requires_keyword(condition):
                for leaf in set(leaves):
                    self._gated[leaf].append(index)
            else:
                self._always.append(index)
        for field_index in self._fields.values():
            field_index.build()

    def keyword_hits(self, facts: Mapping[str, Any]) -> dict[Leaf, str]:
        """Each keyword leaf (of any rule) that hits, with a keyword found."""
        hits: dict[Leaf, str] = {}
        for field, index in self._fields.items():
            index.find(field, facts, hits)
        return hits

    def candidates(self, hits: Iterable[Leaf]) -> list[Rule]:
        """The rules to evaluate, in evaluation order: those not gated by keywords,
        and those one of whose keywords hit."""
        chosen = set(self._always)
        for leaf in hits:
            chosen.update(self._gated.get(leaf, ()))
        return [self.rules[i] for i in sorted(chosen)]

    def evaluate(self, facts: Mapping[str, Any], *, now: datetime) -> list[Evaluation]:
        """The evaluations of the candidate rules, in order; every other rule's
        condition cannot hold (none of its keywords occur)."""
        hits = self.keyword_hits(facts)
        known = KnownHits(hits)
        return [
            evaluate_rule(rule, facts, now=now, keywords=known) for rule in self.candidates(hits)
        ]
