"""CloudWatch metric alarm evaluation, for the alarms an ECS deployment watches. Pure.

moto stores alarms and metric data but never evaluates an alarm: its state stays what it was
created with. ECS rolls a deployment back when one of its deployment alarms goes to ALARM
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-alarm-failure.html), so
the sandbox evaluates those alarms as CloudWatch documents it
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html): the
statistic per period over the last EvaluationPeriods periods, ALARM when at least
DatapointsToAlarm of them breach, missing data treated per TreatMissingData, and a percentile over
too few samples (fewer than 10/(1-p), e.g. 1000 for p99) left out when
EvaluateLowSampleCountPercentile is `ignore`, keeping the state. Periods are real seconds (never
scaled) aligned on the clock, the current one included though not over, so an error count that
crosses its threshold alarms within seconds rather than at the period's end.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterable

from deployer.sandbox.moto_ext.cloudwatch import percentile

COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d+)?)$")


@dataclass(frozen=True)
class AlarmSpec:
    name: str
    statistic: str  # Sum | Average | Minimum | Maximum | SampleCount, or an ExtendedStatistic pNN
    comparison: str
    threshold: float
    period: int
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None  # default: EvaluationPeriods
    treat_missing: str = "missing"  # missing | notBreaching | breaching | ignore
    low_sample: str = "evaluate"  # EvaluateLowSampleCountPercentile: evaluate | ignore


@dataclass(frozen=True)
class Verdict:
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str
    datapoints: tuple[tuple[float, float], ...]  # (period start, value) of the periods evaluated


def statistic(name: str, values: list[float]) -> float | None:
    if not values:
        return None
    match = PERCENTILE.match(name)
    if match:
        return percentile(values, float(match.group(1)))
    return {"Sum": sum, "Minimum": min, "Maximum": max, "SampleCount": len,
            "Average": lambda v: sum(v) / len(v)}[name](values)


def periods(spec: AlarmSpec, samples: Iterable[tuple[float, float]], now: float) -> list[tuple[float, list[float]]]:
    """The last EvaluationPeriods periods (oldest first, the current one last) with their values."""
    current = math.floor(now / spec.period) * spec.period
    starts = [current - k * spec.period for k in range(spec.evaluation_periods - 1, -1, -1)]
    buckets: dict[float, list[float]] = {s: [] for s in starts}
    for at, value in samples:
        start = math.floor(at / spec.period) * spec.period
        if start in buckets and at <= now:
            buckets[start].append(value)
    return [(s, buckets[s]) for s in starts]


def evaluate(spec: AlarmSpec, windows: list[tuple[float, list[float]]], state: str) -> Verdict:
    """The alarm's state after this evaluation; `state` is its state before (kept when nothing decides)."""
    compare, words = COMPARISONS[spec.comparison]
    needed = spec.datapoints_to_alarm or spec.evaluation_periods
    points: list[tuple[float, float | None]] = []
    ignored = 0
    for start, values in windows:
        if values and spec.low_sample == "ignore" and len(values) < _enough(spec.statistic):
            ignored += 1
            continue
        points.append((start, statistic(spec.statistic, values)))
    present = [(s, v) for s, v in points if v is not None]
    missing = len(points) - len(present)
    if not present and (ignored or spec.treat_missing == "ignore"):
        return Verdict(state, f"Unchanged: too few datapoints to evaluate {spec.name}.", ())
    if not present and spec.treat_missing == "missing":
        return Verdict("INSUFFICIENT_DATA", f"Insufficient Data: {missing} datapoint(s) were unknown.", ())
    breaching = sum(1 for _, v in present if compare(v, spec.threshold))
    if spec.treat_missing == "breaching":
        breaching += missing
    new = "ALARM" if breaching >= needed else "OK"
    shown = ", ".join(f"{v:g} ({_when(s)})" for s, v in reversed(present))
    counted = len(points) if spec.treat_missing in ("notBreaching", "breaching") else len(present)
    verb = "was" if new == "ALARM" else "was not"
    reason = (f"Threshold Crossed: {breaching} out of the last {counted} datapoints [{shown}] {verb} {words} the threshold "
              f"({spec.threshold:g}) (minimum {needed} datapoint{'s' if needed > 1 else ''} for {state} -> ALARM transition).")
    if missing and spec.treat_missing in ("notBreaching", "breaching"):
        treated = "NonBreaching" if spec.treat_missing == "notBreaching" else "Breaching"
        reason += f" {missing} missing datapoint{'s were' if missing > 1 else ' was'} treated as [{treated}]."
    return Verdict(new, reason, tuple((s, v) for s, v in present))


def _enough(name: str) -> float:
    """CloudWatch: a percentile p needs 10/(1-p) samples (p >= 0.5), else 10/p."""
    match = PERCENTILE.match(name)
    if not match:
        return 0
    q = float(match.group(1)) / 100
    return 10 / (1 - q) if q >= 0.5 else 10 / q


def _when(start: float) -> str:
    return datetime.fromtimestamp(start, timezone.utc).strftime("%d/%m/%y %H:%M:%S")
