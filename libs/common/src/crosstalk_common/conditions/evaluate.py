"""Evaluating a condition tree in memory, against the facts of one event.

Rules use this. It agrees with ``compile_to_sql`` on every operator except
fuzzy keyword matching, which only exists here: a missing fact counts as
empty, text comparisons for ``contains`` and ``matches_keywords`` ignore
case, tags are sets of strings, timestamps compare in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from crosstalk_common.clock import as_utc, utc_now
from crosstalk_common.conditions.model import Leaf, Node, Op, format_duration
from crosstalk_common.conditions.values import read_timestamp

FUZZY_MIN_LENGTH = 5
"""Keywords at least this long tolerate one typo (insertion, deletion, substitution)."""

_TOKEN = re.compile(r"\w+")
_ORDERED = {
    Op.GT: lambda a, b: a > b,
    Op.GTE: lambda a, b: a >= b,
    Op.LT: lambda a, b: a < b,
    Op.LTE: lambda a, b: a <= b,
    Op.AFTER: lambda a, b: a > b,
    Op.BEFORE: lambda a, b: a < b,
}


def evaluate(node: Node, facts: Mapping[str, Any], *, now: datetime | None = None) -> bool:
    """Whether ``facts`` (field name -> value) satisfy ``node``."""
    moment = as_utc(now) if now else utc_now()
    return _evaluate(node, facts, moment)


def explain(node: Node, facts: Mapping[str, Any], *, now: datetime | None = None) -> list[str]:
    """One line per leaf saying whether it matched and what the value was."""
    moment = as_utc(now) if now else utc_now()
    return [_explain_leaf(leaf, negated, facts, moment) for leaf, negated in _leaves(node, False)]


def _evaluate(node: Node, facts: Mapping[str, Any], now: datetime) -> bool:
    if isinstance(node, Leaf):
        return leaf_matches(node, facts.get(node.field), now)
    if node.op == "and":
        return all(_evaluate(child, facts, now) for child in node.children)
    if node.op == "or":
        return any(_evaluate(child, facts, now) for child in node.children)
    return not _evaluate(node.children[0], facts, now)


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str | bytes):
        return len(value) == 0
    return isinstance(value, Collection) and len(value) == 0


def leaf_matches(leaf: Leaf, value: Any, now: datetime) -> bool:
    """Whether one fact ``value`` satisfies ``leaf``."""
    op, values = leaf.operator, leaf.values
    if op is Op.IS_EMPTY:
        return is_empty(value)
    if op is Op.IS_NOT_EMPTY:
        return not is_empty(value)
    if op in (Op.NOT_EQUALS, Op.NOT_CONTAINS, Op.NOT_IN, Op.HAS_NO_TAG):
        return not leaf_matches(Leaf(leaf.field, _POSITIVE[op], values), value, now)
    if value is None:
        return False
    if op is Op.EQUALS:
        return bool(value == values[0])
    if op is Op.IN:
        return value in values
    if op is Op.CONTAINS:
        return values[0].lower() in str(value).lower()
    if op is Op.MATCHES_KEYWORDS:
        return find_keyword(str(value), values, fuzzy=leaf.fuzzy) is not None
    if op is Op.HAS_ANY_TAG:
        return not _as_tags(value).isdisjoint(values)
    if op is Op.HAS_ALL_TAGS:
        return _as_tags(value).issuperset(values)
    try:
        return _compare(op, _comparable(value, like=values[0]), values, now)
    except (TypeError, ValueError):
        return False  # a fact of the wrong type matches no comparison


_POSITIVE = {
    Op.NOT_EQUALS: Op.EQUALS,
    Op.NOT_CONTAINS: Op.CONTAINS,
    Op.NOT_IN: Op.IN,
    Op.HAS_NO_TAG: Op.HAS_ANY_TAG,
}


def _compare(op: Op, value: Any, values: tuple[Any, ...], now: datetime) -> bool:
    if op is Op.WITHIN_LAST:
        return bool(value >= now - values[0])
    if op is Op.BETWEEN:
        return bool(values[0] <= value <= values[1])
    compare = _ORDERED.get(op)
    if compare is None:
        raise ValueError(f"cannot evaluate {op}")
    return bool(compare(value, values[0]))


def _comparable(value: Any, *, like: Any) -> Any:
    """``value`` ready to compare with the condition value ``like``."""
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str) and isinstance(like, datetime | timedelta):
        return read_timestamp(value)
    return value


def _as_tags(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    return set(value) if isinstance(value, Iterable) else {str(value)}


def find_keyword(text: str, keywords: Sequence[str], *, fuzzy: bool = False) -> str | None:
    """The first keyword found in ``text`` (case-insensitive substring), else ``None``.

    With ``fuzzy``, a keyword of at least ``FUZZY_MIN_LENGTH`` characters also
    matches words of the text within one edit of it. Windows of the text are
    compared only with keywords of as many words whose length is within one of
    theirs, and each comparison is linear: a customer's message cannot make the
    search cost the product of its length, the keywords' and theirs.
    """
    lowered = text.lower()
    for keyword in keywords:
        if keyword.lower() in lowered:
            return keyword
    if not fuzzy:
        return None
    # width (words) -> length -> [(position among the keywords, phrase, keyword)]
    wanted: dict[int, dict[int, list[tuple[int, str, str]]]] = {}
    for position, keyword in enumerate(keywords):
        words = _TOKEN.findall(keyword.lower())
        phrase = " ".join(words)
        if len(phrase) >= FUZZY_MIN_LENGTH:
            wanted.setdefault(len(words), {}).setdefault(len(phrase), []).append(
                (position, phrase, keyword)
            )
    if not wanted:
        return None
    tokens = _TOKEN.findall(lowered)
    ends = [0]  # ends[i]: the length of the first i tokens, spaces between them included
    for token in tokens:
        ends.append(ends[-1] + len(token) + (1 if len(ends) > 1 else 0))
    best: tuple[int, str] | None = None
    for width, by_length in wanted.items():
        for start in range(len(tokens) - width + 1):
            length = ends[start + width] - ends[start] - (1 if start else 0)
            window = ""
            for candidate in (length - 1, length, length + 1):
                for position, phrase, keyword in by_length.get(candidate, ()):
                    if best is not None and position >= best[0]:
                        continue
                    window = window or " ".join(tokens[start : start + width])
                    if within_one_edit(window, phrase):
                        best = (position, keyword)
    return best[1] if best is not None else None


def within_one_edit(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by at most one insertion, deletion or substitution.
    Linear: past the common prefix, the rests must be equal once the one edit is
    made (string comparisons, not a table of distances)."""
    if a == b:
        return True
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    same = _common_prefix(a, b)
    if len(a) == len(b):
        return a[same + 1 :] == b[same + 1 :]
    return a[same:] == b[same + 1 :]


