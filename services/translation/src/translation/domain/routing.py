"""Which engines to try, in which order, for one language pair.

A route is one or two hops. Each hop lists the engines that can translate it, in
the registry's priority order (the caller's preferred engine first). The executor
tries a hop's engines one after another and moves to the next route when a hop
runs out of engines. Direct routes come first, then routes through the pivot
language (English), then routes through any other language two engines share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Pair = tuple[str, str]


@dataclass(frozen=True)
class EngineOffer:
    """What one engine offers now: primary language subtags."""

    name: str
    available: bool
    pairs: frozenset[Pair]

    def translates(self, source: str, target: str) -> bool:
        return self.available and (source, target) in self.pairs


@dataclass(frozen=True)
class Hop:
    source: str
    target: str
    engines: tuple[str, ...]


@dataclass(frozen=True)
class Route:
    hops: tuple[Hop, ...]

    @property
    def pivot(self) -> str:
        return self.hops[0].target if len(self.hops) > 1 else ""


def _ordered(offers: Sequence[EngineOffer], preferred: str) -> list[EngineOffer]:
    first = [o for o in offers if o.name == preferred]
    return first + [o for o in offers if o.name != preferred]


def plan_routes(
    offers: Sequence[EngineOffer],
    source: str,
    target: str,
    *,
    preferred: str = "",
    pivot: str = "en",
    max_routes: int = 4,
) -> list[Route]:
    """Routes from ``source`` to ``target`` (primary subtags), best first."""
    ordered = _ordered(offers, preferred)

    def hop(a: str, b: str) -> Hop | None:
        engines = tuple(o.name for o in ordered if o.translates(a, b))
        return Hop(a, b, engines) if engines else None

    routes: list[Route] = []
    direct = hop(source, target)
    if direct:
        routes.append(Route((direct,)))
    middles = [pivot] if pivot not in (source, target) else []
    languages = sorted({lang for o in ordered if o.available for pair in o.pairs for lang in pair})
    middles += [lang for lang in languages if lang not in (source, target, pivot)]
    for middle in middles:
        if len(routes) >= max_routes:
            break
        first, second = hop(source, middle), hop(middle, target)
        if first and second:
            routes.append(Route((first, second)))
    return routes


def missing_pairs(offer_pairs: frozenset[Pair], languages: Sequence[str]) -> list[Pair]:
    """The ordered pairs of ``languages`` an engine does not translate directly."""
    return [(a, b) for a in languages for b in languages if a != b and (a, b) not in offer_pairs]
