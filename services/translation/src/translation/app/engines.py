"""The engine registry: routes a pair to engines and falls back when one fails."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crosstalk_common.errors import FailedPrecondition, PreconditionViolation, Unavailable
from translation.app.ports import EngineInfo, TranslationEngine
from translation.domain.languages import primary
from translation.domain.model import Formality
from translation.domain.routing import EngineOffer, Route, plan_routes

log = logging.getLogger(__name__)

# Checks one engine output (index of the text, output); returns a problem or None.
Acceptor = Callable[[int, str], str | None]


@dataclass(frozen=True)
class Routed:
    texts: tuple[str, ...]
    # Per text: the engine(s) that produced it, "apertium" or "apertium+deepl" (pivot).
    engines: tuple[str, ...]


class EngineRegistry:
    def __init__(
        self, engines: Sequence[TranslationEngine], *, order: Sequence[str] = (), pivot: str = "en"
    ) -> None:
        ranked = {name: i for i, name in enumerate(order)}
        self._engines = sorted(engines, key=lambda e: ranked.get(e.name, len(ranked)))
        self._by_name = {e.name: e for e in self._engines}
        self._pivot = pivot

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self._engines)

    def infos(self) -> list[EngineInfo]:
        return [e.info() for e in self._engines]

    def default_engine(self) -> str:
        return next((i.name for i in self.infos() if i.available), "")

    def routes(self, source: str, target: str, preferred: str = "") -> list[Route]:
        offers = [EngineOffer(i.name, i.available, i.pairs) for i in self.infos()]
        return plan_routes(
            offers, primary(source), primary(target), preferred=preferred, pivot=self._pivot
        )

    async def translate(
        self,
        texts: Sequence[str],
        source: str,
        target: str,
        formality: Formality,
        *,
        preferred: str = "",
        accept: Acceptor | None = None,
    ) -> Routed:
        """Translate every text, trying routes and engines in order, per text.

        Raises FailedPrecondition when no engine offers the pair at all and
        Unavailable naming every engine tried when all of them failed.
        """
        routes = self.routes(source, target, preferred)
        if not routes:
            raise self._no_route(source, target)
        results: dict[int, str] = {}
        used: dict[int, str] = {}
        failures: list[str] = []
        tried: list[str] = []
        pending = list(range(len(texts)))
        for route in routes:
            if not pending:
                break
            current = {i: texts[i] for i in pending}
            labels: dict[int, list[str]] = {i: [] for i in pending}
            for n, hop in enumerate(route.hops):
                hop_source = source if n == 0 else hop.source
                hop_target = target if n == len(route.hops) - 1 else hop.target
                remaining = list(current)
                done: dict[int, str] = {}
                for name in hop.engines:
                    if not remaining:
                        break
                    tried.append(name)
                    engine = self._by_name[name]
                    try:
                        outputs = await engine.translate(
                            [current[i] for i in remaining], hop_source, hop_target, formality
                        )
                    except Exception as exc:
                        log.warning(
                            "engine %s failed %s->%s: %s", name, hop_source, hop_target, exc
                        )
                        failures.append(f"{name} ({hop_source}->{hop_target}): {_short(exc)}")
                        continue
                    if len(outputs) != len(remaining):
                        failures.append(f"{name}: answered {len(outputs)} of {len(remaining)}")
                        continue
                    still: list[int] = []
                    for i, output in zip(remaining, outputs, strict=True):
                        problem = "empty translation" if not output.strip() else None
                        if problem is None and accept is not None:
                            problem = accept(i, output)
                        if problem:
                            failures.append(f"{name} ({hop_source}->{hop_target}): {problem}")
                            still.append(i)
                        else:
                            done[i] = output
                            labels[i].append(name)
                    remaining = still
                current = done
            for i, output in current.items():
                results[i] = output
                used[i] = "+".join(dict.fromkeys(labels[i]))
            pending = [i for i in pending if i not in results]
        if pending:
            names = ", ".join(dict.fromkeys(tried))
            detail = "; ".join(dict.fromkeys(failures))[:900]
            raise Unavailable(
                f"every translation engine failed for {source}->{target} "
                f"(tried: {names}): {detail}",
                reason="TRANSLATION_ENGINES_FAILED",
                metadata={"enginesTried": names, "pair": f"{source}->{target}"},
            )
        return Routed(
            tuple(results[i] for i in range(len(texts))), tuple(used[i] for i in range(len(texts)))
        )

    def _no_route(self, source: str, target: str) -> FailedPrecondition:
        hints = [
            f"{i.name}: {i.install_hint or i.unavailable_reason}"
            for i in self.infos()
            if i.install_hint or i.unavailable_reason
        ]
        pair = f"{primary(source)}->{primary(target)}"
        description = f"no configured engine translates {pair}, directly or through {self._pivot}"
        return FailedPrecondition(
            [PreconditionViolation("TRANSLATION_PAIR", pair, description)],
            f"{description}. " + " ".join(hints)[:900],
            reason="TRANSLATION_PAIR_UNAVAILABLE",
            metadata={"pair": pair},
        )


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
