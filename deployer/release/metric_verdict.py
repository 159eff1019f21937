"""Verdicts on a service's own CloudWatch metrics, and the generic rows every gate source reports.

A row (`Reading`) is what reports, the GitHub summary and records show for any source: source,
metric, canary, baseline, limit, verdict. Pure: numbers in, a row out.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from deployer.release.gates import Outcome, Reason, WindowStats

if TYPE_CHECKING:
    from deployer.release.gates import Verdict


class MetricReason:
    ABOVE_LIMIT = "metric_above_limit"
    BELOW_LIMIT = "metric_below_limit"
    WORSE_THAN_BASELINE = "metric_worse_than_baseline"
    NO_DATAPOINTS = "no_datapoints"


@dataclass(frozen=True)
class MetricCheck:
    """One `release.gates.metrics` entry, resolved into the plan (so `resume` judges by it)."""

    name: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    kind: str  # errors | latency | value
    direction: str = "lower"
    limit: float | None = None
    margin: float | None = None

    @classmethod
    def from_spec(cls, m) -> "MetricCheck":
        return cls(m.name, m.namespace, m.metric, tuple(sorted(m.dimensions.items())), m.statistic, m.kind, m.direction,
                   m.limit, m.margin)

    @classmethod
    def from_dict(cls, data: dict) -> "MetricCheck":
        return cls(**{**data, "dimensions": tuple(tuple(d) for d in data["dimensions"])})

    def dimensions_for(self, values: dict[str, str]) -> list[dict]:
        """CloudWatch dimensions with {color}, {target_group} and {service} filled in for one color."""
        def fill(text: str) -> str:
            return re.sub(r"\{(color|target_group|service)\}", lambda m: values[m.group(1)], text)

        return [{"Name": name, "Value": fill(value)} for name, value in self.dimensions]

    def describe(self) -> str:
        unit = {"errors": "%", "latency": " ms"}.get(self.kind, "")
        sign = "<=" if self.direction == "lower" else ">="
        parts = [f"{sign} {self.limit:g}{unit}"] if self.limit is not None else []
        if self.margin is not None:
            parts.append(f"within {self.margin:.0%} of the baseline")
        return f"{self.name} ({self.kind} {self.statistic}, {' and '.join(parts)})"


def aggregate(statistic: str, values: list[float]) -> float | None:
    """The window's value from its periods: counts add up, an average averages, a maximum or a
    percentile keeps the worst period (conservative, as the ALB p99 does)."""
    if not values:
        return None
    if statistic in ("Sum", "SampleCount"):
        return float(sum(values))
    if statistic == "Average":
        return float(statistics.fmean(values))
    if statistic == "Minimum":
        return float(min(values))
    return float(max(values))


@dataclass(frozen=True)
class Reading:
    """One row of a gate's table."""

    source: str  # alb | alarm | cloudwatch
    metric: str
    canary: float | str | None
    baseline: float | str | None
    limit: str
    outcome: str  # PASS | FAIL | INCONCLUSIVE, or "" when this row did not decide
    reason: str = ""
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def judge_metric(check: MetricCheck, canary: float | None, baseline: float | None, traffic: WindowStats,
                 baseline_traffic: WindowStats | None, min_requests: int, confidence: float) -> Reading:
    """PASS, FAIL or INCONCLUSIVE for one custom metric over one window."""
    if check.kind == "errors":
        return _judge_errors(check, canary, baseline, traffic, baseline_traffic, min_requests, confidence)
    shown = f"{check.limit:g}" if check.limit is not None else "-"

    def row(outcome: Outcome, reason: str, detail: str) -> Reading:
        return Reading("cloudwatch", check.name, _round(canary), _round(baseline), _limit_text(check), outcome.value, reason, detail)

    if canary is None:
        return row(Outcome.INCONCLUSIVE, MetricReason.NO_DATAPOINTS, f"{check.name}: no datapoints for the canary in this window")
    if traffic.requests < min_requests:
        return row(Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS, f"canary served {traffic.requests} of the {min_requests} requests needed")
    lower = check.direction == "lower"

    def worse(a: float, b: float) -> bool:
        return a > b if lower else a < b

    if check.limit is not None and worse(canary, check.limit):
        reason = MetricReason.ABOVE_LIMIT if lower else MetricReason.BELOW_LIMIT
        return row(Outcome.FAIL, reason, f"{check.name} {canary:g} {'>' if lower else '<'} limit {shown}")
    if check.margin is not None and baseline is not None:
        allowed = baseline * (1 + check.margin) if lower else baseline * (1 - check.margin)
        if worse(canary, allowed):
            return row(Outcome.FAIL, MetricReason.WORSE_THAN_BASELINE,
                       f"{check.name} {canary:g} vs baseline {baseline:g} (allowed {allowed:g})")
    return row(Outcome.PASS, Reason.HEALTHY, f"{check.name} {canary:g}")


