"""CloudWatch: percentile, percentile-rank and trimmed-count statistics in GetMetricData.

AWS computes `pNN` (p50, p99, p99.9 ...), `PR(a:b)` (the percent of values in a < v <= b) and
`TC(a:b)` (their count) from the values put with PutMetricData (Values/Counts); moto 5.2.5 returns
nothing for them and the response fails with HTTP 500. Bounds here are absolute values, either side
may be left open, as in `PR(:0.25)`; the percent forms of TC (`TC(10%:90%)`) are not emulated.
"""

from __future__ import annotations

import math
import re

from moto.cloudwatch.models import Statistics

PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?)$")
RANGE = re.compile(r"^(PR|TC)\((\d*\.?\d*):(\d*\.?\d*)\)$")


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def in_range(values: list[float], kind: str, low: str, high: str) -> float | None:
    """PR (percent) or TC (count) of the values with low < v <= high; an empty bound is open."""
    if not values:
        return None
    lo = float(low) if low else float("-inf")
    hi = float(high) if high else float("inf")
    inside = sum(1 for v in values if lo < v <= hi)
    return 100.0 * inside / len(values) if kind == "PR" else float(inside)


def install() -> None:
    original = Statistics.get_statistics_for_type

    def get_statistics_for_type(self, stat):
        match = PERCENTILE.match(stat or "")
        if match:
            return percentile(self.metric_single_values_list, float(match.group(1)))
        ranged = RANGE.match(stat or "")
        if ranged and (ranged.group(2) or ranged.group(3)):
            return in_range(self.metric_single_values_list, *ranged.groups())
        return original(self, stat)

    Statistics.get_statistics_for_type = get_statistics_for_type