def _common_prefix(a: str, b: str) -> int:
    """The length of the longest common prefix (a binary search of slice comparisons)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def levenshtein(a: str, b: str, *, limit: int | None = None) -> int:
    """Edit distance of ``a`` and ``b``; stops early once it must exceed ``limit``."""
    if limit is not None and abs(len(a) - len(b)) > limit:
        return limit + 1
    if limit == 1:  # the fuzzy keyword's case: answered in linear time
        return 0 if a == b else 1 if within_one_edit(a, b) else 2
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


# --- explanations -------------------------------------------------------------------------


def _leaves(node: Node, negated: bool) -> Iterable[tuple[Leaf, bool]]:
    if isinstance(node, Leaf):
        yield node, negated
        return
    for child in node.children:
        yield from _leaves(child, negated != (node.op == "not"))


_PHRASES = {
    Op.IS_EMPTY: "is empty",
    Op.IS_NOT_EMPTY: "is not empty",
    Op.EQUALS: "equals",
    Op.NOT_EQUALS: "does not equal",
    Op.CONTAINS: "contains",
    Op.NOT_CONTAINS: "does not contain",
    Op.IN: "is one of",
    Op.NOT_IN: "is none of",
    Op.GT: "is greater than",
    Op.GTE: "is at least",
    Op.LT: "is less than",
    Op.LTE: "is at most",
    Op.BETWEEN: "is between",
    Op.BEFORE: "is before",
    Op.AFTER: "is after",
    Op.WITHIN_LAST: "is within the last",
    Op.HAS_ANY_TAG: "has any tag of",
    Op.HAS_ALL_TAGS: "has all tags of",
    Op.HAS_NO_TAG: "has none of the tags",
    Op.MATCHES_KEYWORDS: "matches any keyword of",
}


def _explain_leaf(leaf: Leaf, negated: bool, facts: Mapping[str, Any], now: datetime) -> str:
    value = facts.get(leaf.field)
    matched = leaf_matches(leaf, value, now)
    joiner = " and " if leaf.operator is Op.BETWEEN else ", "
    wanted = joiner.join(render(v) for v in leaf.values)
    condition = " ".join(part for part in (leaf.field, _PHRASES[leaf.operator], wanted) if part)
    if leaf.fuzzy:
        condition += " (fuzzy)"
    outcome = "matched" if matched else "not matched"
    detail = f"{leaf.field} is empty" if is_empty(value) else f"{leaf.field} is {render(value)}"
    if matched and leaf.operator is Op.MATCHES_KEYWORDS:
        keyword = find_keyword(str(value), leaf.values, fuzzy=leaf.fuzzy)
        detail = f"found {render(keyword)}"
    line = f"{condition}: {outcome} ({detail})"
    return f"{line} [inside NOT]" if negated else line


def render(value: Any, *, limit: int = 80) -> str:
    """A short human rendering of a condition value or a fact."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        text = as_utc(value).isoformat().replace("+00:00", "Z")
    elif isinstance(value, timedelta):
        text = format_duration(value)
    elif isinstance(value, str):
        text = repr(value)
    elif isinstance(value, set | frozenset | list | tuple):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        text = "[" + ", ".join(render(item, limit=limit) for item in items) + "]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
