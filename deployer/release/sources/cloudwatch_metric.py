"""A CloudWatch metric of the service's own (`release.gates.metrics`), read for the canary and
the baseline over the same window with the dimensions filled in per color."""

from __future__ import annotations

from typing import TYPE_CHECKING

from deployer.release.metric_verdict import MetricCheck, Reading, aggregate, judge_metric

if TYPE_CHECKING:
    from deployer.release.ports import Target
    from deployer.release.sources import Readout, Window


class CloudWatchMetricSource:
    name = "cloudwatch"

    def __init__(self, check: MetricCheck):
        self.check = check

    def read(self, target: "Target", window: "Window", readout: "Readout") -> dict[str, float | None]:
        values = readout.metrics.get(self.check.name, {})  # read with the traffic, in the same call
        return {color: aggregate(self.check.statistic, list(values.get(color, ()))) for color in window.colors}

    def judge(self, numbers: dict[str, float | None], traffic, window: "Window", limits) -> list[Reading]:
        from deployer.release.gates import WindowStats

        canary_traffic = traffic.get(window.canary, WindowStats(0, 0, None))
        baseline_traffic = traffic.get(window.baseline) if window.baseline else None
        return [judge_metric(self.check, numbers.get(window.canary), numbers.get(window.baseline) if window.baseline else None,
                             canary_traffic, baseline_traffic, limits.min_requests, limits.confidence)]
