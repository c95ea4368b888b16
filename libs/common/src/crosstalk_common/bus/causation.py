"""Which rule run an event is a consequence of, and how far down the chain.

Every envelope carries ``causing_run`` and ``causation_depth`` (the rules
engine's loop guard reads them). The consumer kit makes the consumed event's
causation current while its handler runs (``caused_by``), and the outbox
writes the current causation into every envelope staged meanwhile, so what
a service emits because of a rule's action carries that rule's run without
the use case passing it along. A producer that starts a new link of the
chain (rules, emitting a ``rule.action.*`` event: its run, the trigger's
depth + 1) passes ``causation=`` to ``emit`` instead.

Pure: the standard library only, so use cases may name ``Causation``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Causation:
    """``run``: the causing rule run ("rules/{rule}/runs/{run}"); ``depth``:
    rule actions between the original event and this one."""

    run: str
    depth: int


_CURRENT: ContextVar[Causation | None] = ContextVar("crosstalk_causation", default=None)


def current_causation() -> Causation | None:
    """The causation of the event being handled now; None outside a handler
    or for an event no rule caused."""
    return _CURRENT.get()


@contextmanager
def caused_by(causation: Causation | None) -> Iterator[None]:
    """Make ``causation`` current for the block (None: no causation)."""
    token = _CURRENT.set(causation)
    try:
        yield
    finally:
        _CURRENT.reset(token)
