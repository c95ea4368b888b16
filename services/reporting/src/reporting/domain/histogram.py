"""Fixed log-spaced histogram buckets, the same for every measured value.

Bucket 0 holds [0, 1); bucket i >= 1 holds [G**(i-1), G**i) with G = 2**(1/4),
so a bucket is at most about 19 % wide and the percentile estimated from it is
off by less than that. Because the bounds never change, buckets stored per
hour add up over any range and group: percentiles come from stored rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

GROWTH = 2.0**0.25
LAST_BUCKET = 160  # G**159 is about 9.4e11: seconds over 29,000 years, or amounts


def bucket_of(value: float) -> int:
    """The bucket a value falls in; negative values count in bucket 0."""
    if value < 1.0:
        return 0
    return min(LAST_BUCKET, math.floor(math.log(value, GROWTH)) + 1)


def bounds(bucket: int) -> tuple[float, float]:
    """[lower, upper) of a bucket."""
    if bucket <= 0:
        return 0.0, 1.0
    return GROWTH ** (bucket - 1), GROWTH**bucket


def quantile(buckets: Mapping[int, int], q: float) -> float:
    """The q-quantile (0 <= q <= 1) estimated from bucket counts, interpolated
    linearly inside the bucket it falls in; 0 when there is nothing."""
    total = sum(buckets.values())
    if total <= 0:
        return 0.0
    rank = q * total
    seen = 0
    for bucket in sorted(buckets):
        count = buckets[bucket]
        if count <= 0:
            continue
        if seen + count >= rank:
            lower, upper = bounds(bucket)
            inside = (rank - seen) / count
            return lower + (upper - lower) * max(0.0, min(1.0, inside))
        seen += count
    return bounds(max(buckets))[1]


def merge(into: dict[int, int], more: Mapping[int, int]) -> None:
    for bucket, count in more.items():
        into[bucket] = into.get(bucket, 0) + count
