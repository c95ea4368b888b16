"""The deadline of the call being served, so calls to peers never outlive it.

``AdmissionInterceptor`` records when the current call's deadline falls (if
its caller set one); ``call_budget`` is what is left of it. A service calling
a peer while serving a call gives the peer the smaller of its own deadline and
what its caller still waits for: work the caller has given up on is not
started, and a peer is not kept busy for an answer nobody will read.
"""

from __future__ import annotations

import contextvars
import time

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "crosstalk_call_deadline", default=None
)


def serve_until(remaining: float | None) -> None:
    """Record the deadline of the call this task serves (``remaining`` seconds from now)."""
    _deadline.set(None if remaining is None else time.monotonic() + remaining)


def call_budget(timeout: float) -> float:
    """``timeout``, or less if the call being served ends sooner (may be <= 0)."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    return min(timeout, deadline - time.monotonic())
