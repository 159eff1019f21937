"""Where a gate's numbers come from: one module per source, one small protocol.

The target reads a window's CloudWatch numbers in one GetMetricData call (`Readout`: the ALB's
traffic and every custom metric of the gate); a source takes its part of that, or reads what is
not a metric (alarm states) through the Target, never boto3, and judges nothing itself: a pure function turns its numbers into rows (`Reading`), and
`combine` turns the rows into the step's verdict. The ALB target-group source is read first:
its request counts are every other source's sample size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from deployer.release.gates import WindowStats
    from deployer.release.metric_verdict import Reading
    from deployer.release.ports import Target
    from deployer.release.steps import GateLimits


@dataclass(frozen=True)
class Window:
    canary: str
    baseline: str | None
    start: float  # epoch seconds, on a period boundary
    end: float
    period: int
    reference_ms: float | None = None  # the baseline's p99 the latency thresholds come from
    latency_ms: tuple[float, float] | None = None  # (allowed, pass): count the requests slower than each

    @property
    def colors(self) -> list[str]:
        return [self.canary] + ([self.baseline] if self.baseline else [])


@dataclass(frozen=True)
class Readout:
    """One window as CloudWatch answered it in one call."""

    traffic: dict[str, "WindowStats"]  # color -> the ALB target group's numbers
    metrics: dict[str, dict[str, tuple[float, ...]]]  # metric gate name -> color -> the period values


class MetricSource(Protocol):
    name: str

    def read(self, target: "Target", window: Window, readout: Readout) -> Any: ...

    def judge(self, numbers: Any, traffic: dict[str, "WindowStats"], window: Window, limits: "GateLimits") -> list["Reading"]: ...


def extra_sources(limits: "GateLimits") -> list[MetricSource]:
    """The sources a gate reads besides the ALB's: named alarms, then the service's own metrics."""
    from deployer.release.sources.alarms import AlarmSource
    from deployer.release.sources.cloudwatch_metric import CloudWatchMetricSource

    found: list[MetricSource] = [AlarmSource(tuple(limits.alarms))] if limits.alarms else []
    return found + [CloudWatchMetricSource(check) for check in limits.metrics]
