"""CloudWatch: percentile statistics (p50, p90, p99, p99.9 ...) in GetMetricData.

AWS computes `pNN` from the values put with PutMetricData (Values/Counts); moto 5.2.5 returns
nothing for them and the response fails with HTTP 500.
"""

from __future__ import annotations

import math
import re

from moto.cloudwatch.models import Statistics

PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?)$")


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def install() -> None:
    original = Statistics.get_statistics_for_type

    def get_statistics_for_type(self, stat):
        match = PERCENTILE.match(stat or "")
        if match:
            return percentile(self.metric_single_values_list, float(match.group(1)))
        return original(self, stat)

    Statistics.get_statistics_for_type = get_statistics_for_type
