"""Which stored rows a measure needs, from what the catalogue lets a query name.

A query reads one kind of row (``RowSpec.kind``): "all" when it names no
dimension, a dimension's own rows when it names one, "full" when it names
two or more (``tag`` rows and tagged "full" copies when tag is among them).
A query names only dimensions its metric allows, plus the metric's fixed
filter and, for a funnel, the stage. So a measure needs only the kinds some
metric reading it (as its measure or its denominator) can ask for, and its
"full" rows need only the dimensions such a metric can name: the others are
left blank there, which lets more observations share a row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reporting.domain.catalogue import METRICS, Aggregation, Dimension, Measure, Metric


@dataclass(frozen=True)
class RowKinds:
    """The rows an observation of one measure is added to."""

    all: bool  # the total row
    dimensions: frozenset[str]  # the dimensions with rows of their own
    full: bool  # the untagged full-combination row
    full_tagged: bool  # the full-combination copy per tag
    tag: bool  # the per-tag row with no other dimension

    def full_dims(self, dims: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        """The dimensions a full row keeps (those a query can name)."""
        return tuple(d for d in dims if d[0] in self.dimensions)


def _named(metric: Metric) -> tuple[frozenset[Dimension], bool]:
    """The dimensions a query of ``metric`` can name, and whether it can name none."""
    named = set(metric.dimensions)
    always = False
    if metric.fixed_filter is not None:
        named.add(metric.fixed_filter[0])
        always = True
    if metric.aggregation is Aggregation.FUNNEL:
        named.add(Dimension.STAGE)
        always = True
    return frozenset(named), not always


def _kinds(measure: Measure) -> RowKinds:
    readers = [m for m in METRICS if measure in (m.measure, m.denominator)]
    all_rows = False
    dimensions: set[str] = set()
    full = full_tagged = tag = False
    for metric in readers:
        named, may_name_none = _named(metric)
        others = named - {Dimension.TAG}
        all_rows = all_rows or may_name_none
        dimensions |= {d.value for d in others}
        full = full or len(others) >= 2
        if Dimension.TAG in named:
            tag = True
            full_tagged = full_tagged or bool(others)
    return RowKinds(all_rows, frozenset(dimensions), full, full_tagged, tag)


ROW_KINDS: dict[Measure, RowKinds] = {m: _kinds(m) for m in Measure}