def _judge_errors(check, canary, baseline, traffic, baseline_traffic, min_requests, confidence) -> Reading:
    """A count of failures, judged as a share of the color's requests with the 5xx gate's anytime-valid
    tests: above the limit (FAIL), more than `margin` worse than the baseline (FAIL), or shown below
    the limit (PASS); a metric with a margin only passes once it is not worse than the baseline."""
    from deployer.release.gates import said
    from deployer.release.sequential import rate_above, rate_above_baseline, rate_below

    alpha = 1 - confidence
    fail_at, pass_at = 2 / alpha, 1 / alpha  # two ways to fail, each at alpha / 2
    requests = traffic.requests
    errors = min(requests, int(round(canary or 0)))  # no datapoint: nothing failed (a counter publishes nothing)
    rate = 100 * errors / requests if requests else 0.0
    base_rate = None
    base = None
    if baseline_traffic is not None and baseline_traffic.requests:
        base = WindowStats(baseline_traffic.requests, min(baseline_traffic.requests, int(round(baseline or 0))), None)
        base_rate = 100 * base.errors / base.requests

    def row(outcome: Outcome, reason: str, detail: str) -> Reading:
        return Reading("cloudwatch", check.name, round(rate, 3), None if base_rate is None else round(base_rate, 3),
                       _limit_text(check), outcome.value, reason, detail)

    if check.limit is not None:
        above = rate_above(errors, requests, check.limit / 100)
        if above >= fail_at:
            return row(Outcome.FAIL, MetricReason.ABOVE_LIMIT,
                       f"{check.name} {errors}/{requests} requests = {rate:.1f}%: above the limit {check.limit:g}% "
                       f"(evidence {said(above)} >= {fail_at:.0f})")
    if check.margin is not None and base is not None:
        worse = rate_above_baseline(errors, requests, base.errors, base.requests, ratio=1 + check.margin)
        if worse >= fail_at:
            return row(Outcome.FAIL, MetricReason.WORSE_THAN_BASELINE,
                       f"{check.name} {rate:.2f}% vs baseline {base_rate:.2f}%: more than {check.margin:.0%} worse "
                       f"(evidence {said(worse)} >= {fail_at:.0f})")
    if requests < min_requests:
        return row(Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS, f"canary served {requests} of the {min_requests} requests needed")
    if check.limit is not None:
        below = rate_below(errors, requests, check.limit / 100)
        if below < pass_at:
            return row(Outcome.INCONCLUSIVE, Reason.TOO_FEW_REQUESTS,
                       f"{check.name} {rate:.1f}% not yet shown below the limit {check.limit:g}% "
                       f"(evidence {said(below)} of {pass_at:.0f}); waiting for more requests")
    return row(Outcome.PASS, Reason.HEALTHY, f"{check.name} {errors}/{requests} = {rate:.2f}%")


def _limit_text(check: MetricCheck) -> str:
    unit = {"errors": "%", "latency": " ms"}.get(check.kind, "")
    parts = [f"{'<=' if check.direction == 'lower' else '>='} {check.limit:g}{unit}"] if check.limit is not None else []
    if check.margin is not None:
        parts.append(f"baseline {'+' if check.direction == 'lower' else '-'}{check.margin:.0%}")
    return ", ".join(parts)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def combine(alb: "Verdict", readings: list[Reading]) -> "Verdict":
    """The step's verdict from every source's rows: any FAIL fails it (the ALB's first, then alarms
    and metrics in the spec's order); else any INCONCLUSIVE holds it; else it passes. The rows
    travel with it into the record."""
    from dataclasses import replace

    from deployer.release.gates import Verdict

    numbers = {**alb.numbers, "readings": [r.to_dict() for r in readings]}
    others = [r for r in readings if r.source != "alb"]
    alarmed = sorted(r.metric for r in others if r.source == "alarm" and r.outcome == Outcome.FAIL.value)
    if alarmed:
        numbers["alarms"] = alarmed
    if alb.outcome == Outcome.FAIL:
        return replace(alb, numbers=numbers)
    for wanted in (Outcome.FAIL, Outcome.INCONCLUSIVE):
        if wanted == Outcome.INCONCLUSIVE and alb.outcome == Outcome.INCONCLUSIVE:
            return replace(alb, numbers=numbers)
        row = next((r for r in others if r.outcome == wanted.value), None)
        if row is not None:
            detail = f"alarm in ALARM: {', '.join(alarmed)}" if row.source == "alarm" else row.detail
            return Verdict(wanted, row.reason, detail, alb.canary, alb.baseline, numbers)
    return replace(alb, numbers=numbers)
