"""Whether the running task serves a caller who waits for its answer.

Set by the gRPC server for each call it serves (``AdmissionInterceptor``);
work of the service's own (event consumers, the outbox relay, housekeeping)
runs in tasks that never set it. The SQLite write gate lets such callers in
first (``db.write_gate``).
"""

from __future__ import annotations

from contextvars import ContextVar

_caller_waits: ContextVar[bool] = ContextVar("crosstalk_caller_waits", default=False)


def serving_a_caller() -> None:
    """Mark the running task (and tasks it starts from now on) as serving a caller."""
    _caller_waits.set(True)


def a_caller_waits() -> bool:
    return _caller_waits.get()
