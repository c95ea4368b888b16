"""Percentiles and a uniform way to print bench figures."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(label: str, seconds: Sequence[float], *, target: str = "") -> str:
    ms = [s * 1000 for s in seconds]
    line = (
        f"{label:<44} n={len(ms):>6}  p50={percentile(ms, 50):7.3f} ms  "
        f"p95={percentile(ms, 95):7.3f} ms  p99={percentile(ms, 99):7.3f} ms  "
        f"mean={statistics.fmean(ms):7.3f} ms"
    )
    return f"{line}  [target {target}]" if target else line
